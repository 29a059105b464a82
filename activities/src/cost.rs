//! Cost: each phase's price from a table (the embedded providers cost nothing), and the budget a
//! run may not exceed.

use serde::{Deserialize, Serialize};

use crate::{
    phase::Phase,
    plan::Request,
    production::Production,
    spec::{Spec, CHUNK_SECONDS},
};

/// Unit prices in USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    pub per_plan: f64,
    pub per_image: f64,
    pub per_chunk: f64,
    pub per_track: f64,
}

impl Prices {
    /// The embedded providers: free.
    pub const EMBEDDED: Prices = Prices {
        per_plan: 0.0,
        per_image: 0.0,
        per_chunk: 0.0,
        per_track: 0.0,
    };

    /// The reference cloud models: an LLM plan, SDXL images, Hailuo 2.3 Fast clips, MusicGen.
    pub const REFERENCE_CLOUD: Prices = Prices {
        per_plan: 0.02,
        per_image: 0.0055,
        per_chunk: 0.04,
        per_track: 0.15,
    };

    /// What `phase` costs for `spec` (planning costs one plan whatever the spec).
    pub fn phase(&self, phase: Phase, spec: Option<&Spec>) -> f64 {
        let beats = spec.map_or(0, |s| s.beats.len()) as f64;
        let chunks = spec.map_or(0, Spec::chunk_count) as f64;
        match phase {
            Phase::Planning => self.per_plan,
            Phase::Storyboarding => self.per_image * beats,
            Phase::GeneratingChunks => self.per_chunk * chunks,
            Phase::Stitching => 0.0,
            Phase::AddingMusic => self.per_track,
        }
    }

    /// What `phase` costs `production`, whose kept parts are not paid again.
    pub fn phase_for(&self, phase: Phase, production: &Production) -> f64 {
        let beats = production.spec.beats.iter().enumerate();
        match phase {
            Phase::Storyboarding => {
                let made = beats.filter(|(i, _)| production.kept_still(*i).is_none());
                self.per_image * made.count() as f64
            }
            Phase::GeneratingChunks => {
                let made = beats.filter(|(i, _)| production.kept_beat(*i).is_none());
                let clips: u32 = made.map(|(_, beat)| beat.duration / CHUNK_SECONDS).sum();
                self.per_chunk * f64::from(clips)
            }
            Phase::AddingMusic if production.kept.music.is_some() => 0.0,
            _ => self.phase(phase, Some(&production.spec)),
        }
    }

    /// What a video of `duration` seconds costs at most: a clip and a still per 5 s.
    pub fn upper_bound(&self, duration: u32) -> f64 {
        let clips = f64::from(duration) / CHUNK_SECONDS as f64;
        self.per_plan + (self.per_image + self.per_chunk) * clips + self.per_track
    }

    /// What admission reserves for `request`: its upper bound (for 60 s when its duration is
    /// left to the planner), no more than its budget.
    pub fn reservation(&self, request: &Request) -> f64 {
        let duration = request.duration.unwrap_or(crate::spec::MAX_DURATION);
        let budget = request
            .max_cost_usd
            .unwrap_or_else(|| default_budget(duration));
        self.upper_bound(duration).min(budget)
    }

    /// What the whole video costs.
    pub fn total(&self, spec: &Spec) -> f64 {
        Phase::ALL.iter().map(|p| self.phase(*p, Some(spec))).sum()
    }
}

/// The default budget: $0.50 for a video of up to 30 s, and as much again per 30 s beyond.
pub fn default_budget(duration: u32) -> f64 {
    0.50 * (duration as f64 / 30.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;

    fn spec_with(prompt: &str, beats: usize) -> Spec {
        let mut spec = plan::embedded(&Request::new(prompt));
        spec.beats.truncate(beats);
        spec
    }

    #[test]
    fn reference_cloud_prices_give_the_planned_costs() {
        let short = spec_with("15s Nike sneakers energetic urban", 3);
        let mut long = spec_with("30s luxury watch elegant", 6);
        while long.beats.len() < 6 {
            long.beats.push(long.beats[0].clone());
        }
        assert!((Prices::REFERENCE_CLOUD.total(&short) - 0.3065).abs() < 1e-9);
        assert!((Prices::REFERENCE_CLOUD.total(&long) - 0.443).abs() < 1e-9);
        assert_eq!(Prices::EMBEDDED.total(&long), 0.0);
    }

    #[test]
    fn admission_reserves_the_upper_bound_within_the_budget() {
        let prices = Prices::REFERENCE_CLOUD;
        let mut request = Request::new("a 15 s ad for sneakers");
        request.duration = Some(15);
        assert!((prices.reservation(&request) - 0.3065).abs() < 1e-9);
        request.duration = None;
        assert!((prices.reservation(&request) - 0.716).abs() < 1e-9);
        request.max_cost_usd = Some(0.25);
        assert_eq!(prices.reservation(&request), 0.25);
        assert_eq!(Prices::EMBEDDED.reservation(&request), 0.0);
    }

    #[test]
    fn the_default_budget_is_fifty_cents_per_thirty_seconds() {
        assert_eq!(default_budget(15), 0.50);
        assert_eq!(default_budget(30), 0.50);
        assert_eq!(default_budget(60), 1.00);
    }
}
