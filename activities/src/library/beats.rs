//! The beat library: the 15 shots a spec is made of, with their framing, camera movement,
//! typical position, energy and compatible product categories. A beat's id is a durable name.

use serde::{Deserialize, Serialize};

use crate::library::category::Category::{self, *};

/// Where a beat usually stands in an ad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    Opening,
    Middle,
    Closing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Energy {
    Low,
    Medium,
    High,
}

/// How the shot is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShotType {
    ExtremeCloseUp,
    Macro,
    CloseUp,
    MediumCloseUp,
    Medium,
    MediumWide,
    Wide,
    WideCinematic,
    Tracking,
    Dynamic,
    DynamicMulti,
}

/// How the camera moves during the shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Camera {
    SlowDollyIn,
    PushIn,
    SlowPushIn,
    SlowPan,
    PanAcross,
    TrackingShot,
    CraneUp,
    CraneDown,
    SlowOrbit,
    HandheldFollow,
    WhipPan,
    FastCuts,
    Reveal,
    Static,
    StaticHold,
}

/// A shot of the library.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beat {
    pub id: &'static str,
    pub position: Position,
    /// The beat's usual length in seconds (5, 10 or 15); a plan may lengthen or shorten it.
    pub duration: u32,
    pub shot_type: ShotType,
    pub action: &'static str,
    pub camera: Camera,
    pub energy: Energy,
    pub categories: &'static [Category],
    /// The prompt with `{product_name}`, `{style_aesthetic}` and `{setting}` to fill in.
    pub template: &'static str,
}

impl Beat {
    pub fn suits(&self, category: Category) -> bool {
        self.categories.contains(&category)
    }
}

const ALL: &[Category] = &Category::ALL;

/// The library, in the order of PIPELINE's table.
pub const LIBRARY: [Beat; 15] = [
    Beat {
        id: "hero_shot",
        position: Position::Opening,
        duration: 5,
        shot_type: ShotType::CloseUp,
        action: "product_reveal",
        camera: Camera::SlowDollyIn,
        energy: Energy::Medium,
        categories: ALL,
        template: "The camera glides toward {product_name}, revealed centre frame in {style_aesthetic} style, {setting}.",
    },
    Beat {
        id: "ambient_lifestyle",
        position: Position::Opening,
        duration: 5,
        shot_type: ShotType::Wide,
        action: "establish_environment",
        camera: Camera::SlowPan,
        energy: Energy::Low,
        categories: &[Fashion, Luxury, Automotive, Home, Food, General],
        template: "A wide, unhurried look across {setting}, where {product_name} belongs; {style_aesthetic} mood.",
    },
    Beat {
        id: "teaser_reveal",
        position: Position::Opening,
        duration: 5,
        shot_type: ShotType::ExtremeCloseUp,
        action: "mysterious_preview",
        camera: Camera::PushIn,
        energy: Energy::Low,
        categories: &[Tech, Luxury, Beauty, Automotive],
        template: "An extreme close-up hints at {product_name} in shadow, a slow push in, {style_aesthetic}, {setting}.",
    },
    Beat {
        id: "dynamic_intro",
        position: Position::Opening,
        duration: 5,
        shot_type: ShotType::Dynamic,
        action: "energetic_opening",
        camera: Camera::WhipPan,
        energy: Energy::High,
        categories: &[Sports, Fashion, Tech, Automotive],
        template: "A whip pan lands on {product_name} with a burst of energy, {style_aesthetic}, {setting}.",
    },
    Beat {
        id: "atmospheric_setup",
        position: Position::Opening,
        duration: 5,
        shot_type: ShotType::Wide,
        action: "mood_establishment",
        camera: Camera::CraneDown,
        energy: Energy::Low,
        categories: &[Automotive, Home, Luxury, Food, General],
        template: "The camera cranes down into {setting} as the light settles, {style_aesthetic}, {product_name} waiting below.",
    },
    Beat {
        id: "detail_showcase",
        position: Position::Middle,
        duration: 5,
        shot_type: ShotType::Macro,
        action: "feature_highlight",
        camera: Camera::PanAcross,
        energy: Energy::Low,
        categories: ALL,
        template: "A macro pan across the materials and finish of {product_name}, {style_aesthetic}, {setting}.",
    },
    Beat {
        id: "product_in_motion",
        position: Position::Middle,
        duration: 5,
        shot_type: ShotType::Tracking,
        action: "dynamic_product",
        camera: Camera::TrackingShot,
        energy: Energy::High,
        categories: &[Sports, Automotive, Fashion, Tech],
        template: "A tracking shot keeps pace with {product_name} in motion through {setting}, {style_aesthetic}.",
    },
    Beat {
        id: "usage_scenario",
        position: Position::Middle,
        duration: 10,
        shot_type: ShotType::Medium,
        action: "person_using_product",
        camera: Camera::HandheldFollow,
        energy: Energy::Medium,
        categories: ALL,
        template: "Handheld, we follow someone using {product_name} naturally in {setting}, {style_aesthetic}.",
    },
    Beat {
        id: "lifestyle_context",
        position: Position::Middle,
        duration: 10,
        shot_type: ShotType::Medium,
        action: "aspirational_lifestyle",
        camera: Camera::SlowOrbit,
        energy: Energy::Medium,
        categories: ALL,
        template: "A slow orbit around an aspirational moment with {product_name} in {setting}, {style_aesthetic}.",
    },
    Beat {
        id: "feature_highlight_sequence",
        position: Position::Middle,
        duration: 10,
        shot_type: ShotType::MediumCloseUp,
        action: "multiple_features",
        camera: Camera::SlowPushIn,
        energy: Energy::Medium,
        categories: &[Tech, Home, Automotive, Beauty, General],
        template: "One feature of {product_name} after another, framed medium close, a slow push in, {style_aesthetic}, {setting}.",
    },
    Beat {
        id: "action_montage",
        position: Position::Middle,
        duration: 5,
        shot_type: ShotType::DynamicMulti,
        action: "fast_energy",
        camera: Camera::FastCuts,
        energy: Energy::High,
        categories: &[Sports, Fashion, Automotive],
        template: "Fast cuts of {product_name} in action across {setting}, {style_aesthetic}, pure momentum.",
    },
    Beat {
        id: "benefit_showcase",
        position: Position::Middle,
        duration: 5,
        shot_type: ShotType::Medium,
        action: "demonstrate_benefit",
        camera: Camera::Static,
        energy: Energy::Medium,
        categories: &[Tech, Home, Beauty, Food, General],
        template: "A steady medium shot shows what {product_name} does for you, {style_aesthetic}, {setting}.",
    },
    Beat {
        id: "transformation_moment",
        position: Position::Middle,
        duration: 10,
        shot_type: ShotType::MediumWide,
        action: "before_after",
        camera: Camera::Reveal,
        energy: Energy::Medium,
        categories: &[Beauty, Home, Tech, Sports, Automotive, General],
        template: "Before, then after: the camera pulls back to reveal the change {product_name} brings to {setting}, {style_aesthetic}.",
    },
    Beat {
        id: "call_to_action",
        position: Position::Closing,
        duration: 5,
        shot_type: ShotType::CloseUp,
        action: "final_impression",
        camera: Camera::StaticHold,
        energy: Energy::Medium,
        categories: ALL,
        template: "{product_name} holds the frame, name and promise clear, {style_aesthetic}, {setting}.",
    },
    Beat {
        id: "brand_moment",
        position: Position::Closing,
        duration: 10,
        shot_type: ShotType::WideCinematic,
        action: "brand_story",
        camera: Camera::CraneUp,
        energy: Energy::Medium,
        categories: ALL,
        template: "A cinematic crane up over {setting} leaves {product_name} and its story in view, {style_aesthetic}.",
    },
];

/// The beat with this id, if the library has it.
pub fn find(id: &str) -> Option<&'static Beat> {
    LIBRARY.iter().find(|b| b.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_has_fifteen_distinct_beats_of_five_ten_or_fifteen_seconds() {
        let mut ids: Vec<_> = LIBRARY.iter().map(|b| b.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 15);
        assert!(LIBRARY.iter().all(|b| [5, 10, 15].contains(&b.duration)));
        assert!(LIBRARY
            .iter()
            .all(|b| b.template.contains("{product_name}")));
    }
}
