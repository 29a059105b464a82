//! Model profiles: how each model of the predictions API is asked for its media and what it
//! answers, in one place. A profile names the version to create with, the inputs that carry the
//! prompt, the first frame, the length and the frame size or ratio, the values the model accepts,
//! the inputs sent as they are, the shape of its output, its native clip length, its deadline and
//! its price. The built-in profiles cover the supported models (docs/operations.md lists them);
//! configuration describes any other model with the same fields, as JSON, without new code.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// What a model makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Image,
    Video,
    Music,
}

/// How a model is asked for the frame's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Size {
    /// It takes no size (a clip keeps its first frame's).
    None,
    /// Width and height in pixels, rounded to a multiple of `multiple_of`.
    WidthHeight {
        width: String,
        height: String,
        #[serde(default = "one")]
        multiple_of: u32,
    },
    /// An aspect ratio such as `16:9`.
    AspectRatio { field: String },
}

fn one() -> u32 {
    1
}

/// The input that carries a length in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Length {
    pub field: String,
    /// The values it accepts; empty: any whole number up to `max`.
    #[serde(default)]
    pub allowed: Vec<u32>,
    #[serde(default)]
    pub max: Option<u32>,
}

/// What an output is: one URL, or a list of URLs (of which the first is used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    Url,
    List,
}

/// USD per output, plus per second of output asked for.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Price {
    #[serde(default)]
    pub per_output: f64,
    #[serde(default)]
    pub per_second: f64,
}

/// How to ask one model for its media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub kind: Kind,
    /// What creates send as `version`: `owner/name` (official models only), `owner/name:id` or
    /// an id.
    pub version: String,
    #[serde(default = "prompt")]
    pub prompt: String,
    /// The input that carries the first frame (image-to-video models).
    #[serde(default)]
    pub first_frame: Option<String>,
    /// The input that carries a reference image (image models): the client's product photo,
    /// when the video has one. A model without one draws from the prompt alone.
    #[serde(default)]
    pub reference_image: Option<String>,
    #[serde(default = "no_size")]
    pub size: Size,
    #[serde(default)]
    pub length: Option<Length>,
    /// Seconds of video the model makes when it takes no length.
    #[serde(default)]
    pub native_seconds: Option<u32>,
    /// The input that takes a seed; each create sends a seed of its own.
    #[serde(default)]
    pub seed: Option<String>,
    /// Inputs sent as they are.
    #[serde(default)]
    pub fixed: Map<String, Value>,
    pub output: Output,
    /// How long a prediction may take before the service cancels it (`Cancel-After`).
    pub deadline_seconds: u64,
    pub price: Price,
}

fn prompt() -> String {
    "prompt".into()
}

fn no_size() -> Size {
    Size::None
}

impl Profile {
    /// The built-in profile of `model` (`owner/name`, optionally `:version`), if it is supported.
    /// A version given with the model replaces the profile's.
    pub fn builtin(model: &str) -> Option<Profile> {
        let (name, version) = model
            .split_once(':')
            .map_or((model, None), |(n, v)| (n, Some(v)));
        let mut profile = builtin_profiles()
            .into_iter()
            .find(|(known, _)| *known == name)?
            .1;
        if let Some(version) = version {
            profile.version = format!("{name}:{version}");
            let old = OLD_MUSICGEN
                .iter()
                .any(|prefix| version.starts_with(prefix));
            if name == "meta/musicgen" && old {
                if let Some(length) = &mut profile.length {
                    length.max = Some(30);
                }
            }
        }
        Some(profile)
    }

    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_seconds)
    }

    /// The seconds to ask for when the pipeline needs `wanted`: `wanted` when the model takes it,
    /// else the shortest length it takes that is longer (the pipeline trims the rest), else its
    /// longest; the model's native length when it takes none.
    pub fn seconds_for(&self, wanted: u32) -> u32 {
        match &self.length {
            None => self.native_seconds.unwrap_or(wanted),
            Some(length) if length.allowed.is_empty() => {
                length.max.map_or(wanted, |m| wanted.min(m))
            }
            Some(length) => {
                let longer = length.allowed.iter().filter(|s| **s >= wanted).min();
                *longer.or(length.allowed.iter().max()).unwrap_or(&wanted)
            }
        }
    }

    /// What one output of `seconds` costs.
    pub fn price_for(&self, seconds: u32) -> f64 {
        self.price.per_output + self.price.per_second * f64::from(seconds)
    }

    /// The input for `prompt`, at `width` x `height`, lasting `seconds` when the model takes a
    /// length, starting from `first_frame` when given (the seed is added by each create).
    pub fn input(
        &self,
        prompt: &str,
        (width, height): (u32, u32),
        seconds: Option<u32>,
        first_frame: Option<&str>,
    ) -> Value {
        let mut input = self.fixed.clone();
        input.insert(self.prompt.clone(), json!(prompt));
        match &self.size {
            Size::None => {}
            Size::WidthHeight {
                width: w,
                height: h,
                multiple_of,
            } => {
                let round = |v: u32| (v + multiple_of / 2) / multiple_of * multiple_of;
                input.insert(w.clone(), json!(round(width)));
                input.insert(h.clone(), json!(round(height)));
            }
            Size::AspectRatio { field } => {
                input.insert(field.clone(), json!(aspect_ratio(width, height)));
            }
        }
        if let (Some(length), Some(seconds)) = (&self.length, seconds) {
            input.insert(length.field.clone(), json!(self.seconds_for(seconds)));
        }
        if let (Some(field), Some(frame)) = (&self.first_frame, first_frame) {
            input.insert(field.clone(), json!(frame));
        }
        Value::Object(input)
    }
}

/// `width:height` in lowest terms (1280x720 is `16:9`).
fn aspect_ratio(width: u32, height: u32) -> String {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let d = gcd(width, height).max(1);
    format!("{}:{}", width / d, height / d)
}

/// The MusicGen versions (by the start of their id) that cap `duration` at 30 s.
const OLD_MUSICGEN: [&str; 2] = ["b1547dad", "7a76a825"];

/// The supported models, by `owner/name`. Prices are the references of docs/operations.md;
/// deployments set their own with SLATE_PRICE_*.
fn builtin_profiles() -> Vec<(&'static str, Profile)> {
    let fixed = |pairs: Value| pairs.as_object().cloned().unwrap_or_default();
    // The reference image is the input each model's API page names for an image to start from
    // or to be guided by: SDXL's and FLUX dev's `image` (image to image, at their default
    // prompt_strength of 0.8), FLUX 1.1 pro's `image_prompt` (Redux); FLUX schnell takes none.
    let image = |version: &str,
                 size: Size,
                 output: Output,
                 per_output: f64,
                 reference: Option<&str>,
                 extra: Value| Profile {
        kind: Kind::Image,
        version: version.into(),
        prompt: prompt(),
        first_frame: None,
        reference_image: reference.map(str::to_owned),
        size,
        length: None,
        native_seconds: None,
        seed: Some("seed".into()),
        fixed: fixed(extra),
        output,
        deadline_seconds: 120,
        price: Price {
            per_output,
            per_second: 0.0,
        },
    };
    let ratio = || Size::AspectRatio {
        field: "aspect_ratio".into(),
    };
    let clip = |version: &str,
                first_frame: &str,
                length: Option<Length>,
                native: Option<u32>,
                price: Price,
                extra: Value| Profile {
        kind: Kind::Video,
        version: version.into(),
        prompt: prompt(),
        first_frame: Some(first_frame.into()),
        reference_image: None,
        size: Size::None,
        length,
        native_seconds: native,
        seed: None,
        fixed: fixed(extra),
        output: Output::Url,
        deadline_seconds: 300,
        price,
    };
    let durations = |allowed: &[u32]| {
        Some(Length {
            field: "duration".into(),
            allowed: allowed.to_vec(),
            max: None,
        })
    };
    let per_clip = |per_output: f64| Price {
        per_output,
        per_second: 0.0,
    };
    vec![
        (
            "stability-ai/sdxl",
            image(
                "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc",
                Size::WidthHeight {
                    width: "width".into(),
                    height: "height".into(),
                    multiple_of: 8,
                },
                Output::List,
                0.0055,
                Some("image"),
                json!({"num_outputs": 1}),
            ),
        ),
        (
            "black-forest-labs/flux-schnell",
            image(
                "black-forest-labs/flux-schnell",
                ratio(),
                Output::List,
                0.003,
                None,
                json!({"num_outputs": 1, "output_format": "png"}),
            ),
        ),
        (
            "black-forest-labs/flux-dev",
            image(
                "black-forest-labs/flux-dev",
                ratio(),
                Output::List,
                0.025,
                Some("image"),
                json!({"num_outputs": 1, "output_format": "png"}),
            ),
        ),
        (
            "black-forest-labs/flux-1.1-pro",
            image(
                "black-forest-labs/flux-1.1-pro",
                ratio(),
                Output::Url,
                0.04,
                Some("image_prompt"),
                json!({"output_format": "png"}),
            ),
        ),
        (
            "minimax/hailuo-02",
            clip(
                "minimax/hailuo-02",
                "first_frame_image",
                durations(&[6, 10]),
                None,
                per_clip(0.19),
                json!({"resolution": "768p", "prompt_optimizer": false}),
            ),
        ),
        (
            "minimax/hailuo-2.3",
            clip(
                "minimax/hailuo-2.3",
                "first_frame_image",
                durations(&[6, 10]),
                None,
                per_clip(0.19),
                json!({"resolution": "768p", "prompt_optimizer": false}),
            ),
        ),
        (
            "minimax/video-01",
            clip(
                "minimax/video-01",
                "first_frame_image",
                None,
                Some(6),
                per_clip(0.50),
                json!({"prompt_optimizer": false}),
            ),
        ),
        (
            "kwaivgi/kling-v2.5-turbo-pro",
            clip(
                "kwaivgi/kling-v2.5-turbo-pro",
                "start_image",
                durations(&[5, 10]),
                None,
                Price {
                    per_output: 0.0,
                    per_second: 0.07,
                },
                json!({}),
            ),
        ),
        (
            "meta/musicgen",
            Profile {
                kind: Kind::Music,
                version: "meta/musicgen:671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb".into(),
                prompt: prompt(),
                first_frame: None,
                reference_image: None,
                size: Size::None,
                length: Some(Length {
                    field: "duration".into(),
                    allowed: Vec::new(),
                    max: None,
                }),
                native_seconds: None,
                seed: Some("seed".into()),
                fixed: fixed(json!({"model_version": "stereo-large", "output_format": "wav", "normalization_strategy": "peak"})),
                output: Output::Url,
                deadline_seconds: 240,
                price: per_clip(0.15),
            },
        ),
    ]
}

/// The names of the built-in models of `kind`.
pub fn supported(kind: Kind) -> Vec<&'static str> {
    builtin_profiles()
        .into_iter()
        .filter(|(_, p)| p.kind == kind)
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_is_asked_in_its_own_words() {
        let hailuo = Profile::builtin("minimax/hailuo-02").unwrap();
        let input = hailuo.input("a mug", (1280, 720), Some(5), Some("data:x"));
        assert_eq!(input["duration"], 6, "hailuo refuses 5 s");
        assert_eq!(input["resolution"], "768p", "not its dearer 1080p default");
        assert_eq!(input["first_frame_image"], "data:x");
        let kling = Profile::builtin("kwaivgi/kling-v2.5-turbo-pro").unwrap();
        let input = kling.input("a mug", (1280, 720), Some(5), Some("data:x"));
        assert_eq!(
            (input["start_image"].as_str(), input["duration"].as_u64()),
            (Some("data:x"), Some(5))
        );
        let video01 = Profile::builtin("minimax/video-01").unwrap();
        let input = video01.input("a mug", (1280, 720), Some(5), Some("data:x"));
        assert!(input.get("duration").is_none());
        assert_eq!(video01.seconds_for(5), 6);

        let flux = Profile::builtin("black-forest-labs/flux-schnell").unwrap();
        let input = flux.input("a mug", (1280, 720), None, None);
        assert_eq!(input["aspect_ratio"], "16:9");
        assert!(input.get("width").is_none());
        let sdxl = Profile::builtin("stability-ai/sdxl").unwrap();
        let input = sdxl.input("a mug", (1280, 720), None, None);
        assert_eq!(
            (input["width"].as_u64(), input["height"].as_u64()),
            (Some(1280), Some(720))
        );
        assert!(
            sdxl.version.starts_with("stability-ai/sdxl:"),
            "a community model is pinned"
        );
    }

    #[test]
    fn old_musicgen_versions_cap_the_length_and_a_given_version_is_kept() {
        let current = Profile::builtin("meta/musicgen").unwrap();
        assert_eq!(current.seconds_for(60), 60);
        let pinned = format!("meta/musicgen:{}{}", OLD_MUSICGEN[0], "0".repeat(56));
        let old = Profile::builtin(&pinned).unwrap();
        assert_eq!(old.seconds_for(60), 30);
        assert_eq!(old.version, pinned);
        assert!(Profile::builtin("someone/unknown").is_none());
    }

    #[test]
    fn a_profile_reads_from_configuration_json() {
        let profile: Profile = serde_json::from_value(json!({
            "kind": "video",
            "version": "acme/clipper:abc",
            "first_frame": "image",
            "length": {"field": "seconds", "allowed": [4, 8]},
            "output": "url",
            "deadline_seconds": 200,
            "price": {"per_second": 0.1}
        }))
        .unwrap();
        assert_eq!(profile.seconds_for(5), 8);
        assert!((profile.price_for(8) - 0.8).abs() < 1e-9);
        assert!(
            serde_json::from_value::<Profile>(json!({"kind": "video", "versoin": "x"})).is_err()
        );
    }
}
