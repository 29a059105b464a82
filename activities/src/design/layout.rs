//! Where each beat's words go, and when. Every element is placed inside the title-safe area,
//! the central 90% of the frame (for 9:16 also clear of the top 10% and the bottom 20%, where
//! social apps draw their buttons), along its whole entrance: a headline too long for its box
//! is set smaller. Beats show their headline (a reveal also what the product is); the last
//! beat is the end card (the logo if there is one, the name, the tagline and the call to
//! action); captions sit at the foot of the safe area, above everything else's box.

use super::{
    fonts::{Face, Faces},
    palette::{Colours, Rgb},
    text::Setting,
};
use crate::spec::{AspectRatio, Spec};

/// A rectangle of the frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn right(&self) -> i32 {
        self.x + self.width as i32
    }

    pub fn bottom(&self) -> i32 {
        self.y + self.height as i32
    }

    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.right() <= self.right()
            && other.bottom() <= self.bottom()
    }
}

/// The frame a video is made in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub ratio: AspectRatio,
    pub width: u32,
    pub height: u32,
}

impl Frame {
    pub fn new(ratio: AspectRatio) -> Self {
        let (width, height) = ratio.size();
        Self {
            ratio,
            width,
            height,
        }
    }

    /// The shorter side: sizes are fractions of it, so they read alike in every shape.
    pub fn unit(&self) -> f32 {
        self.width.min(self.height) as f32
    }

    /// The title-safe area.
    pub fn safe(&self) -> Rect {
        let (w, h) = (self.width as f32, self.height as f32);
        let (top, bottom) = match self.ratio {
            AspectRatio::Portrait => (0.10, 0.80),
            _ => (0.05, 0.95),
        };
        rect(w * 0.05, h * top, w * 0.95, h * bottom)
    }

    /// Where a product photo goes in the still, clear of the text.
    pub fn product_slot(&self) -> Rect {
        let (w, h) = (self.width as f32, self.height as f32);
        match self.ratio {
            AspectRatio::Landscape => rect(w * 0.55, h * 0.12, w * 0.93, h * 0.80),
            AspectRatio::Portrait => rect(w * 0.14, h * 0.12, w * 0.86, h * 0.44),
            AspectRatio::Square => rect(w * 0.22, h * 0.08, w * 0.78, h * 0.46),
        }
    }
}

fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Rect {
    let (x, y) = (x0.ceil() as i32, y0.ceil() as i32);
    Rect {
        x,
        y,
        width: (x1.floor() as i32 - x).max(0) as u32,
        height: (y1.floor() as i32 - y).max(0) as u32,
    }
}

/// Words spoken in a beat, and when (seconds from the beat's start).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cue {
    pub start: f32,
    pub end: f32,
    pub text: String,
}

/// Which face an element is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceRole {
    Display,
    Body,
    Captions,
}

impl FaceRole {
    pub fn of<'a>(&self, faces: &'a Faces) -> &'a Face {
        match self {
            FaceRole::Display => &faces.display,
            FaceRole::Body => &faces.body,
            FaceRole::Captions => &faces.captions,
        }
    }
}

/// What an element shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Lines of text, centred on each other, on a rounded panel when `panel` is set.
    Text {
        lines: Vec<String>,
        face: FaceRole,
        size: f32,
        colour: Rgb,
        /// The panel's colour and opacity.
        panel: Option<(Rgb, f32)>,
    },
    /// The client's logo, fitted to the rectangle.
    Logo,
}

/// What an element is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Kicker,
    Headline,
    Tagline,
    Action,
    Logo,
    Caption,
}

/// One thing on screen in a beat.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub part: Part,
    pub content: Content,
    /// Where it rests.
    pub rect: Rect,
    /// How far below its rest it enters, rising into place.
    pub rise: u32,
    /// When it starts to appear and when it has gone, in seconds from the beat's start.
    pub enter: f32,
    pub leave: f32,
}

impl Element {
    /// Every place the element covers on its way in.
    pub fn reach(&self) -> Rect {
        Rect {
            height: self.rect.height + self.rise,
            ..self.rect
        }
    }
}

/// How long an element takes to appear and to go.
pub const FADE_IN: f32 = 0.45;
pub const FADE_OUT: f32 = 0.35;
/// How long a line takes to rise into place, and how far it rises, as a fraction of the
/// frame's shorter side.
pub const RISE: f32 = 0.6;
const RISE_SHARE: f32 = 0.035;

/// What a beat needs laid out besides the spec.
pub struct Inputs<'a> {
    pub faces: &'a Faces,
    pub colours: &'a Colours,
    /// The captions, when they are on.
    pub cues: &'a [Cue],
    /// The logo's width and height, when the client gave one.
    pub logo: Option<(u32, u32)>,
    /// Whether the still shows a product photo, which the text keeps clear of.
    pub product_photo: bool,
}

/// The elements of beat `index` of `spec`.
pub fn beat(spec: &Spec, index: usize, inputs: &Inputs) -> Vec<Element> {
    let frame = Frame::new(spec.aspect_ratio);
    let beat = &spec.beats[index];
    let safe = frame.safe();
    let mut elements = captions(&frame, inputs);
    let floor = elements
        .iter()
        .map(|e| e.rect.y)
        .min()
        .map_or(safe.bottom(), |top| top - (frame.unit() * 0.03) as i32);
    let mut region = Rect {
        height: (floor - safe.y).max(0) as u32,
        ..safe
    };
    let seconds = beat.duration as f32;
    if index + 1 == spec.beats.len() {
        elements.extend(end_card(spec, &frame, region, inputs, seconds));
        return elements;
    }
    let landscape = frame.ratio == AspectRatio::Landscape;
    if inputs.product_photo {
        let slot = frame.product_slot();
        region = if landscape {
            Rect {
                width: (slot.x - region.x - (frame.unit() * 0.04) as i32).max(0) as u32,
                ..region
            }
        } else {
            let top = slot.bottom() + (frame.unit() * 0.03) as i32;
            Rect {
                y: top,
                height: (region.bottom() - top).max(0) as u32,
                ..region
            }
        };
    }
    let headline = if beat.headline.is_empty() && index == 0 {
        spec.product.name.clone()
    } else {
        beat.headline.clone()
    };
    let kicker = (index == 0 && !spec.product.noun.is_empty()).then(|| spec.product.noun.clone());
    let width = if landscape && !inputs.product_photo {
        region.width as f32 * 0.68
    } else {
        region.width as f32
    };
    let block = Block {
        kicker,
        headline,
        size: if frame.ratio == AspectRatio::Portrait {
            0.15
        } else {
            0.13
        },
        extra: Vec::new(),
        align: if landscape {
            Align::Left
        } else {
            Align::Centre
        },
        width,
        enter: 0.35,
        leave: seconds - 0.45,
    };
    elements.extend(block.place(&frame, region, inputs));
    elements
}

/// The captions, at the foot of the safe area.
fn captions(frame: &Frame, inputs: &Inputs) -> Vec<Element> {
    let safe = frame.safe();
    let face = &inputs.faces.captions;
    let size = frame.unit() * 0.048;
    let setting = Setting { face, size };
    let width = safe.width as f32 * 0.8;
    inputs
        .cues
        .iter()
        .map(|cue| {
            let lines = shrink_to(setting, &cue.text, width, 2);
            let (w, h) = text_extent(&lines.lines, lines.setting, true);
            let rect = Rect {
                x: safe.x + (safe.width as i32 - w as i32) / 2,
                y: safe.bottom() - h as i32,
                width: w,
                height: h,
            };
            Element {
                part: Part::Caption,
                content: Content::Text {
                    lines: lines.lines,
                    face: FaceRole::Captions,
                    size: lines.setting.size,
                    colour: [255, 255, 255],
                    panel: Some(([12, 12, 14], 0.62)),
                },
                rect,
                rise: 0,
                enter: cue.start,
                leave: cue.end + 0.1,
            }
        })
        .collect()
}

/// The end card: the logo, the name, the tagline and the call to action, centred.
fn end_card(
    spec: &Spec,
    frame: &Frame,
    region: Rect,
    inputs: &Inputs,
    seconds: f32,
) -> Vec<Element> {
    let beat = spec.beats.last().expect("a spec has beats");
    let headline = if beat.headline.is_empty() {
        spec.product.name.clone()
    } else {
        beat.headline.clone()
    };
    let unit = frame.unit();
    let mut extra = Vec::new();
    if !spec.copy.tagline.is_empty() {
        extra.push(Extra::Line {
            text: spec.copy.tagline.clone(),
            face: FaceRole::Body,
            size: unit * 0.05,
        });
    }
    if !spec.copy.call_to_action.is_empty() {
        extra.push(Extra::Button {
            text: spec.copy.call_to_action.clone(),
            size: unit * 0.046,
        });
    }
    let block = Block {
        kicker: None,
        headline,
        size: 0.17,
        extra,
        align: Align::Centre,
        width: region.width as f32 * 0.9,
        enter: 0.3,
        leave: seconds,
    };
    let mut elements = Vec::new();
    let mut region = region;
    if let Some((w, h)) = inputs.logo {
        let max_h = unit * 0.16;
        let max_w = region.width as f32 * 0.4;
        let scale = (max_h / h as f32).min(max_w / w as f32);
        let (lw, lh) = ((w as f32 * scale) as u32, (h as f32 * scale) as u32);
        let gap = (unit * 0.04) as i32;
        let text_height = block.height(frame, inputs);
        let total = lh as i32 + gap + text_height as i32;
        let top = region.y + (region.height as i32 - total).max(0) / 2;
        elements.push(Element {
            part: Part::Logo,
            content: Content::Logo,
            rect: Rect {
                x: region.x + (region.width as i32 - lw as i32) / 2,
                y: top,
                width: lw,
                height: lh,
            },
            rise: 0,
            enter: 0.15,
            leave: seconds,
        });
        let below = top + lh as i32 + gap;
        region = Rect {
            y: below,
            height: (region.bottom() - below).max(0) as u32,
            ..region
        };
    }
    elements.extend(block.place(frame, region, inputs));
    elements
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Align {
    Left,
    Centre,
}

/// A line under the headline.
enum Extra {
    Line {
        text: String,
        face: FaceRole,
        size: f32,
    },
    Button {
        text: String,
        size: f32,
    },
}

/// A headline with what goes above and below it, set to fit a region.
struct Block {
    kicker: Option<String>,
    headline: String,
    /// The headline's size at most, as a fraction of the frame's shorter side.
    size: f32,
    extra: Vec<Extra>,
    align: Align,
    /// The widest a line may be.
    width: f32,
    enter: f32,
    leave: f32,
}

/// Lines set in one setting.
struct Set<'a> {
    lines: Vec<String>,
    setting: Setting<'a>,
}

/// `text` set in `setting` in at most `max_lines` lines of `width`, smaller if need be.
fn shrink_to<'a>(setting: Setting<'a>, text: &str, width: f32, max_lines: usize) -> Set<'a> {
    let mut setting = setting;
    loop {
        let lines = setting.wrap(text, width - 2.0 * setting.pad() as f32);
        let fits =
            lines.len() <= max_lines && lines.iter().all(|l| setting.extent(l).0 as f32 <= width);
        if fits || setting.size < 12.0 {
            return Set { lines, setting };
        }
        setting.size *= 0.92;
    }
}

/// The gap between lines set together, as a fraction of their size.
const LEADING: f32 = 1.08;

/// The size of `lines` drawn together (on a panel when `panel`).
pub fn text_extent(lines: &[String], setting: Setting, panel: bool) -> (u32, u32) {
    let width = lines.iter().map(|l| setting.extent(l).0).max().unwrap_or(0);
    let one = setting.extent("Hg").1;
    let step = (setting.line_height() * LEADING).round() as u32;
    let height = one + step * lines.len().saturating_sub(1) as u32;
    let (px, py) = panel_padding(setting.size, panel);
    (width + 2 * px, height + 2 * py)
}

/// The space between a panel's edge and its text.
pub fn panel_padding(size: f32, panel: bool) -> (u32, u32) {
    if panel {
        ((size * 0.35) as u32, (size * 0.05) as u32)
    } else {
        (0, 0)
    }
}

/// The step from one line to the next when set together.
pub fn line_step(setting: Setting) -> u32 {
    (setting.line_height() * LEADING).round() as u32
}

/// An element of a block before it is placed: what it shows, its image's size, the transparent
/// margin around its ink, and the space before the next one.
struct Item {
    part: Part,
    content: Content,
    size: (u32, u32),
    pad: u32,
    after: i32,
    rise: u32,
    enter: f32,
}

impl Item {
    fn ink_height(&self) -> i32 {
        self.size.1 as i32 - 2 * self.pad as i32
    }
}

/// The height of `items` stacked: their ink and the spaces between, with the outer margins.
fn stacked(items: &[Item]) -> u32 {
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        return 0;
    };
    let inner: i32 = items.iter().map(Item::ink_height).sum::<i32>()
        + items[..items.len() - 1]
            .iter()
            .map(|i| i.after)
            .sum::<i32>();
    (first.pad as i32 + inner + last.pad as i32).max(0) as u32
}

impl Block {
    /// The headline's setting and lines, as large as fits `region_height` with the rest.
    fn settings<'a>(&self, frame: &Frame, inputs: &'a Inputs, region_height: f32) -> Set<'a> {
        let display = &inputs.faces.display;
        let mut size = frame.unit() * self.size;
        loop {
            let set = shrink_to(
                Setting {
                    face: display,
                    size,
                },
                &self.headline,
                self.width,
                3,
            );
            let height = stacked(&self.items(frame, inputs, &set));
            if height as f32 <= region_height || set.setting.size < 14.0 {
                return set;
            }
            size = set.setting.size * 0.92;
        }
    }

    fn height(&self, frame: &Frame, inputs: &Inputs) -> u32 {
        let set = self.settings(frame, inputs, f32::MAX);
        stacked(&self.items(frame, inputs, &set))
    }

    /// The block's items, top to bottom, with `headline` set as given.
    fn items(&self, frame: &Frame, inputs: &Inputs, headline: &Set) -> Vec<Item> {
        let unit = frame.unit();
        let gap = (unit * 0.03) as i32;
        let rise = (unit * RISE_SHARE) as u32;
        let colours = inputs.colours;
        let mut items = Vec::new();
        let mut enter = self.enter;
        if let Some(kicker) = &self.kicker {
            let setting = Setting {
                face: &inputs.faces.body,
                size: unit * 0.042,
            };
            items.push(Item {
                part: Part::Kicker,
                content: Content::Text {
                    lines: vec![kicker.clone()],
                    face: FaceRole::Body,
                    size: setting.size,
                    colour: colours.highlight(),
                    panel: None,
                },
                size: setting.extent(kicker),
                pad: setting.pad(),
                after: gap / 2,
                rise,
                enter,
            });
            enter += 0.12;
        }
        let leading = (headline.setting.size * 1.04) as i32;
        for line in &headline.lines {
            let size = headline.setting.extent(line);
            let ink = size.1 as i32 - 2 * headline.setting.pad() as i32;
            items.push(Item {
                part: Part::Headline,
                content: Content::Text {
                    lines: vec![line.clone()],
                    face: FaceRole::Display,
                    size: headline.setting.size,
                    colour: colours.ink,
                    panel: None,
                },
                size,
                pad: headline.setting.pad(),
                after: leading - ink,
                rise,
                enter,
            });
            enter += 0.1;
        }
        if let Some(last) = items.last_mut() {
            last.after = gap;
        }
        for extra in &self.extra {
            enter += 0.35;
            let setting = Self::extra_setting(extra, inputs);
            let lines = self.extra_lines(extra, inputs);
            let (part, face, colour, panel, pad) = match extra {
                Extra::Line { face, .. } => {
                    (Part::Tagline, *face, colours.ink, None, setting.pad())
                }
                Extra::Button { .. } => {
                    let (fill, text) = colours.button();
                    (Part::Action, FaceRole::Captions, text, Some((fill, 1.0)), 0)
                }
            };
            items.push(Item {
                part,
                size: text_extent(&lines, setting, panel.is_some()),
                content: Content::Text {
                    lines,
                    face,
                    size: setting.size,
                    colour,
                    panel,
                },
                pad,
                after: gap,
                rise: rise / 2,
                enter,
            });
        }
        items
    }

    fn extra_setting<'a>(extra: &Extra, inputs: &'a Inputs) -> Setting<'a> {
        match extra {
            Extra::Line { face, size, .. } => Setting {
                face: face.of(inputs.faces),
                size: *size,
            },
            Extra::Button { size, .. } => Setting {
                face: &inputs.faces.captions,
                size: *size,
            },
        }
    }

    fn extra_lines(&self, extra: &Extra, inputs: &Inputs) -> Vec<String> {
        let setting = Self::extra_setting(extra, inputs);
        let text = match extra {
            Extra::Line { text, .. } | Extra::Button { text, .. } => text,
        };
        let (px, _) = panel_padding(setting.size, matches!(extra, Extra::Button { .. }));
        setting.wrap(text, self.width - 2.0 * (setting.pad() + px) as f32)
    }

    /// The block's elements, centred vertically in `region`.
    fn place(&self, frame: &Frame, region: Rect, inputs: &Inputs) -> Vec<Element> {
        // The block keeps clear of the region's foot all the way in, as its lines rise.
        let room = region
            .height
            .saturating_sub((frame.unit() * RISE_SHARE) as u32);
        let headline = self.settings(frame, inputs, room as f32);
        let items = self.items(frame, inputs, &headline);
        let height = stacked(&items) as i32;
        let top = region.y + (room as i32 - height).max(0) / 2;
        let mut ink = top + items.first().map_or(0, |i| i.pad as i32);
        items
            .into_iter()
            .map(|item| {
                let (width, height) = item.size;
                let x = match self.align {
                    Align::Left => region.x,
                    Align::Centre => region.x + (region.width as i32 - width as i32) / 2,
                };
                let rect = Rect {
                    x,
                    y: ink - item.pad as i32,
                    width,
                    height,
                };
                ink += item.ink_height() + item.after;
                Element {
                    part: item.part,
                    content: item.content,
                    rect,
                    rise: item.rise,
                    enter: item.enter,
                    leave: self.leave,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        design::fonts::Typefaces,
        library::archetypes::ARCHETYPES,
        plan::{self, Request},
    };

    /// The transparent margin around an element's ink.
    fn pad(element: &Element) -> i32 {
        match &element.content {
            Content::Text { size, .. } => (size * 0.2).ceil() as i32 + 4,
            Content::Logo => 0,
        }
    }

    /// Plans for every archetype and ratio, with long words to stress the layout.
    fn plans() -> Vec<Spec> {
        let prompts = [
            "30s ad for Ember, a smart mug that keeps coffee hot for hours, ember.com",
            "Supercalifragilisticexpialidocious headphones with extraordinarily long names",
        ];
        let mut specs = Vec::new();
        for prompt in prompts {
            for archetype in ARCHETYPES {
                for ratio in AspectRatio::ALL {
                    specs.push(plan::embedded(&Request {
                        archetype: Some(archetype.id.to_owned()),
                        aspect_ratio: ratio,
                        ..Request::new(prompt)
                    }));
                }
            }
        }
        specs
    }

    #[test]
    fn every_text_box_of_every_archetype_and_ratio_stays_title_safe_all_the_way_in() {
        let faces = Typefaces::shared().unwrap();
        let long_cue = Cue {
            start: 0.5,
            end: 2.0,
            text: "It keeps your coffee at exactly the temperature you like it for hours".into(),
        };
        for spec in plans() {
            let frame = Frame::new(spec.aspect_ratio);
            let safe = frame.safe();
            let colours = Colours::of(&spec);
            for logo in [None, Some((800, 200)), Some((300, 900))] {
                for product_photo in [false, true] {
                    for index in 0..spec.beats.len() {
                        let inputs = Inputs {
                            faces: faces.of(spec.style.mood),
                            colours: &colours,
                            cues: std::slice::from_ref(&long_cue),
                            logo,
                            product_photo,
                        };
                        let elements = beat(&spec, index, &inputs);
                        assert!(elements.len() >= 2, "{} beat {index}", spec.template);
                        for element in &elements {
                            assert!(
                                safe.contains(&element.reach()),
                                "{} {:?} beat {index}: {element:?} leaves {safe:?}",
                                spec.template,
                                spec.aspect_ratio
                            );
                        }
                        let (captions, others): (Vec<&Element>, Vec<&Element>) =
                            elements.iter().partition(|e| e.part == Part::Caption);
                        for a in &captions {
                            for b in &others {
                                let apart = b.reach().bottom() <= a.rect.y
                                    || a.rect.right() <= b.rect.x
                                    || b.rect.right() <= a.rect.x;
                                assert!(
                                    apart,
                                    "{:?} beat {index}: {b:?} overlaps the caption {a:?}",
                                    spec.aspect_ratio
                                );
                            }
                        }
                        let mut rests: Vec<&Element> = others.clone();
                        rests.sort_by_key(|e| e.rect.y);
                        for pair in rests.windows(2) {
                            let (a, b) = (pair[0], pair[1]);
                            let (pa, pb) = (pad(a), pad(b));
                            assert!(
                                a.rect.bottom() - pa <= b.rect.y + pb,
                                "{:?} beat {index}: {a:?} overlaps {b:?}",
                                spec.aspect_ratio
                            );
                        }
                    }
                }
            }
        }
    }
}
