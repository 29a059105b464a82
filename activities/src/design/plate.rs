//! The still of a beat: the plate the camera moves over and the text is laid on. Layers, back
//! to front: a gradient of the palette's ground, soft glows of its accent, shapes that follow
//! the beat's shot (rings for close framings, a horizon for wide ones, streaks for fast ones, a
//! dot grid for macro detail, panels for a montage), the client's product photo in its slot
//! when there is one, a light, a vignette and film grain. No text: words are laid over the clip
//! after the camera move. The same spec and beat always give the same still.

use std::hash::Hasher;

use fastrand::Rng;
use image::{imageops, Rgb as Pixel, RgbImage, RgbaImage};

use super::{
    layout::{Frame, Rect},
    palette::{luminance, mix, Colours, Rgb},
};
use crate::{library::beats::ShotType, spec::Spec};

/// A shape of the plate, in pixels.
enum Shape {
    /// A soft glow: colour, centre, radius, strength.
    Glow(Rgb, (f32, f32), f32, f32),
    /// A circle's outline: colour, centre, radius, thickness, opacity.
    Ring(Rgb, (f32, f32), f32, f32, f32),
    /// Bands along a direction: colour, angle (radians), period, duty, opacity.
    Streaks(Rgb, f32, f32, f32, f32),
    /// The top of a huge circle: colour, centre, radius.
    Horizon(Rgb, (f32, f32), f32),
    /// A grid of dots: colour, spacing, radius, opacity.
    Dots(Rgb, f32, f32, f32),
    /// Vertical panels: colour, count, opacity.
    Panels(Rgb, u32, f32),
}

/// Draws the still of beat `index` of `spec`, with `product` in its slot when given.
pub fn render(spec: &Spec, index: usize, product: Option<&RgbaImage>) -> RgbImage {
    let frame = Frame::new(spec.aspect_ratio);
    let colours = Colours::of(spec);
    let mut rng = Rng::with_seed(seed(spec, index));
    let shapes = shapes(spec.beats[index].shot_type, &frame, &colours, &mut rng);
    let (w, h) = (frame.width as f32, frame.height as f32);
    let angle = rng.f32() * std::f32::consts::TAU;
    let (gx, gy) = (angle.cos(), angle.sin());
    let far = mix(colours.ground, colours.soft, 0.55);
    let light = (w * (0.2 + 0.6 * rng.f32()), h * (0.15 + 0.3 * rng.f32()));
    let dark_ground = luminance(colours.ground) < 0.3;
    let mut image = RgbImage::from_fn(frame.width, frame.height, |x, y| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let t = (((fx / w - 0.5) * gx + (fy / h - 0.5) * gy) + 0.7) / 1.4;
        let mut c = lerp(colours.ground, far, t.clamp(0.0, 1.0));
        for shape in &shapes {
            paint(&mut c, shape, fx, fy, &frame);
        }
        let d = ((fx - light.0) / w).powi(2) + ((fy - light.1) / h).powi(2);
        let glow = (-d * 7.0).exp() * if dark_ground { 0.18 } else { 0.1 };
        c = lerp3(c, [255.0; 3], glow);
        let (cx, cy) = (fx / w - 0.5, fy / h - 0.5);
        let vignette = 1.0 - 0.35 * (cx * cx + cy * cy) * 2.0;
        Pixel(c.map(|v| (v * vignette).clamp(0.0, 255.0) as u8))
    });
    if let Some(product) = product {
        place_product(&mut image, product, frame.product_slot());
    }
    grain(&mut image, &mut rng);
    image
}

/// A seed from the spec's product and style, the beat's place and its take.
fn seed(spec: &Spec, index: usize) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(spec.product.name.as_bytes());
    hasher.write(spec.style.color_palette.join(",").as_bytes());
    hasher.write(spec.beats[index].id.as_bytes());
    hasher.write_usize(index);
    if spec.beats[index].take > 0 {
        hasher.write_u32(spec.beats[index].take);
    }
    hasher.finish()
}

fn shapes(shot: ShotType, frame: &Frame, colours: &Colours, rng: &mut Rng) -> Vec<Shape> {
    let (w, h, unit) = (frame.width as f32, frame.height as f32, frame.unit());
    let mut at = |lo: f32, hi: f32| {
        (
            w * (lo + (hi - lo) * rng.f32()),
            h * (lo + (hi - lo) * rng.f32()),
        )
    };
    let mut shapes = vec![
        Shape::Glow(colours.accent, at(0.1, 0.9), unit * 0.7, 0.55),
        Shape::Glow(colours.soft, at(0.0, 1.0), unit * 0.9, 0.6),
    ];
    let centre = (w * 0.5, h * 0.5);
    match shot {
        ShotType::ExtremeCloseUp | ShotType::CloseUp | ShotType::MediumCloseUp => {
            let c = at(0.35, 0.75);
            shapes.push(Shape::Ring(
                colours.accent,
                c,
                unit * 0.42,
                unit * 0.012,
                0.55,
            ));
            shapes.push(Shape::Ring(colours.soft, c, unit * 0.6, unit * 0.004, 0.5));
        }
        ShotType::Macro => {
            shapes.push(Shape::Dots(
                colours.accent,
                unit * 0.045,
                unit * 0.005,
                0.35,
            ));
            shapes.push(Shape::Glow(colours.accent, centre, unit * 0.4, 0.35));
        }
        ShotType::Medium | ShotType::MediumWide => {
            let c = at(0.55, 0.8);
            shapes.push(Shape::Ring(
                colours.accent,
                c,
                unit * 0.3,
                unit * 0.05,
                0.35,
            ));
            shapes.push(Shape::Glow(colours.ink, c, unit * 0.25, 0.08));
        }
        ShotType::Wide | ShotType::WideCinematic => {
            shapes.push(Shape::Horizon(
                colours.soft,
                (w * 0.5, h * 0.8 + w * 1.6),
                w * 1.6,
            ));
            shapes.push(Shape::Glow(
                colours.accent,
                (w * 0.5, h * 0.78),
                unit * 0.5,
                0.5,
            ));
        }
        ShotType::Tracking | ShotType::Dynamic => {
            let angle = -0.35 - 0.3 * rng.f32();
            shapes.push(Shape::Streaks(
                colours.accent,
                angle,
                unit * 0.16,
                0.18,
                0.3,
            ));
        }
        ShotType::DynamicMulti => {
            shapes.push(Shape::Panels(colours.soft, 3, 0.35));
            shapes.push(Shape::Streaks(colours.accent, -0.5, unit * 0.22, 0.1, 0.25));
        }
    }
    shapes
}

/// Paints `shape` over the colour `c` of the pixel at (`x`, `y`).
fn paint(c: &mut [f32; 3], shape: &Shape, x: f32, y: f32, frame: &Frame) {
    let (colour, alpha) = match *shape {
        Shape::Glow(colour, (cx, cy), r, strength) => {
            let d = ((x - cx).powi(2) + (y - cy).powi(2)) / (r * r);
            (colour, strength * (-d * 2.0).exp())
        }
        Shape::Ring(colour, (cx, cy), r, thickness, opacity) => {
            let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
            let edge = (thickness / 2.0 - (d - r).abs() + 0.5).clamp(0.0, 1.0);
            (colour, opacity * edge)
        }
        Shape::Streaks(colour, angle, period, duty, opacity) => {
            let along = x * angle.cos() + y * angle.sin();
            let phase = (along / period).rem_euclid(1.0);
            let edge = 1.5 / period;
            let inside = smooth(phase, 0.0, edge) * (1.0 - smooth(phase, duty, duty + edge));
            (colour, opacity * inside)
        }
        Shape::Horizon(colour, (cx, cy), r) => {
            let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
            (colour, (r - d + 0.5).clamp(0.0, 1.0) * 0.85)
        }
        Shape::Dots(colour, spacing, r, opacity) => {
            let (dx, dy) = (
                (x / spacing).rem_euclid(1.0) - 0.5,
                (y / spacing).rem_euclid(1.0) - 0.5,
            );
            let d = (dx * dx + dy * dy).sqrt() * spacing;
            (colour, opacity * (r - d + 0.5).clamp(0.0, 1.0))
        }
        Shape::Panels(colour, count, opacity) => {
            let width = frame.width as f32 / count as f32;
            let k = (x / width) as u32;
            let inset = (x - k as f32 * width).min((k + 1) as f32 * width - x);
            let gap = frame.unit() * 0.012;
            let inside = (k % 2 == 1) as u8 as f32 * (inset - gap).clamp(0.0, 1.0);
            (colour, opacity * inside)
        }
    };
    *c = lerp3(*c, colour.map(|v| v as f32), alpha.clamp(0.0, 1.0));
}

fn smooth(x: f32, from: f32, to: f32) -> f32 {
    let t = ((x - from) / (to - from)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn lerp(a: Rgb, b: Rgb, t: f32) -> [f32; 3] {
    std::array::from_fn(|i| a[i] as f32 + (b[i] as f32 - a[i] as f32) * t)
}

fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    std::array::from_fn(|i| a[i] + (b[i] - a[i]) * t)
}

/// The product photo fitted inside `slot` (its whole picture kept), on a soft shadow.
fn place_product(image: &mut RgbImage, product: &RgbaImage, slot: Rect) {
    let (pw, ph) = product.dimensions();
    let scale = (slot.width as f32 / pw as f32).min(slot.height as f32 / ph as f32);
    let (w, h) = (
        ((pw as f32 * scale) as u32).max(1),
        ((ph as f32 * scale) as u32).max(1),
    );
    let fitted = imageops::resize(product, w, h, imageops::FilterType::CatmullRom);
    let x0 = slot.x + (slot.width as i32 - w as i32) / 2;
    let y0 = slot.y + (slot.height as i32 - h as i32) / 2;
    let mut shadow = image::GrayImage::new(w + 80, h + 80);
    for (x, y, p) in fitted.enumerate_pixels() {
        shadow.put_pixel(x + 40, y + 40, image::Luma([p.0[3]]));
    }
    let shadow = imageproc::filter::gaussian_blur_f32(&shadow, 14.0);
    let drop = (h as f32 * 0.04) as i32;
    for (x, y, a) in shadow.enumerate_pixels() {
        let (ix, iy) = (x0 + x as i32 - 40, y0 + y as i32 - 40 + drop);
        if let Some(pixel) = pixel_at(image, ix, iy) {
            let alpha = a.0[0] as f32 / 255.0 * 0.45;
            *pixel = Pixel(pixel.0.map(|v| (v as f32 * (1.0 - alpha)) as u8));
        }
    }
    for (x, y, p) in fitted.enumerate_pixels() {
        if let Some(pixel) = pixel_at(image, x0 + x as i32, y0 + y as i32) {
            let alpha = p.0[3] as f32 / 255.0;
            *pixel = Pixel(std::array::from_fn(|i| {
                (p.0[i] as f32 * alpha + pixel.0[i] as f32 * (1.0 - alpha)) as u8
            }));
        }
    }
}

fn pixel_at(image: &mut RgbImage, x: i32, y: i32) -> Option<&mut Pixel<u8>> {
    if x < 0 || y < 0 || x as u32 >= image.width() || y as u32 >= image.height() {
        return None;
    }
    Some(image.get_pixel_mut(x as u32, y as u32))
}

/// Film grain: a little seeded noise on every pixel.
fn grain(image: &mut RgbImage, rng: &mut Rng) {
    for pixel in image.pixels_mut() {
        let n = rng.i16(-5..=5);
        *pixel = Pixel(pixel.0.map(|v| (v as i16 + n).clamp(0, 255) as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        plan::{self, Request},
        spec::AspectRatio,
    };

    #[test]
    fn stills_are_the_frame_s_size_differ_by_beat_and_repeat_exactly() {
        for ratio in AspectRatio::ALL {
            let spec = plan::embedded(&Request {
                aspect_ratio: ratio,
                ..Request::new("30s luxury watch elegant sophisticated")
            });
            let stills: Vec<RgbImage> = (0..spec.beats.len())
                .map(|i| render(&spec, i, None))
                .collect();
            assert_eq!(stills[0].dimensions(), ratio.size());
            assert_eq!(stills[0], render(&spec, 0, None), "the same still twice");
            for pair in stills.windows(2) {
                let differing = pair[0]
                    .pixels()
                    .zip(pair[1].pixels())
                    .filter(|(a, b)| {
                        a.0.iter()
                            .zip(b.0)
                            .map(|(x, y)| x.abs_diff(y) as u32)
                            .sum::<u32>()
                            > 30
                    })
                    .count();
                let (w, h) = ratio.size();
                assert!(
                    differing > (w * h / 10) as usize,
                    "{ratio:?}: {differing} pixels differ"
                );
            }
        }
    }

    #[test]
    fn a_product_photo_sits_whole_inside_its_slot() {
        let spec = plan::embedded(&Request::new("15s Nike sneakers energetic urban"));
        let photo = RgbaImage::from_pixel(400, 300, image::Rgba([250, 10, 200, 255]));
        let still = render(&spec, 0, Some(&photo));
        let slot = Frame::new(spec.aspect_ratio).product_slot();
        let magenta = |p: &Pixel<u8>| p.0[0] > 200 && p.0[1] < 40 && p.0[2] > 160;
        let mut inside = 0;
        for (x, y, p) in still.enumerate_pixels() {
            if magenta(p) {
                let (x, y) = (x as i32, y as i32);
                assert!(x >= slot.x && y >= slot.y && x < slot.right() && y < slot.bottom());
                inside += 1;
            }
        }
        let fitted = (slot.width as f32 / 400.0).min(slot.height as f32 / 300.0);
        let expected = (400.0 * fitted * 300.0 * fitted) as i32;
        assert!(inside > expected * 9 / 10, "{inside} of {expected} pixels");
    }
}
