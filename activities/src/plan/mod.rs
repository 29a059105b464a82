//! Planning: a prompt and a creativity level become a [`Spec`]. The embedded planner works
//! offline and is deterministic for (prompt, creativity, seed); an OpenAI-compatible planner can
//! be configured instead.

mod copy;
mod fit;
mod prompt;

use std::hash::Hasher;

use fastrand::Rng;
use serde::{Deserialize, Serialize};

pub use prompt::{read, Reading};

use crate::{
    library::archetypes::{self, Archetype},
    library::mood::Mood,
    production::Assets,
    review::Gate,
    spec::{AspectRatio, Product, Reasoning, Spec, SpecBeat, Style, FPS},
};

/// What a client asks for: the run input of the video workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub prompt: String,
    /// 0.0 follows the archetype's template; 1.0 reinterprets freely.
    #[serde(default = "default_creativity")]
    pub creativity: f64,
    /// Seconds; wins over a length named in the prompt.
    #[serde(default)]
    pub duration: Option<u32>,
    /// An archetype id; wins over the one the prompt suggests.
    #[serde(default)]
    pub archetype: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// The most the video may cost, in USD.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// The shape of the frame; 16:9 when unset.
    #[serde(default)]
    pub aspect_ratio: AspectRatio,
    /// Whether the voice-over is spoken, and shown as captions; both on when unset.
    #[serde(default = "on")]
    pub voiceover: bool,
    #[serde(default = "on")]
    pub captions: bool,
    /// The client's images, as keys in the media store.
    #[serde(default)]
    pub assets: Assets,
    /// The phases after which the video waits for its client's approval.
    #[serde(default)]
    pub review: Vec<Gate>,
    /// The product's name, when the client gives it apart from the prompt.
    #[serde(default)]
    pub title: Option<String>,
}

fn on() -> bool {
    true
}

fn default_creativity() -> f64 {
    0.5
}

impl Request {
    pub fn new(prompt: &str) -> Self {
        Self {
            prompt: prompt.to_owned(),
            creativity: default_creativity(),
            duration: None,
            archetype: None,
            seed: None,
            max_cost_usd: None,
            aspect_ratio: AspectRatio::default(),
            voiceover: true,
            captions: true,
            assets: Assets::default(),
            review: Vec::new(),
            title: None,
        }
    }
}

/// The default length when neither the request nor the prompt names one.
pub const DEFAULT_DURATION: u32 = 30;

/// The embedded planner: reads the prompt, picks the archetype, fits its template to the length,
/// dresses the beats in a style and writes the ad's words.
pub fn embedded(request: &Request) -> Spec {
    let mut reading = read(&request.prompt);
    if let Some(title) = &request.title {
        reading.named(title);
    }
    let creativity = request.creativity.clamp(0.0, 1.0);
    let mut rng = Rng::with_seed(seed(request));
    let duration = request
        .duration
        .or(reading.duration)
        .unwrap_or(DEFAULT_DURATION);
    let forced = request.archetype.as_deref().and_then(archetypes::find);
    let archetype = forced.unwrap_or_else(|| pick(reading.mood, duration, creativity, &mut rng));
    let beats = fit::fit(archetype, duration, reading.category, creativity, &mut rng);

    let mood = reading.mood;
    let palettes = mood.palettes();
    let palette = if rng.f64() < creativity {
        palettes[rng.usize(..palettes.len())]
    } else {
        palettes[0]
    };
    let aesthetic = mood.aesthetic().to_owned();
    let (words, copy) = copy::Writer::new(&reading, mood, creativity, &mut rng).write(&beats);
    let mut start = 0;
    let spec_beats = beats
        .iter()
        .zip(words)
        .map(|((beat, length), words)| {
            let prompt = beat
                .template
                .replace("{product_name}", &reading.product)
                .replace("{style_aesthetic}", &aesthetic)
                .replace("{setting}", reading.category.setting());
            let spec_beat = SpecBeat {
                prompt,
                headline: words.headline,
                voiceover: words.voiceover,
                ..SpecBeat::of(beat, start, *length)
            };
            start += length;
            spec_beat
        })
        .collect::<Vec<_>>();
    let reasoning = Reasoning {
        archetype: archetype_reason(archetype, &reading, duration, forced.is_some()),
        beats: format!(
            "{} beats ({}) fitted to {duration} s; creativity {creativity:.1} {}",
            spec_beats.len(),
            archetype.narrative.join(", "),
            if creativity == 0.0 {
                "keeps the template"
            } else {
                "lets compatible beats replace the template's"
            }
        ),
    };
    Spec {
        template: archetype.id.to_owned(),
        duration,
        fps: FPS,
        aspect_ratio: request.aspect_ratio,
        resolution: request.aspect_ratio.resolution(),
        product: Product {
            name: reading.product.clone(),
            category: serde_json::to_value(reading.category)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            noun: reading.noun.clone(),
        },
        style: Style {
            aesthetic,
            color_palette: palette.iter().map(|c| (*c).to_owned()).collect(),
            mood,
            lighting: mood.lighting().to_owned(),
        },
        beats: spec_beats,
        copy,
        voiceover: request.voiceover,
        captions: request.captions,
        reasoning,
    }
}

/// The archetype for the mood when it suits the length, else the nearest one that does; with
/// creativity, sometimes another archetype that suits the length.
fn pick(mood: Mood, duration: u32, creativity: f64, rng: &mut Rng) -> &'static Archetype {
    let own = archetypes::for_mood(mood);
    let suiting: Vec<&'static Archetype> = archetypes::ARCHETYPES
        .iter()
        .filter(|a| a.suits_duration(duration))
        .collect();
    if creativity > 0.5 && rng.f64() < creativity - 0.5 {
        let others: Vec<_> = suiting.iter().filter(|a| a.id != own.id).collect();
        if !others.is_empty() {
            return others[rng.usize(..others.len())];
        }
    }
    if own.suits_duration(duration) {
        return own;
    }
    nearest(mood)
        .iter()
        .filter_map(|id| archetypes::find(id))
        .find(|a| a.suits_duration(duration))
        .unwrap_or(own)
}

/// The archetypes closest in feel to a mood's own, nearest first.
fn nearest(mood: Mood) -> [&'static str; 4] {
    match mood {
        Mood::Energetic => [
            "emotional_storytelling",
            "feature_demo",
            "luxury_showcase",
            "minimalist_reveal",
        ],
        Mood::Elegant => [
            "minimalist_reveal",
            "emotional_storytelling",
            "feature_demo",
            "energetic_lifestyle",
        ],
        Mood::Minimalist => [
            "luxury_showcase",
            "feature_demo",
            "emotional_storytelling",
            "energetic_lifestyle",
        ],
        Mood::Emotional => [
            "luxury_showcase",
            "feature_demo",
            "energetic_lifestyle",
            "minimalist_reveal",
        ],
        Mood::Informative => [
            "luxury_showcase",
            "minimalist_reveal",
            "emotional_storytelling",
            "energetic_lifestyle",
        ],
    }
}

fn archetype_reason(
    archetype: &Archetype,
    reading: &Reading,
    duration: u32,
    forced: bool,
) -> String {
    let mood = serde_json::to_value(reading.mood).unwrap_or_default();
    let mood = mood.as_str().unwrap_or("");
    if forced {
        return format!("{} was requested; fitted to {duration} s", archetype.id);
    }
    format!(
        "the prompt reads as {mood} for {} ({}); {} tells it as {} in {duration} s",
        reading.product,
        reading.category.setting(),
        archetype.id,
        archetype.narrative.join(" - "),
    )
}

/// A stable seed from the prompt, the creativity and the request's seed.
fn seed(request: &Request) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(request.prompt.as_bytes());
    hasher.write_u64(request.creativity.clamp(0.0, 1.0).to_bits());
    hasher.write_u64(request.seed.unwrap_or(0));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Invalid;

    fn plan(prompt: &str) -> Spec {
        embedded(&Request::new(prompt))
    }

    /// A planned spec, for the validation tests to break.
    fn valid() -> Spec {
        plan("20s iPhone minimalist clean modern")
    }

    fn rejects(change: impl FnOnce(&mut Spec), expected: fn(&Invalid) -> bool) {
        let mut spec = valid();
        change(&mut spec);
        let error = spec.validate().expect_err("an invalid spec");
        assert!(expected(&error), "unexpected error: {error}");
    }

    #[test]
    fn a_planned_spec_is_valid() {
        assert_eq!(valid().validate(), Ok(()));
    }

    #[test]
    fn validation_rejects_each_kind_of_bad_spec() {
        rejects(|s| s.beats.clear(), |e| matches!(e, Invalid::NoBeat));
        rejects(
            |s| s.beats[1].id = "moonwalk".into(),
            |e| matches!(e, Invalid::UnknownBeat { .. }),
        );
        rejects(
            |s| s.beats[0].duration = 7,
            |e| matches!(e, Invalid::BeatDuration { .. }),
        );
        rejects(
            |s| s.beats[1].start += 5,
            |e| matches!(e, Invalid::BeatStart { .. }),
        );
        rejects(|s| s.duration = 25, |e| matches!(e, Invalid::Total { .. }));
        rejects(|s| s.duration = 65, |e| matches!(e, Invalid::Duration(65)));
        rejects(|s| s.duration = 12, |e| matches!(e, Invalid::Duration(12)));
        rejects(
            |s| s.style.color_palette.truncate(2),
            |e| matches!(e, Invalid::Palette(2)),
        );
        rejects(
            |s| s.style.color_palette[0] = "red".into(),
            |e| matches!(e, Invalid::Colour(_)),
        );
        rejects(|s| s.fps = 24, |e| matches!(e, Invalid::Format(..)));
        rejects(
            |s| s.template = "noir".into(),
            |e| matches!(e, Invalid::UnknownArchetype(_)),
        );
    }

    #[test]
    fn the_five_pipeline_cases_plan_as_expected() {
        let cases = [
            (
                "15s Nike sneakers energetic urban",
                "energetic_lifestyle",
                15,
                3..=3,
            ),
            (
                "30s luxury watch elegant sophisticated",
                "luxury_showcase",
                30,
                4..=6,
            ),
            (
                "20s iPhone minimalist clean modern",
                "minimalist_reveal",
                20,
                4..=4,
            ),
            (
                "Create an ad for family car with emotional story",
                "emotional_storytelling",
                30,
                3..=4,
            ),
            (
                "Smart thermostat features demo 25 seconds",
                "feature_demo",
                25,
                4..=5,
            ),
        ];
        for (prompt, archetype, duration, beats) in cases {
            for creativity in [0.0, 0.5] {
                let spec = embedded(&Request {
                    creativity,
                    ..Request::new(prompt)
                });
                assert_eq!(spec.validate(), Ok(()), "{prompt}");
                assert_eq!(spec.template, archetype, "{prompt} at {creativity}");
                assert_eq!(spec.duration, duration, "{prompt}");
                assert!(
                    beats.contains(&spec.beats.len()),
                    "{prompt}: {} beats",
                    spec.beats.len()
                );
            }
        }
    }

    #[test]
    fn the_same_prompt_creativity_and_seed_give_the_same_plan() {
        let request = Request {
            creativity: 0.8,
            seed: Some(7),
            ..Request::new("30s luxury watch elegant")
        };
        assert_eq!(embedded(&request), embedded(&request));
    }

    #[test]
    fn creativity_zero_follows_the_template_and_one_reinterprets_it_validly() {
        let calm = embedded(&Request {
            creativity: 0.0,
            ..Request::new("25s smart thermostat features demo")
        });
        let ids: Vec<_> = calm.beats.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "hero_shot",
                "feature_highlight_sequence",
                "benefit_showcase",
                "call_to_action"
            ]
        );
        let mut differs = false;
        for seed in 0..20 {
            let free = embedded(&Request {
                creativity: 1.0,
                seed: Some(seed),
                ..Request::new("25s smart thermostat features demo")
            });
            assert_eq!(free.validate(), Ok(()));
            differs |= free.beats != calm.beats;
        }
        assert!(differs, "creativity 1.0 changed no plan in 20 seeds");
    }

    #[test]
    fn request_fields_win_over_the_prompt() {
        let spec = embedded(&Request {
            duration: Some(10),
            archetype: Some("luxury_showcase".into()),
            ..Request::new("30s energetic sneakers")
        });
        assert_eq!(
            (spec.template.as_str(), spec.duration),
            ("luxury_showcase", 10)
        );
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn the_ad_has_words_that_read_the_product_right_and_fit_each_beat() {
        let spec = embedded(&Request {
            creativity: 0.0,
            ..Request::new(
                "30 second ad for Ember, a smart mug that keeps coffee hot for hours. ember.com",
            )
        });
        assert_eq!(spec.validate(), Ok(()));
        assert_eq!(spec.product.name, "Ember");
        assert_eq!(spec.product.noun, "smart mug");
        let headlines: Vec<&str> = spec.beats.iter().map(|b| b.headline.as_str()).collect();
        assert_eq!(headlines[0], "Meet Ember.");
        assert!(
            headlines.contains(&"Keeps coffee hot for hours."),
            "{headlines:?}"
        );
        assert_eq!(spec.beats[0].voiceover, "Meet Ember, the smart mug.");
        assert_eq!(spec.copy.call_to_action, "Get yours at ember.com");
        assert_eq!(spec.copy.contact, "ember.com");
        let last = spec.beats.last().unwrap();
        assert!(
            last.voiceover.ends_with("ember dot com."),
            "{}",
            last.voiceover
        );
        for beat in &spec.beats {
            assert!(
                !beat.headline.is_empty() && !beat.voiceover.is_empty(),
                "{beat:?}"
            );
        }
    }

    #[test]
    fn every_plan_of_every_archetype_length_and_seed_has_words_that_fit() {
        let prompts = [
            "15s Nike sneakers energetic urban",
            "Ember, a smart mug that keeps coffee hot for hours and charges on a coaster that lasts all day long",
            "a video",
        ];
        for prompt in prompts {
            for archetype in crate::library::archetypes::ARCHETYPES {
                for duration in (5..=60).step_by(5) {
                    for seed in 0..3 {
                        let spec = embedded(&Request {
                            creativity: 1.0,
                            seed: Some(seed),
                            duration: Some(duration),
                            archetype: Some(archetype.id.to_owned()),
                            ..Request::new(prompt)
                        });
                        assert_eq!(spec.validate(), Ok(()), "{prompt} {duration}");
                        assert!(spec.beats.iter().all(|b| !b.headline.is_empty()));
                        assert!(!spec.copy.tagline.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn creativity_and_seed_vary_the_words() {
        let words = |seed| {
            let spec = embedded(&Request {
                creativity: 1.0,
                seed: Some(seed),
                archetype: Some("luxury_showcase".into()),
                ..Request::new("30s ad for Ember, a smart mug")
            });
            (
                spec.beats
                    .iter()
                    .map(|b| b.headline.clone())
                    .collect::<Vec<_>>(),
                spec.copy,
            )
        };
        let first = words(0);
        assert!((1..20).any(|seed| words(seed) != first));
    }

    #[test]
    fn the_aspect_ratio_sets_the_resolution() {
        let spec = embedded(&Request {
            aspect_ratio: AspectRatio::Portrait,
            ..Request::new("15s Nike sneakers")
        });
        assert_eq!(spec.resolution, "720x1280");
        assert_eq!(spec.size(), (720, 1280));
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn the_default_length_is_thirty_seconds() {
        assert_eq!(plan("an ad for our coffee").duration, 30);
    }
}
