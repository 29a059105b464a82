//! The layer drawn over each clip after the camera has moved: the beat's elements as
//! transparent images, their entrances and exits as ffmpeg overlay expressions in the clip's
//! time, and the transitions at the beat's edges (a fade through the ground for calm beats, a
//! wipe of the accent for medium ones, a cut for energetic ones). Everything is inside the clip,
//! so that re-making one beat never re-encodes another, and every clip stays exactly 5 s.

use std::{
    fmt::Write,
    path::{Path, PathBuf},
};

use image::{imageops, Rgba, RgbaImage};
use slate_engine::StepError;

use super::{
    fonts::{Faces, Typefaces},
    layout::{
        self, line_step, panel_padding, Content, Cue, Element, Inputs, FADE_IN, FADE_OUT, RISE,
    },
    palette::{luminance, Colours, Rgb},
    text::{over, Setting},
};
use crate::{
    library::beats::Energy,
    spec::{Spec, CHUNK_SECONDS},
};

/// How one beat gives way to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    Cut,
    /// Through the ground colour, over this many seconds on each side.
    Fade(f32),
    /// The accent colour sweeps across, over this many seconds on each side.
    Wipe(f32),
}

impl Transition {
    fn into_beat(energy: Energy) -> Self {
        match energy {
            Energy::Low => Transition::Fade(0.4),
            Energy::Medium => Transition::Wipe(0.35),
            Energy::High => Transition::Cut,
        }
    }

    /// How beat `index` of `spec` comes in and goes out. The video fades in from the ground and
    /// out to it; between beats, the incoming beat's energy decides, on both sides.
    pub fn of(spec: &Spec, index: usize) -> (Transition, Transition) {
        let enter = match index {
            0 => Transition::Fade(0.5),
            _ => Self::into_beat(spec.beats[index].energy),
        };
        let leave = match spec.beats.get(index + 1) {
            Some(next) => Self::into_beat(next.energy),
            None => Transition::Fade(0.6),
        };
        (enter, leave)
    }
}

/// How a beat's clips look: the layers over them, the frame's size, the colours and the
/// transitions at the beat's edges.
#[derive(Debug, Clone)]
pub struct Look {
    pub layers: Vec<(PathBuf, Element)>,
    pub size: (u32, u32),
    pub colours: Colours,
    pub enter: Transition,
    pub leave: Transition,
}

impl Look {
    /// Nothing over the picture, at 16:9: for beats planned before words were laid over clips.
    pub fn bare() -> Self {
        Self {
            layers: Vec::new(),
            size: crate::spec::AspectRatio::default().size(),
            colours: Colours::from_palette(&[], crate::library::mood::Mood::Informative),
            enter: Transition::Cut,
            leave: Transition::Cut,
        }
    }

    /// The overlay of clip `k` of the beat's `clips`.
    pub fn overlay(&self, k: usize, clips: usize) -> Overlay {
        Overlay {
            layers: self.layers.clone(),
            offset: (k as u32 * CHUNK_SECONDS) as f32,
            enter: (k == 0).then_some(self.enter),
            leave: (k + 1 == clips).then_some(self.leave),
            colours: self.colours,
        }
    }
}

/// The overlay of one clip.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Each element's image and the element.
    pub layers: Vec<(PathBuf, Element)>,
    /// Where the clip starts in its beat, in seconds.
    pub offset: f32,
    /// The transition the clip opens with (only a beat's first clip has one) and closes with
    /// (only its last).
    pub enter: Option<Transition>,
    pub leave: Option<Transition>,
    pub colours: Colours,
}

/// Lays out beat `index` of `spec` and draws each element into `folder` as a PNG: the layers of
/// the beat's clips. `cues` are the captions (none when they are off); `logo` is the client's.
pub fn beat_layers(
    spec: &Spec,
    index: usize,
    cues: &[Cue],
    logo: Option<&RgbaImage>,
    product_photo: bool,
    folder: &Path,
) -> Result<Vec<(PathBuf, Element)>, StepError> {
    let faces = Typefaces::shared()?.of(spec.style.mood);
    let colours = Colours::of(spec);
    let inputs = Inputs {
        faces,
        colours: &colours,
        cues,
        logo: logo.map(RgbaImage::dimensions),
        product_photo,
    };
    layout::beat(spec, index, &inputs)
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            let path = folder.join(format!("layer-{:02}-{i:02}.png", index + 1));
            draw(&element, faces, &colours, logo)
                .save_with_format(&path, image::ImageFormat::Png)
                .map_err(|e| StepError::retryable("render", format!("{}: {e}", path.display())))?;
            Ok((path, element))
        })
        .collect()
}

/// Draws `element` as the image it is overlaid as, exactly its rectangle's size.
pub fn draw(
    element: &Element,
    faces: &Faces,
    colours: &Colours,
    logo: Option<&RgbaImage>,
) -> RgbaImage {
    let (width, height) = (element.rect.width.max(1), element.rect.height.max(1));
    match &element.content {
        Content::Logo => match logo {
            Some(logo) => imageops::resize(logo, width, height, imageops::FilterType::Lanczos3),
            None => RgbaImage::new(width, height),
        },
        Content::Text {
            lines,
            face,
            size,
            colour,
            panel,
        } => {
            let setting = Setting {
                face: face.of(faces),
                size: *size,
            };
            let mut canvas = RgbaImage::new(width, height);
            if let Some((fill, opacity)) = panel {
                rounded(&mut canvas, *fill, *opacity, (*size * 0.45) as u32);
            }
            // Light text on a dark ground gets a soft shadow; dark text needs none.
            let shadow = match panel {
                None if luminance(*colour) > luminance(colours.ground) => 0.45,
                _ => 0.0,
            };
            let (_, py) = panel_padding(*size, panel.is_some());
            let step = line_step(setting);
            for (i, line) in lines.iter().enumerate() {
                let drawn = setting.draw(line, *colour, shadow);
                let x = (width as i64 - drawn.width() as i64) / 2;
                let y = py as i64 + step as i64 * i as i64;
                blend(&mut canvas, &drawn, x, y);
            }
            canvas
        }
    }
}

/// A rounded rectangle filling `canvas`.
fn rounded(canvas: &mut RgbaImage, fill: Rgb, opacity: f32, radius: u32) {
    let (w, h) = canvas.dimensions();
    let r = radius.min(w / 2).min(h / 2) as f32;
    for (x, y, pixel) in canvas.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let dx = (r - fx).max(fx - (w as f32 - r)).max(0.0);
        let dy = (r - fy).max(fy - (h as f32 - r)).max(0.0);
        let outside = (dx * dx + dy * dy).sqrt() - r;
        let coverage = (0.5 - outside).clamp(0.0, 1.0);
        let alpha = (opacity * coverage * 255.0).round() as u8;
        *pixel = Rgba([fill[0], fill[1], fill[2], alpha]);
    }
}

/// `top` over `canvas` at (`x`, `y`).
fn blend(canvas: &mut RgbaImage, top: &RgbaImage, x: i64, y: i64) {
    for (tx, ty, pixel) in top.enumerate_pixels() {
        let (cx, cy) = (x + tx as i64, y + ty as i64);
        if pixel.0[3] == 0 || cx < 0 || cy < 0 {
            continue;
        }
        let (cx, cy) = (cx as u32, cy as u32);
        if cx < canvas.width() && cy < canvas.height() {
            let under = *canvas.get_pixel(cx, cy);
            canvas.put_pixel(cx, cy, over(pixel.0, under));
        }
    }
}

/// `0xRRGGBB`, as ffmpeg reads a colour.
fn hex(c: Rgb) -> String {
    format!("0x{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

impl Overlay {
    /// The image inputs the graph reads, after the clip's own: one per layer seen in the clip.
    pub fn inputs(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        for (path, _) in &self.visible() {
            args.push("-i".into());
            args.push(path.clone().into_os_string());
        }
        args
    }

    /// The layers seen during the clip.
    fn visible(&self) -> Vec<(PathBuf, Element)> {
        let end = self.offset + CHUNK_SECONDS as f32;
        self.layers
            .iter()
            .filter(|(_, e)| e.enter < end && e.leave > self.offset)
            .cloned()
            .collect()
    }

    /// The filter graph from the video labelled `[base]` to `[out]`, whose layers are inputs
    /// `first_input` onwards; the transitions are left out when `text_only`.
    pub fn graph(&self, first_input: usize, size: (u32, u32), text_only: bool) -> String {
        let mut graph = String::new();
        let mut current = "base".to_owned();
        let clip = CHUNK_SECONDS as f32;
        for (i, (_, element)) in self.visible().iter().enumerate() {
            let (enter, leave) = (element.enter - self.offset, element.leave - self.offset);
            // Each image is decoded once and repeated as the frames of the clip; the layers
            // are blended in YUV, as the picture is.
            let mut fades =
                String::from("format=yuva420p,loop=loop=-1:size=1:start=0,setpts=N/30/TB");
            if enter >= 0.0 {
                let _ = write!(fades, ",fade=t=in:st={enter:.3}:d={FADE_IN}:alpha=1");
            }
            if leave <= clip {
                let start = (leave - FADE_OUT).max(0.0);
                let _ = write!(fades, ",fade=t=out:st={start:.3}:d={FADE_OUT}:alpha=1");
            }
            let (x, y, rise) = (element.rect.x, element.rect.y, element.rise);
            let _ = write!(
                graph,
                "[{input}:v]{fades}[l{i}];[{current}][l{i}]overlay=x={x}:\
                 y='{y}+{rise}*pow(1-clip((t-({enter:.3}))/{RISE},0,1),3)':\
                 enable='between(t,{from:.3},{to:.3})'[v{i}];",
                input = first_input + i,
                from = enter.max(0.0),
                to = leave.min(clip),
            );
            current = format!("v{i}");
        }
        if !text_only {
            if let Some(enter) = self.enter {
                current = self.transition(&mut graph, &current, enter, true, size);
            }
            if let Some(leave) = self.leave {
                current = self.transition(&mut graph, &current, leave, false, size);
            }
        }
        let _ = write!(graph, "[{current}]null[out]");
        graph
    }

    fn transition(
        &self,
        graph: &mut String,
        from: &str,
        transition: Transition,
        entering: bool,
        (w, h): (u32, u32),
    ) -> String {
        let clip = CHUNK_SECONDS as f32;
        let label = if entering { "enter" } else { "leave" };
        match transition {
            Transition::Cut => return from.to_owned(),
            Transition::Fade(d) => {
                let (kind, start) = if entering {
                    ("in", 0.0)
                } else {
                    ("out", clip - d)
                };
                let _ = write!(
                    graph,
                    "[{from}]fade=t={kind}:st={start:.3}:d={d}:color={}[{label}];",
                    hex(self.colours.ground)
                );
            }
            Transition::Wipe(d) => {
                let (x, enable) = if entering {
                    (format!("-w*clip(t/{d},0,1)"), format!("lte(t,{d})"))
                } else {
                    let start = clip - d;
                    (
                        format!("w*(1-clip((t-{start:.3})/{d},0,1))"),
                        format!("gte(t,{start:.3})"),
                    )
                };
                let _ = write!(
                    graph,
                    "color=c={}:s={w}x{h}:r=30:d={clip}[{label}panel];\
                     [{from}][{label}panel]overlay=x='{x}':y=0:enable='{enable}'[{label}];",
                    hex(self.colours.accent)
                );
            }
        }
        label.to_owned()
    }
}
