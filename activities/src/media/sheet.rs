//! Contact sheets: frames sampled from a video, one row per beat, each row headed by the beat's
//! name and times, so that a whole ad can be seen at a glance in one PNG.

use std::path::Path;

use image::{imageops, Rgba, RgbaImage};
use slate_engine::StepError;

use crate::{
    design::{fonts::Typefaces, text::Setting},
    library::mood::Mood,
    media::ffmpeg,
};

/// A row of the sheet: a label and the span of the video it samples, in seconds.
pub struct Row {
    pub label: String,
    pub start: f32,
    pub end: f32,
}

/// The height of a frame on the sheet; the width follows the video's shape.
const THUMB_HEIGHT: u32 = 180;
const GAP: u32 = 6;
const LABEL_WIDTH: u32 = 190;
const BACKGROUND: Rgba<u8> = Rgba([18, 18, 22, 255]);

/// Writes a contact sheet of `video` to `out`: `per_row` frames evenly spread over each row's
/// span (in a scratch `folder`).
pub async fn contact_sheet(
    video: &Path,
    rows: &[Row],
    per_row: u32,
    folder: &Path,
    out: &Path,
) -> Result<(), StepError> {
    let mut frames: Vec<Vec<RgbaImage>> = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let mut line = Vec::with_capacity(per_row as usize);
        for k in 0..per_row {
            let at = row.start + (row.end - row.start) * (k as f32 + 0.5) / per_row as f32;
            let frame = folder.join(format!("sheet-{r:02}-{k:02}.png"));
            let mut args = ffmpeg::args(["-ss", &format!("{at:.3}"), "-i"]);
            args.push(video.as_os_str().to_owned());
            let scale = format!("scale=-2:{THUMB_HEIGHT}");
            args.extend(ffmpeg::args(["-frames:v", "1", "-vf", &scale]));
            args.push(frame.clone().into_os_string());
            ffmpeg::run(args).await?;
            let image = image::open(&frame)
                .map_err(|e| StepError::retryable("sheet", e.to_string()))?
                .to_rgba8();
            line.push(image);
        }
        frames.push(line);
    }
    let thumb_width = frames
        .first()
        .and_then(|line| line.first())
        .map_or(THUMB_HEIGHT, RgbaImage::width);
    let width = LABEL_WIDTH + per_row * (thumb_width + GAP) + GAP;
    let height = rows.len() as u32 * (THUMB_HEIGHT + GAP) + GAP;
    let mut sheet = RgbaImage::from_pixel(width, height, BACKGROUND);
    let faces = Typefaces::shared()?.of(Mood::Minimalist);
    let label = Setting {
        face: &faces.captions,
        size: 17.0,
    };
    let pad = label.pad() as i64;
    for (r, (row, line)) in rows.iter().zip(&frames).enumerate() {
        let y = GAP + r as u32 * (THUMB_HEIGHT + GAP);
        let times = format!("{:.0}-{:.0} s", row.start, row.end);
        for (i, text) in [row.label.as_str(), times.as_str()].iter().enumerate() {
            let drawn = label.draw(text, [225, 225, 230], 0.0);
            let top = (y + 50 + i as u32 * 26) as i64 - pad;
            imageops::overlay(&mut sheet, &drawn, 10 - pad, top);
        }
        for (k, frame) in line.iter().enumerate() {
            let x = LABEL_WIDTH + GAP + k as u32 * (thumb_width + GAP);
            imageops::replace(&mut sheet, frame, x as i64, y as i64);
        }
    }
    sheet
        .save(out)
        .map_err(|e| StepError::retryable("sheet", format!("{}: {e}", out.display())))
}
