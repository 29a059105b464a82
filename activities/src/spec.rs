//! The spec: what planning decides and every later phase follows. Validation says whether a spec
//! can be made; an invalid spec is a permanent error of planning.

use serde::{Deserialize, Serialize};

use crate::{library::beats, library::mood::Mood};

pub const FPS: u32 = 30;
pub const RESOLUTION: &str = "1280x720";
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 720;
/// Every clip lasts this many seconds; a beat of d seconds gets d / CHUNK_SECONDS clips.
pub const CHUNK_SECONDS: u32 = 5;
/// The longest video, in seconds.
pub const MAX_DURATION: u32 = 60;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The archetype's id.
    pub template: String,
    /// Seconds, a multiple of 5 from 5 to 60.
    pub duration: u32,
    pub fps: u32,
    pub resolution: String,
    pub product: Product,
    pub style: Style,
    pub beats: Vec<SpecBeat>,
    pub reasoning: Reasoning,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Style {
    pub aesthetic: String,
    pub color_palette: Vec<String>,
    pub mood: Mood,
    pub lighting: String,
}

/// A beat of the library as the spec uses it: where it starts, how long it lasts, its prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecBeat {
    pub id: String,
    pub position: beats::Position,
    pub shot_type: beats::ShotType,
    pub action: String,
    pub camera_movement: beats::Camera,
    pub energy: beats::Energy,
    pub start: u32,
    pub duration: u32,
    pub prompt: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    pub archetype: String,
    pub beats: String,
}

/// Why a spec cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    #[error("the spec has no beat")]
    NoBeat,
    #[error("beat {index} is {id:?}, which the beat library does not have")]
    UnknownBeat { index: usize, id: String },
    #[error("beat {index} lasts {duration} s; a beat lasts 5, 10 or 15 s")]
    BeatDuration { index: usize, duration: u32 },
    #[error("beat {index} starts at {start} s; it should start at {expected} s")]
    BeatStart {
        index: usize,
        start: u32,
        expected: u32,
    },
    #[error("the beats last {beats} s in all but the video {duration} s")]
    Total { beats: u32, duration: u32 },
    #[error("the video lasts {0} s; it must be a multiple of 5 from 5 to 60")]
    Duration(u32),
    #[error("the palette has {0} colours; it needs 3 to 5")]
    Palette(usize),
    #[error("a colour is {0:?}, not #rrggbb")]
    Colour(String),
    #[error("fps {0} and resolution {1:?}; the pipeline makes 30 fps at 1280x720")]
    Format(u32, String),
    #[error("template {0:?} is not an archetype")]
    UnknownArchetype(String),
}

/// Whether a duration in seconds is one the pipeline makes.
pub fn valid_duration(duration: u32) -> bool {
    (CHUNK_SECONDS..=MAX_DURATION).contains(&duration) && duration % CHUNK_SECONDS == 0
}

impl Spec {
    /// Checks every rule a spec must keep.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !valid_duration(self.duration) {
            return Err(Invalid::Duration(self.duration));
        }
        if self.fps != FPS || self.resolution != RESOLUTION {
            return Err(Invalid::Format(self.fps, self.resolution.clone()));
        }
        if crate::library::archetypes::find(&self.template).is_none() {
            return Err(Invalid::UnknownArchetype(self.template.clone()));
        }
        let palette = &self.style.color_palette;
        if !(3..=5).contains(&palette.len()) {
            return Err(Invalid::Palette(palette.len()));
        }
        if let Some(bad) = palette.iter().find(|c| parse_colour(c).is_none()) {
            return Err(Invalid::Colour(bad.clone()));
        }
        if self.beats.is_empty() {
            return Err(Invalid::NoBeat);
        }
        let mut expected = 0;
        for (index, beat) in self.beats.iter().enumerate() {
            if beats::find(&beat.id).is_none() {
                return Err(Invalid::UnknownBeat {
                    index,
                    id: beat.id.clone(),
                });
            }
            if ![5, 10, 15].contains(&beat.duration) {
                return Err(Invalid::BeatDuration {
                    index,
                    duration: beat.duration,
                });
            }
            if beat.start != expected {
                return Err(Invalid::BeatStart {
                    index,
                    start: beat.start,
                    expected,
                });
            }
            expected += beat.duration;
        }
        if expected != self.duration {
            return Err(Invalid::Total {
                beats: expected,
                duration: self.duration,
            });
        }
        Ok(())
    }

    /// The number of 5 s clips the video is made of.
    pub fn chunk_count(&self) -> usize {
        (self.duration / CHUNK_SECONDS) as usize
    }
}

/// `#rrggbb` as RGB.
pub fn parse_colour(hex: &str) -> Option<[u8; 3]> {
    let digits = hex.strip_prefix('#').filter(|d| d.len() == 6)?;
    let value = u32::from_str_radix(digits, 16).ok()?;
    Some([(value >> 16) as u8, (value >> 8) as u8, value as u8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_from_hex() {
        assert_eq!(parse_colour("#ff8000"), Some([255, 128, 0]));
        assert_eq!(parse_colour("ff8000"), None);
        assert_eq!(parse_colour("#ff80"), None);
    }
}
