//! The embedded media makers, offline: the storyboard artist's stills, the clips' camera motion,
//! the composer's soundtrack, stitching, and the ffmpeg runner they share.

pub mod chunks;
pub mod ffmpeg;
pub mod motion;
pub mod music;
pub mod stitch;
pub mod storyboard;
