//! The media makers, offline: the clips' camera motion and encoding, the voice-over, the
//! composer's soundtrack, stitching, the final mix, and the ffmpeg runner they share.

pub mod chunks;
pub mod ffmpeg;
pub mod mix;
pub mod motion;
pub mod music;
pub mod sheet;
pub mod stitch;
pub mod voice;
pub mod wav;
