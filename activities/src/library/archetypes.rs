//! The five archetypes: beat templates with the durations they suit, the mood they carry and
//! the story they tell. An archetype's id is a durable name.

use crate::library::mood::Mood;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Archetype {
    pub id: &'static str,
    /// The durations (seconds) the archetype suits when the prompt does not force one.
    pub min_duration: u32,
    pub max_duration: u32,
    /// The template: beat ids with their lengths, in order.
    pub template: &'static [(&'static str, u32)],
    pub energy_curve: &'static str,
    pub narrative: &'static [&'static str],
    /// The mood the archetype is picked for.
    pub mood: Mood,
}

impl Archetype {
    pub fn suits_duration(&self, duration: u32) -> bool {
        (self.min_duration..=self.max_duration).contains(&duration)
    }

    pub fn template_duration(&self) -> u32 {
        self.template.iter().map(|(_, d)| d).sum()
    }
}

pub const ARCHETYPES: [Archetype; 5] = [
    Archetype {
        id: "luxury_showcase",
        min_duration: 15,
        max_duration: 30,
        template: &[
            ("hero_shot", 5),
            ("detail_showcase", 5),
            ("lifestyle_context", 10),
            ("call_to_action", 5),
        ],
        energy_curve: "steady",
        narrative: &["reveal", "appreciate", "aspire", "desire"],
        mood: Mood::Elegant,
    },
    Archetype {
        id: "energetic_lifestyle",
        min_duration: 10,
        max_duration: 20,
        template: &[
            ("dynamic_intro", 5),
            ("action_montage", 5),
            ("product_in_motion", 5),
            ("call_to_action", 5),
        ],
        energy_curve: "building",
        narrative: &["excite", "engage", "empower", "inspire"],
        mood: Mood::Energetic,
    },
    Archetype {
        id: "minimalist_reveal",
        min_duration: 10,
        max_duration: 20,
        template: &[
            ("hero_shot", 5),
            ("detail_showcase", 5),
            ("call_to_action", 5),
        ],
        energy_curve: "steady",
        narrative: &["reveal", "appreciate", "conclude"],
        mood: Mood::Minimalist,
    },
    Archetype {
        id: "emotional_storytelling",
        min_duration: 20,
        max_duration: 30,
        template: &[
            ("atmospheric_setup", 5),
            ("usage_scenario", 10),
            ("transformation_moment", 10),
            ("call_to_action", 5),
        ],
        energy_curve: "building",
        narrative: &["relate", "connect", "transform", "remember"],
        mood: Mood::Emotional,
    },
    Archetype {
        id: "feature_demo",
        min_duration: 15,
        max_duration: 30,
        template: &[
            ("hero_shot", 5),
            ("feature_highlight_sequence", 10),
            ("benefit_showcase", 5),
            ("call_to_action", 5),
        ],
        energy_curve: "steady",
        narrative: &["introduce", "demonstrate", "explain", "convince"],
        mood: Mood::Informative,
    },
];

pub fn find(id: &str) -> Option<&'static Archetype> {
    ARCHETYPES.iter().find(|a| a.id == id)
}

/// The archetype made for `mood`.
pub fn for_mood(mood: Mood) -> &'static Archetype {
    ARCHETYPES
        .iter()
        .find(|a| a.mood == mood)
        .expect("every mood has an archetype")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::beats;

    #[test]
    fn templates_use_library_beats_and_last_as_long_as_the_pipeline_says() {
        let lengths: Vec<u32> = ARCHETYPES.iter().map(|a| a.template_duration()).collect();
        assert_eq!(lengths, vec![25, 20, 15, 30, 25]);
        for archetype in &ARCHETYPES {
            for (id, _) in archetype.template {
                assert!(beats::find(id).is_some(), "{id}");
            }
        }
    }
}
