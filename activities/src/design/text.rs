//! Setting lines of text: measuring them in a face (kerning, tracking, glyph fallback), breaking
//! a text into balanced lines that fit a width, and drawing a line into a transparent image
//! with a soft shadow.

use ab_glyph::{Font, FontArc, GlyphId, PxScale, ScaleFont};
use image::{GrayImage, Luma, Rgba, RgbaImage};

use super::{fonts::Face, palette::Rgb};

/// How a line is set.
#[derive(Clone, Copy)]
pub struct Setting<'a> {
    pub face: &'a Face,
    /// The size in pixels.
    pub size: f32,
}

/// A glyph placed on a line.
struct Placed<'a> {
    font: &'a FontArc,
    id: GlyphId,
    x: f32,
}

impl Setting<'_> {
    fn place<'b>(&'b self, text: &str) -> (Vec<Placed<'b>>, f32) {
        let text = self.face.cased(text);
        let scale = PxScale::from(self.size);
        let tracking = self.face.tracking * self.size;
        let mut placed = Vec::new();
        let mut x = 0.0;
        let mut previous: Option<(&FontArc, GlyphId)> = None;
        for c in text.chars() {
            let (font, id) = self.face.glyph(c);
            let scaled = font.as_scaled(scale);
            if let Some((before, before_id)) = previous {
                if std::ptr::eq(before, font) {
                    x += scaled.kern(before_id, id);
                }
                x += tracking;
            }
            placed.push(Placed { font, id, x });
            x += scaled.h_advance(id);
            previous = Some((font, id));
        }
        (placed, x)
    }

    /// How wide `text` is set.
    pub fn width(&self, text: &str) -> f32 {
        self.place(text).1
    }

    /// The height of a line: the face's ascent to its descent.
    pub fn line_height(&self) -> f32 {
        let scaled = self.face.font.as_scaled(PxScale::from(self.size));
        scaled.ascent() - scaled.descent()
    }

    /// The margin drawn around a line for its shadow.
    pub fn pad(&self) -> u32 {
        (self.size * 0.2).ceil() as u32 + 4
    }

    /// The size of the image [`Setting::draw`] makes of `text`.
    pub fn extent(&self, text: &str) -> (u32, u32) {
        let pad = self.pad();
        (
            self.width(text).ceil() as u32 + 2 * pad,
            self.line_height().ceil() as u32 + 2 * pad,
        )
    }

    /// `text` in `colour` on a transparent image of [`Setting::extent`], with a soft shadow
    /// when `shadow` is more than 0 (its opacity).
    pub fn draw(&self, text: &str, colour: Rgb, shadow: f32) -> RgbaImage {
        let (width, height) = self.extent(text);
        let pad = self.pad() as f32;
        let mut coverage = GrayImage::new(width, height);
        let (placed, _) = self.place(text);
        let scale = PxScale::from(self.size);
        let ascent = self.face.font.as_scaled(scale).ascent();
        for glyph in placed {
            let positioned = glyph
                .id
                .with_scale_and_position(scale, ab_glyph::point(pad + glyph.x, pad + ascent));
            let Some(outline) = glyph.font.outline_glyph(positioned) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|x, y, c| {
                let (px, py) = (
                    bounds.min.x as i32 + x as i32,
                    bounds.min.y as i32 + y as i32,
                );
                if px >= 0 && py >= 0 && (px as u32) < width && (py as u32) < height {
                    let cell = coverage.get_pixel_mut(px as u32, py as u32);
                    cell.0[0] = cell.0[0].max((c.clamp(0.0, 1.0) * 255.0) as u8);
                }
            });
        }
        let mut image = RgbaImage::new(width, height);
        if shadow > 0.0 {
            let blurred = imageproc::filter::gaussian_blur_f32(&coverage, self.size * 0.04 + 1.0);
            let drop = (self.size * 0.03).round() as u32;
            for (x, y, Luma([a])) in blurred.enumerate_pixels() {
                let (sx, sy) = (x, y + drop);
                if sy < height {
                    let alpha = (*a as f32 * shadow) as u8;
                    image.put_pixel(sx, sy, Rgba([0, 0, 0, alpha]));
                }
            }
        }
        for (x, y, Luma([a])) in coverage.enumerate_pixels() {
            if *a == 0 {
                continue;
            }
            let under = *image.get_pixel(x, y);
            image.put_pixel(x, y, over([colour[0], colour[1], colour[2], *a], under));
        }
        image
    }

    /// `text` broken into the fewest lines no wider than `width`, balanced so that the lines
    /// are about as long as each other; a word wider than `width` stands alone.
    pub fn wrap(&self, text: &str, width: f32) -> Vec<String> {
        let greedy = |limit: f32| {
            let mut lines: Vec<String> = Vec::new();
            for word in text.split_whitespace() {
                match lines.last_mut() {
                    Some(line) if self.width(&format!("{line} {word}")) <= limit => {
                        line.push(' ');
                        line.push_str(word);
                    }
                    _ => lines.push(word.to_owned()),
                }
            }
            lines
        };
        let fewest = greedy(width);
        let (mut low, mut high) = (0.0f32, width);
        while high - low > 2.0 {
            let middle = (low + high) / 2.0;
            if greedy(middle).len() <= fewest.len() {
                high = middle;
            } else {
                low = middle;
            }
        }
        greedy(high)
    }
}

/// `top` over `under`, both with straight alpha.
pub fn over(top: [u8; 4], under: Rgba<u8>) -> Rgba<u8> {
    let ta = top[3] as f32 / 255.0;
    let ua = under.0[3] as f32 / 255.0;
    let alpha = ta + ua * (1.0 - ta);
    if alpha <= 0.0 {
        return Rgba([0, 0, 0, 0]);
    }
    let channel =
        |i: usize| ((top[i] as f32 * ta + under.0[i] as f32 * ua * (1.0 - ta)) / alpha).round();
    Rgba([
        channel(0) as u8,
        channel(1) as u8,
        channel(2) as u8,
        (alpha * 255.0).round() as u8,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{design::fonts::Typefaces, library::mood::Mood};

    #[test]
    fn lines_wrap_balanced_within_the_width_and_draw_inside_their_extent() {
        let faces = Typefaces::shared().unwrap();
        let setting = Setting {
            face: &faces.of(Mood::Minimalist).display,
            size: 60.0,
        };
        let text = "Keeps coffee hot for hours, every single day";
        let lines = setting.wrap(text, 600.0);
        assert!(lines.len() >= 2, "{lines:?}");
        assert!(lines.iter().all(|l| setting.width(l) <= 600.0), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        let widths: Vec<f32> = lines.iter().map(|l| setting.width(l)).collect();
        let spread = widths.iter().cloned().fold(0.0, f32::max)
            - widths.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread < 250.0, "balanced: {widths:?}");
        let image = setting.draw(&lines[0], [255, 255, 255], 0.4);
        assert_eq!(image.dimensions(), setting.extent(&lines[0]));
        let inked = image.pixels().filter(|p| p.0[3] > 0).count();
        assert!(inked > 1000, "the line is drawn: {inked} pixels");
        let pad = setting.pad();
        let edge = image
            .enumerate_pixels()
            .filter(|(x, y, p)| p.0[3] > 0 && (*x == 0 || *y == 0 || *x + 1 == image.width()))
            .count();
        assert_eq!(edge, 0, "the shadow stays inside the padding of {pad} px");
    }
}
