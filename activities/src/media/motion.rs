//! Camera movement as motion: the zoompan expressions that move a still the way a beat's camera
//! moves. Dolly and push in zoom in; pans and tracking shots move sideways; cranes move up or
//! down; orbits and handheld shots sway slowly; whip pans and fast cuts move fast; a reveal pulls
//! back; static shots hold.

use crate::{library::beats::Camera, spec::FPS};

/// Frames in a clip.
pub const FRAMES: u32 = crate::spec::CHUNK_SECONDS * FPS;

/// The zoompan filter for `camera`, making frames of `size` from a still of that size (scaled
/// up by half first, so that a moving frame keeps its detail).
pub fn zoompan(camera: Camera, (width, height): (u32, u32)) -> String {
    let n = FRAMES;
    let centre_x = "iw/2-(iw/zoom/2)";
    let centre_y = "ih/2-(ih/zoom/2)";
    let (z, x, y) = match camera {
        Camera::SlowDollyIn | Camera::SlowPushIn => {
            (format!("1+0.18*on/{n}"), centre_x.into(), centre_y.into())
        }
        Camera::PushIn => (format!("1+0.35*on/{n}"), centre_x.into(), centre_y.into()),
        Camera::SlowPan | Camera::PanAcross | Camera::TrackingShot => (
            "1.2".into(),
            format!("(iw-iw/zoom)*on/{n}"),
            centre_y.into(),
        ),
        Camera::CraneUp => (
            "1.2".into(),
            centre_x.into(),
            format!("(ih-ih/zoom)*(1-on/{n})"),
        ),
        Camera::CraneDown => (
            "1.2".into(),
            centre_x.into(),
            format!("(ih-ih/zoom)*on/{n}"),
        ),
        Camera::SlowOrbit | Camera::HandheldFollow => (
            "1.15".into(),
            format!("(iw-iw/zoom)*(0.5+0.4*sin(2*PI*on/{n}))"),
            format!("(ih-ih/zoom)*(0.5+0.3*sin(4*PI*on/{n}))"),
        ),
        Camera::WhipPan | Camera::FastCuts => (
            "1.25".into(),
            "(iw-iw/zoom)*(0.5+0.5*sin(2*PI*on/20))".into(),
            "(ih-ih/zoom)*(0.5+0.2*sin(2*PI*on/14))".into(),
        ),
        Camera::Reveal => (
            format!("1.35-0.35*on/{n}"),
            centre_x.into(),
            centre_y.into(),
        ),
        Camera::Static | Camera::StaticHold => ("1".into(), "0".into(), "0".into()),
    };
    let (big_w, big_h) = (width * 3 / 2, height * 3 / 2);
    format!(
        "scale={big_w}:{big_h},zoompan=z='{z}':x='{x}':y='{y}':d={n}:s={width}x{height}:fps={FPS}"
    )
}
