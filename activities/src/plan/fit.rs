//! Fitting an archetype's template to a duration: beats are dropped, shortened, added or
//! lengthened until their lengths (5, 10 or 15 s each) add up to it exactly. Creativity swaps
//! beats for other compatible ones before fitting; at 0.0 nothing is swapped.

use fastrand::Rng;

use crate::{
    library::archetypes::Archetype,
    library::beats::{self, Beat, Energy, Position},
    library::category::Category,
};

/// The most beats a plan holds: past it, beats are lengthened instead of added.
const MAX_BEATS: usize = 6;

pub fn fit(
    archetype: &Archetype,
    duration: u32,
    category: Category,
    creativity: f64,
    rng: &mut Rng,
) -> Vec<(&'static Beat, u32)> {
    let mut plan: Vec<(&'static Beat, u32)> = archetype
        .template
        .iter()
        .map(|(id, d)| (beats::find(id).expect("templates use library beats"), *d))
        .collect();
    if creativity > 0.0 {
        reinterpret(&mut plan, category, creativity, rng);
    }
    let energy = typical_energy(&plan);
    while total(&plan) > duration {
        shrink(&mut plan);
    }
    while total(&plan) < duration {
        let room = duration - total(&plan);
        grow(&mut plan, room, category, energy, creativity, rng);
    }
    plan
}

fn total(plan: &[(&Beat, u32)]) -> u32 {
    plan.iter().map(|(_, d)| d).sum()
}

fn typical_energy(plan: &[(&Beat, u32)]) -> Energy {
    let high = plan
        .iter()
        .filter(|(b, _)| b.energy == Energy::High)
        .count();
    let low = plan.iter().filter(|(b, _)| b.energy == Energy::Low).count();
    match (high, low) {
        (h, l) if h > l => Energy::High,
        (h, l) if l > h => Energy::Low,
        _ => Energy::Medium,
    }
}

/// Swaps beats for other beats of the same position that suit the product, each with a chance
/// that grows with creativity.
fn reinterpret(
    plan: &mut [(&'static Beat, u32)],
    category: Category,
    creativity: f64,
    rng: &mut Rng,
) {
    for i in 0..plan.len() {
        let position = plan[i].0.position;
        let chance = if position == Position::Middle {
            0.7
        } else {
            0.35
        } * creativity;
        if rng.f64() >= chance {
            continue;
        }
        let options: Vec<&'static Beat> = beats::LIBRARY
            .iter()
            .filter(|b| b.position == position && b.suits(category))
            .filter(|b| plan.iter().all(|(p, _)| p.id != b.id))
            .collect();
        if !options.is_empty() {
            let beat = options[rng.usize(..options.len())];
            plan[i] = (beat, beat.duration);
        }
    }
}

/// Takes 5 s off: from the longest middle beat, else by dropping the last middle beat, else from
/// the opening or closing beat.
fn shrink(plan: &mut Vec<(&'static Beat, u32)>) {
    let middles = || (0..plan.len()).filter(|&i| plan[i].0.position == Position::Middle);
    if let Some(i) = middles()
        .filter(|&i| plan[i].1 > 5)
        .max_by_key(|&i| (plan[i].1, i))
    {
        plan[i].1 -= 5;
    } else if let Some(i) = middles().next_back() {
        plan.remove(i);
    } else if let Some(i) = (0..plan.len()).rev().find(|&i| plan[i].1 > 5) {
        plan[i].1 -= 5;
    } else {
        plan.remove(0);
    }
}

/// Adds up to `room` seconds: a new middle beat while the plan is short of beats, else 5 s more
/// on the shortest beat that can take them.
fn grow(
    plan: &mut Vec<(&'static Beat, u32)>,
    room: u32,
    category: Category,
    energy: Energy,
    creativity: f64,
    rng: &mut Rng,
) {
    if plan.len() < MAX_BEATS {
        let fresh = |b: &&Beat| plan.iter().all(|(p, _)| p.id != b.id);
        let mut options: Vec<&'static Beat> = beats::LIBRARY
            .iter()
            .filter(|b| b.position == Position::Middle && b.suits(category))
            .filter(fresh)
            .collect();
        options.sort_by_key(|b| (b.energy as i32 - energy as i32).abs());
        if !options.is_empty() {
            let pick = if creativity > 0.0 && rng.f64() < creativity {
                rng.usize(..options.len())
            } else {
                0
            };
            let beat = options[pick];
            let length = beat.duration.min(room);
            let at = plan
                .iter()
                .rposition(|(b, _)| b.position != Position::Closing)
                .map_or(0, |i| i + 1);
            plan.insert(at, (beat, length));
            return;
        }
    }
    let shortest = (0..plan.len())
        .filter(|&i| plan[i].1 < 15)
        .min_by_key(|&i| (plan[i].0.position != Position::Middle, plan[i].1))
        .expect("a plan of at most 6 beats of 15 s covers 60 s");
    plan[shortest].1 += 5;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::archetypes::ARCHETYPES;

    #[test]
    fn every_archetype_fits_every_duration_at_every_creativity() {
        for archetype in &ARCHETYPES {
            for duration in (5..=60).step_by(5) {
                for creativity in [0.0, 0.3, 0.7, 1.0] {
                    for seed in 0..5 {
                        let mut rng = Rng::with_seed(seed);
                        let plan =
                            fit(archetype, duration, Category::General, creativity, &mut rng);
                        assert_eq!(total(&plan), duration, "{} {duration}", archetype.id);
                        assert!(plan.iter().all(|(_, d)| [5, 10, 15].contains(d)));
                        assert!(!plan.is_empty() && plan.len() <= MAX_BEATS);
                    }
                }
            }
        }
    }

    #[test]
    fn without_creativity_the_template_is_kept_when_it_already_fits() {
        let mut rng = Rng::with_seed(1);
        for archetype in &ARCHETYPES {
            let plan = fit(
                archetype,
                archetype.template_duration(),
                Category::General,
                0.0,
                &mut rng,
            );
            let ids: Vec<_> = plan.iter().map(|(b, d)| (b.id, *d)).collect();
            assert_eq!(ids, archetype.template.to_vec());
        }
    }
}
