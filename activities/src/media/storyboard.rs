//! The embedded storyboard artist: one 1280x720 still per beat, drawn offline. The still shows the
//! spec's palette and lighting, a framing that follows the beat's shot type (an extreme close-up
//! fills the frame; a wide shot puts the product small in a landscape), the product's name and
//! the beat's name. Stills of different beats differ visibly.

use ab_glyph::{FontArc, PxScale};
use image::{Rgb, RgbImage};
use imageproc::{
    drawing::{
        draw_filled_circle_mut, draw_filled_rect_mut, draw_polygon_mut, draw_text_mut, text_size,
    },
    point::Point,
    rect::Rect,
};
use slate_engine::StepError;

use crate::{
    library::beats::ShotType,
    library::mood::Mood,
    spec::{parse_colour, Spec, HEIGHT, WIDTH},
};

/// Fonts looked for, in order, when SLATE_FONT does not name one.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
];

/// Loads the font the stills are lettered with.
pub fn load_font() -> Result<FontArc, StepError> {
    let named = std::env::var("SLATE_FONT").ok();
    let path = named
        .iter()
        .map(String::as_str)
        .chain(FONT_PATHS.iter().copied())
        .find(|p| std::path::Path::new(p).exists())
        .ok_or_else(|| {
            StepError::permanent(
                "font_missing",
                "no font found: install fonts-dejavu-core or set SLATE_FONT to a .ttf file",
            )
        })?;
    let bytes = std::fs::read(path)
        .map_err(|e| StepError::permanent("font_missing", format!("{path}: {e}")))?;
    FontArc::try_from_vec(bytes)
        .map_err(|e| StepError::permanent("font_invalid", format!("{path}: {e}")))
}

/// Draws the still of beat `index` of `spec` as PNG bytes.
pub fn render(spec: &Spec, index: usize, font: &FontArc) -> Vec<u8> {
    let beat = &spec.beats[index];
    let palette: Vec<[u8; 3]> = spec
        .style
        .color_palette
        .iter()
        .filter_map(|c| parse_colour(c))
        .collect();
    let pick = |k: usize| palette[(k + index) % palette.len()];
    let (background, accent, detail) = (pick(0), pick(1), pick(2));
    let mut image = backdrop(background, accent, spec.style.mood, index);
    frame(&mut image, beat.shot_type, accent, detail, index);
    letter(&mut image, font, spec, index, detail);
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encoding a PNG in memory cannot fail");
    png
}

/// A gradient between two palette colours, lit as the mood's lighting: a glow whose place moves
/// with the beat, and a vignette.
fn backdrop(from: [u8; 3], to: [u8; 3], mood: Mood, index: usize) -> RgbImage {
    let (brightness, glow) = match mood {
        Mood::Energetic => (0.55, 0.9),
        Mood::Elegant => (0.45, 0.5),
        Mood::Minimalist => (1.0, 0.15),
        Mood::Emotional => (0.85, 0.6),
        Mood::Informative => (0.95, 0.3),
    };
    let light_x = [0.25, 0.75, 0.5, 0.15, 0.85][index % 5] * WIDTH as f32;
    let light_y = HEIGHT as f32 * 0.3;
    RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let t = y as f32 / HEIGHT as f32;
        let dx = (x as f32 - light_x) / WIDTH as f32;
        let dy = (y as f32 - light_y) / HEIGHT as f32;
        let light = glow * (-(dx * dx + dy * dy) * 6.0).exp();
        let cx = x as f32 / WIDTH as f32 - 0.5;
        let cy = y as f32 / HEIGHT as f32 - 0.5;
        let vignette = 1.0 - 0.6 * (cx * cx + cy * cy);
        Rgb(std::array::from_fn(|c| {
            let base = from[c] as f32 * (1.0 - t) + to[c] as f32 * t * 0.6;
            let lit = base * brightness * vignette + 255.0 * light * 0.35;
            lit.clamp(0.0, 255.0) as u8
        }))
    })
}

/// The product, framed as the shot type says.
fn frame(image: &mut RgbImage, shot: ShotType, accent: [u8; 3], detail: [u8; 3], index: usize) {
    let (w, h) = (WIDTH as i32, HEIGHT as i32);
    let (accent, detail) = (Rgb(accent), Rgb(detail));
    let product = |image: &mut RgbImage, cx: i32, cy: i32, size: i32| {
        draw_filled_circle_mut(image, (cx, cy + size / 2), size / 2, detail);
        let body =
            Rect::at(cx - size / 3, cy - size / 2).of_size((size * 2 / 3) as u32, size as u32);
        draw_filled_rect_mut(image, body, accent);
        let shine = Rect::at(cx - size / 5, cy - size / 3)
            .of_size((size / 10).max(2) as u32, (size / 2) as u32);
        draw_filled_rect_mut(image, shine, Rgb([255, 255, 255]));
    };
    match shot {
        ShotType::ExtremeCloseUp => product(image, w / 2, h / 2, h * 2),
        ShotType::Macro => {
            product(image, w / 2, h / 2, h * 3 / 2);
            for k in 0..12 {
                let x = w / 2 - 300 + k * 50;
                draw_filled_rect_mut(image, Rect::at(x, h / 4).of_size(6, (h / 2) as u32), detail);
            }
        }
        ShotType::CloseUp => product(image, w / 2, h / 2, h * 3 / 4),
        ShotType::MediumCloseUp => product(image, w * 3 / 5, h / 2, h * 3 / 5),
        ShotType::Medium | ShotType::MediumWide => {
            let size = if shot == ShotType::Medium {
                h * 9 / 20
            } else {
                h * 7 / 20
            };
            person(image, w / 3, h * 3 / 5, size, detail);
            product(image, w * 3 / 5, h * 3 / 5, size);
        }
        ShotType::Wide | ShotType::WideCinematic => {
            landscape(image, detail, index);
            product(image, w / 2, h * 2 / 3, h / 5);
            if shot == ShotType::WideCinematic {
                draw_filled_rect_mut(
                    image,
                    Rect::at(0, 0).of_size(WIDTH, HEIGHT / 8),
                    Rgb([0, 0, 0]),
                );
                draw_filled_rect_mut(
                    image,
                    Rect::at(0, h * 7 / 8).of_size(WIDTH, HEIGHT / 8),
                    Rgb([0, 0, 0]),
                );
            }
        }
        ShotType::Tracking | ShotType::Dynamic => {
            for k in 0..8 {
                let y = h / 5 + k * h / 12;
                let streak = Rect::at(w / 10 + k * 23, y).of_size((w / 3) as u32, 8);
                draw_filled_rect_mut(image, streak, detail);
            }
            product(image, w * 2 / 3, h / 2, h / 2);
        }
        ShotType::DynamicMulti => {
            for k in 0..3 {
                let x = k * w / 3;
                let panel =
                    Rect::at(x + 12, h / 6).of_size((w / 3 - 24) as u32, (h * 2 / 3) as u32);
                draw_filled_rect_mut(
                    image,
                    panel,
                    if k == 1 { detail } else { Rgb([20, 20, 20]) },
                );
                product(image, x + w / 6, h / 2, h / 3);
            }
        }
    }
}

/// A silhouette of someone using the product.
fn person(image: &mut RgbImage, cx: i32, cy: i32, size: i32, colour: Rgb<u8>) {
    draw_filled_circle_mut(image, (cx, cy - size * 3 / 4), size / 5, colour);
    let body =
        Rect::at(cx - size / 4, cy - size / 2).of_size((size / 2) as u32, (size * 3 / 4) as u32);
    draw_filled_rect_mut(image, body, colour);
}

/// Hills and a horizon behind a wide shot.
fn landscape(image: &mut RgbImage, colour: Rgb<u8>, index: usize) {
    let (w, h) = (WIDTH as i32, HEIGHT as i32);
    let peak = [w / 4, w * 2 / 3, w / 2][index % 3];
    let hills = [
        Point::new(0, h * 3 / 4),
        Point::new(peak, h / 2),
        Point::new(w - 1, h * 7 / 10),
        Point::new(w - 1, h - 1),
        Point::new(0, h - 1),
    ];
    draw_polygon_mut(image, &hills, colour);
}

/// The beat's number and name at the top, the product's name at the bottom.
fn letter(image: &mut RgbImage, font: &FontArc, spec: &Spec, index: usize, colour: [u8; 3]) {
    let beat = &spec.beats[index];
    let caption = format!(
        "{:02}  {}",
        index + 1,
        beat.id.replace('_', " ").to_uppercase()
    );
    let shadow = Rgb([0, 0, 0]);
    let light = Rgb([255, 255, 255]);
    draw_text_mut(image, shadow, 42, 42, PxScale::from(34.0), font, &caption);
    draw_text_mut(image, light, 40, 40, PxScale::from(34.0), font, &caption);
    let scale = PxScale::from(if beat.id == "call_to_action" {
        96.0
    } else {
        64.0
    });
    let name = &spec.product.name;
    let (width, height) = text_size(scale, font, name);
    let x = ((WIDTH.saturating_sub(width)) / 2) as i32;
    let y = (HEIGHT - height - 60) as i32;
    let luminance = 0.299 * colour[0] as f32 + 0.587 * colour[1] as f32 + 0.114 * colour[2] as f32;
    let fill = if luminance > 150.0 {
        Rgb(colour)
    } else {
        light
    };
    draw_text_mut(image, shadow, x + 3, y + 3, scale, font, name);
    draw_text_mut(image, fill, x, y, scale, font, name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{self, Request};

    #[test]
    fn every_beat_gets_a_distinct_1280x720_png() {
        let font = load_font().expect("a font (fonts-dejavu-core)");
        let spec = plan::embedded(&Request::new("30s luxury watch elegant sophisticated"));
        let stills: Vec<RgbImage> = (0..spec.beats.len())
            .map(|i| {
                image::load_from_memory(&render(&spec, i, &font))
                    .unwrap()
                    .to_rgb8()
            })
            .collect();
        for still in &stills {
            assert_eq!(still.dimensions(), (1280, 720));
        }
        for pair in stills.windows(2) {
            let differing = pair[0]
                .pixels()
                .zip(pair[1].pixels())
                .filter(|(a, b)| {
                    a.0.iter()
                        .zip(b.0)
                        .map(|(x, y)| x.abs_diff(y) as u32)
                        .sum::<u32>()
                        > 60
                })
                .count();
            assert!(
                differing > 1280 * 720 / 10,
                "only {differing} pixels differ"
            );
        }
    }
}
