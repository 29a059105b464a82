//! The roles a spec's palette plays in the picture: the ground everything stands on, the ink
//! text is set in, the accent that draws the eye, and a soft tone between them. The roles come
//! from the colours' lightness and saturation, so any palette of 3 to 5 colours (a cloud
//! planner's included) gets legible text.

use crate::{library::mood::Mood, spec::parse_colour, spec::Spec};

pub type Rgb = [u8; 3];

/// A palette's colours by role.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Colours {
    pub ground: Rgb,
    pub ink: Rgb,
    pub accent: Rgb,
    /// Between the ground and the accent, for shapes behind the text.
    pub soft: Rgb,
}

impl Colours {
    /// The roles of the spec's palette, for its mood: energetic and elegant ads stand on their
    /// darkest colour, minimalist and informative ones on their lightest, emotional ones on the
    /// palette's first.
    pub fn of(spec: &Spec) -> Self {
        let palette: Vec<Rgb> = spec
            .style
            .color_palette
            .iter()
            .filter_map(|c| parse_colour(c))
            .collect();
        Self::from_palette(&palette, spec.style.mood)
    }

    pub fn from_palette(palette: &[Rgb], mood: Mood) -> Self {
        let fallback = [[16, 16, 20], [245, 245, 245], [255, 90, 60]];
        let palette = if palette.len() >= 2 {
            palette
        } else {
            &fallback
        };
        let by_lightness = |darkest: bool| {
            let key = |c: &&Rgb| (luminance(**c) * 1e6) as i64;
            let found = if darkest {
                palette.iter().min_by_key(key)
            } else {
                palette.iter().max_by_key(key)
            };
            *found.expect("a palette has colours")
        };
        let ground = match mood {
            Mood::Energetic | Mood::Elegant => by_lightness(true),
            Mood::Minimalist | Mood::Informative => by_lightness(false),
            Mood::Emotional => palette[0],
        };
        let ink = if contrast(ground, [255, 255, 255]) >= contrast(ground, [17, 17, 17]) {
            lighten_to_contrast(by_lightness(false), ground)
        } else {
            darken_to_contrast(by_lightness(true), ground)
        };
        let accent = palette
            .iter()
            .copied()
            .filter(|c| *c != ground && *c != ink)
            .max_by_key(|c| ((saturation(*c) + contrast(*c, ground) / 21.0) * 1e6) as i64)
            .unwrap_or(ink);
        Self {
            ground,
            ink,
            accent,
            soft: mix(ground, accent, 0.35),
        }
    }

    /// The accent when it stands out from the ground, else the ink: for small words that
    /// must be read.
    pub fn highlight(&self) -> Rgb {
        if contrast(self.accent, self.ground) >= 3.0 {
            self.accent
        } else {
            self.ink
        }
    }

    /// A button's fill and its text's colour: the accent when it stands out from the ground,
    /// else the ink with the ground's colour for its text.
    pub fn button(&self) -> (Rgb, Rgb) {
        if contrast(self.accent, self.ground) >= 2.5 {
            (self.accent, self.on_accent())
        } else {
            (self.ink, self.ground)
        }
    }

    /// The colour text set on the accent is legible in.
    pub fn on_accent(&self) -> Rgb {
        if contrast(self.accent, self.ground) >= contrast(self.accent, self.ink) {
            self.ground
        } else {
            self.ink
        }
    }
}

/// `a` moved towards `b` by `t` (0 to 1).
pub fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    std::array::from_fn(|i| (a[i] as f32 + (b[i] as f32 - a[i] as f32) * t).round() as u8)
}

/// Relative luminance, as WCAG defines it.
pub fn luminance(c: Rgb) -> f32 {
    let channel = |v: u8| {
        let v = v as f32 / 255.0;
        if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])
}

/// The WCAG contrast ratio of two colours, from 1 to 21.
pub fn contrast(a: Rgb, b: Rgb) -> f32 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

fn saturation(c: Rgb) -> f32 {
    let max = *c.iter().max().unwrap_or(&0) as f32;
    let min = *c.iter().min().unwrap_or(&0) as f32;
    if max == 0.0 {
        0.0
    } else {
        (max - min) / max
    }
}

/// Large text needs a contrast of 4.5 to be read at a glance.
const LEGIBLE: f32 = 4.5;

fn lighten_to_contrast(c: Rgb, ground: Rgb) -> Rgb {
    towards_contrast(c, ground, [255, 255, 255])
}

fn darken_to_contrast(c: Rgb, ground: Rgb) -> Rgb {
    towards_contrast(c, ground, [0, 0, 0])
}

/// `c` moved towards `end` until it is legible on `ground` (`end` itself at the latest).
fn towards_contrast(c: Rgb, ground: Rgb, end: Rgb) -> Rgb {
    (0..=10)
        .map(|step| mix(c, end, step as f32 / 10.0))
        .find(|c| contrast(*c, ground) >= LEGIBLE)
        .unwrap_or(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mood_palette_sets_its_ink_legibly_on_its_ground() {
        for mood in Mood::ALL {
            for palette in mood.palettes() {
                let colours: Vec<Rgb> = palette.iter().filter_map(|c| parse_colour(c)).collect();
                let roles = Colours::from_palette(&colours, mood);
                let ratio = contrast(roles.ink, roles.ground);
                assert!(ratio >= LEGIBLE, "{mood:?} {palette:?}: {ratio}");
                assert!(
                    contrast(roles.on_accent(), roles.accent) >= 1.5,
                    "{palette:?}"
                );
            }
        }
    }
}
