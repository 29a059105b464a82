//! The spec: what planning decides and every later phase follows, the words of the ad included.
//! Validation says whether a spec can be made; an invalid spec is a permanent error of planning.
//! Specs journaled before a field existed still read: such fields have defaults.

use serde::{Deserialize, Serialize};

use crate::{library::beats, library::mood::Mood};

pub const FPS: u32 = 30;
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
    /// The shape of the frame; specs planned before it was a choice are 16:9.
    #[serde(default)]
    pub aspect_ratio: AspectRatio,
    /// `WIDTHxHEIGHT`, as the aspect ratio says.
    pub resolution: String,
    pub product: Product,
    pub style: Style,
    pub beats: Vec<SpecBeat>,
    /// The words the ad closes on; empty in specs planned before the ad had words.
    #[serde(default)]
    pub copy: AdCopy,
    /// Whether the beats' voice-over lines are spoken, and shown as captions; off in specs
    /// planned before there was a voice.
    #[serde(default)]
    pub voiceover: bool,
    #[serde(default)]
    pub captions: bool,
    pub reasoning: Reasoning,
}

/// The shape of the frame, and the size each shape is made at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum AspectRatio {
    /// 1280x720, for players and feeds.
    #[default]
    #[serde(rename = "16:9")]
    Landscape,
    /// 720x1280, for stories and reels.
    #[serde(rename = "9:16")]
    Portrait,
    /// 1080x1080, for square feeds.
    #[serde(rename = "1:1")]
    Square,
}

impl AspectRatio {
    pub const ALL: [AspectRatio; 3] = [
        AspectRatio::Landscape,
        AspectRatio::Portrait,
        AspectRatio::Square,
    ];

    /// Width and height in pixels.
    pub fn size(self) -> (u32, u32) {
        match self {
            AspectRatio::Landscape => (1280, 720),
            AspectRatio::Portrait => (720, 1280),
            AspectRatio::Square => (1080, 1080),
        }
    }

    /// The size as `WIDTHxHEIGHT`.
    pub fn resolution(self) -> String {
        let (width, height) = self.size();
        format!("{width}x{height}")
    }

    /// The ratio as clients write it (`16:9`).
    pub fn name(self) -> &'static str {
        match self {
            AspectRatio::Landscape => "16:9",
            AspectRatio::Portrait => "9:16",
            AspectRatio::Square => "1:1",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|ratio| ratio.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// What the ad calls the product: its brand name when the prompt gives one ("Ember").
    pub name: String,
    pub category: String,
    /// What the product is, as a noun phrase ("smart mug"); empty when the name says it.
    #[serde(default)]
    pub noun: String,
}

/// The words the ad closes on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdCopy {
    /// One line that sums up the product ("Coffee, hot for hours").
    pub tagline: String,
    /// What the viewer should do ("Get yours at ember.com").
    pub call_to_action: String,
    /// The web address or handle the prompt gives, if any ("ember.com", "@ember").
    #[serde(default)]
    pub contact: String,
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
    /// The words on screen during the beat, serving its role (reveal, feature, benefit, call to
    /// action); empty in specs planned before the ad had words.
    #[serde(default)]
    pub headline: String,
    /// What the voice says during the beat, short enough to be said at a natural pace.
    #[serde(default)]
    pub voiceover: String,
    /// How many times the client had the beat made again: each take pictures it anew.
    #[serde(default, skip_serializing_if = "is_first_take")]
    pub take: u32,
}

impl SpecBeat {
    /// The library's `beat` at `start` for `duration` seconds, its prompt and words to be
    /// written.
    pub fn of(beat: &beats::Beat, start: u32, duration: u32) -> Self {
        Self {
            id: beat.id.to_owned(),
            position: beat.position,
            shot_type: beat.shot_type,
            action: beat.action.to_owned(),
            camera_movement: beat.camera,
            energy: beat.energy,
            start,
            duration,
            prompt: String::new(),
            headline: String::new(),
            voiceover: String::new(),
            take: 0,
        }
    }
}

fn is_first_take(take: &u32) -> bool {
    *take == 0
}

/// The longest headline, in characters: it must fit the frame in large type.
pub const MAX_HEADLINE_CHARS: usize = 48;
/// The longest tagline or call to action, in characters.
pub const MAX_LINE_CHARS: usize = 60;
/// A natural speaking pace, in words per second.
pub const WORDS_PER_SECOND: f64 = 2.5;

/// The most words a voice-over of a beat of `seconds` may have: the beat's length less a second
/// of breath, at a natural pace.
pub fn max_voiceover_words(seconds: u32) -> usize {
    ((seconds as f64 - 1.0) * WORDS_PER_SECOND).floor() as usize
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
    #[error("fps {0} and resolution {1:?}; the pipeline makes 30 fps at 1280x720, 720x1280 or 1080x1080 as the aspect ratio says")]
    Format(u32, String),
    #[error("beat {index}'s headline has {chars} characters; at most {MAX_HEADLINE_CHARS} fit")]
    Headline { index: usize, chars: usize },
    #[error("beat {index}'s voice-over has {words} words; a {seconds} s beat can say at most {max} at a natural pace")]
    Voiceover {
        index: usize,
        words: usize,
        seconds: u32,
        max: usize,
    },
    #[error("the {field} has {chars} characters; at most {MAX_LINE_CHARS} fit")]
    Line { field: &'static str, chars: usize },
    #[error("template {0:?} is not an archetype")]
    UnknownArchetype(String),
}

impl Invalid {
    /// The field of the spec at fault, as a client names it (`beats[0].headline`).
    pub fn field(&self) -> String {
        match self {
            Invalid::NoBeat | Invalid::BeatStart { .. } | Invalid::Total { .. } => "beats".into(),
            Invalid::UnknownBeat { index, .. } => format!("beats[{index}].id"),
            Invalid::BeatDuration { index, .. } => format!("beats[{index}].duration"),
            Invalid::Headline { index, .. } => format!("beats[{index}].headline"),
            Invalid::Voiceover { index, .. } => format!("beats[{index}].voiceover"),
            Invalid::Duration(_) => "duration".into(),
            Invalid::Palette(_) | Invalid::Colour(_) => "style.color_palette".into(),
            Invalid::Format(..) => "resolution".into(),
            Invalid::Line { field, .. } => match *field {
                "tagline" => "copy.tagline".into(),
                _ => "copy.call_to_action".into(),
            },
            Invalid::UnknownArchetype(_) => "template".into(),
        }
    }
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
        if self.fps != FPS || self.resolution != self.aspect_ratio.resolution() {
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
            let chars = beat.headline.chars().count();
            if chars > MAX_HEADLINE_CHARS {
                return Err(Invalid::Headline { index, chars });
            }
            let words = beat.voiceover.split_whitespace().count();
            let max = max_voiceover_words(beat.duration);
            if words > max {
                return Err(Invalid::Voiceover {
                    index,
                    words,
                    seconds: beat.duration,
                    max,
                });
            }
            expected += beat.duration;
        }
        for (field, line) in [
            ("tagline", &self.copy.tagline),
            ("call to action", &self.copy.call_to_action),
        ] {
            let chars = line.chars().count();
            if chars > MAX_LINE_CHARS {
                return Err(Invalid::Line { field, chars });
            }
        }
        if expected != self.duration {
            return Err(Invalid::Total {
                beats: expected,
                duration: self.duration,
            });
        }
        Ok(())
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        self.aspect_ratio.size()
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
    fn a_spec_journaled_before_copy_and_aspect_ratios_still_reads() {
        let old = serde_json::json!({
            "template": "minimalist_reveal", "duration": 5, "fps": 30, "resolution": "1280x720",
            "product": {"name": "iPhone", "category": "tech"},
            "style": {"aesthetic": "clean", "color_palette": ["#ffffff", "#000000", "#888888"],
                      "mood": "minimalist", "lighting": "soft"},
            "beats": [{"id": "hero_shot", "position": "opening", "shot_type": "close_up",
                       "action": "product_reveal", "camera_movement": "slow_dolly_in",
                       "energy": "medium", "start": 0, "duration": 5, "prompt": "an iPhone"}],
            "reasoning": {"archetype": "", "beats": ""}
        });
        let spec: Spec = serde_json::from_value(old).unwrap();
        assert_eq!(spec.aspect_ratio, AspectRatio::Landscape);
        assert_eq!(spec.copy, AdCopy::default());
        assert_eq!(spec.beats[0].headline, "");
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn aspect_ratios_read_and_size_as_clients_write_them() {
        for ratio in AspectRatio::ALL {
            assert_eq!(AspectRatio::parse(ratio.name()), Some(ratio));
            let json = serde_json::to_value(ratio).unwrap();
            assert_eq!(json, ratio.name());
        }
        assert_eq!(AspectRatio::Portrait.resolution(), "720x1280");
        assert_eq!(AspectRatio::parse("4:3"), None);
    }

    #[test]
    fn colours_parse_from_hex() {
        assert_eq!(parse_colour("#ff8000"), Some([255, 128, 0]));
        assert_eq!(parse_colour("ff8000"), None);
        assert_eq!(parse_colour("#ff80"), None);
    }
}
