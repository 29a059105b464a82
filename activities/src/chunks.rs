//! The embedded clip maker: a still becomes a 5 s, 30 fps, 1280x720 H.264 clip whose motion
//! follows the beat's camera. A clip also leaves its last frame, which the next clip of the same
//! beat starts from.

use std::path::Path;

use slate_engine::StepError;

use crate::{beats::Camera, ffmpeg, motion, storage::MediaStore};

/// Renders the clip `clip_key` from the image `start_key`, and its last frame as `last_key`.
pub async fn render(
    store: &MediaStore,
    start_key: &str,
    camera: Camera,
    clip_key: &str,
    last_key: &str,
) -> Result<(), StepError> {
    let start = store.path(start_key).map_err(storage_error)?;
    let clip = store.scratch(clip_key).await.map_err(storage_error)?;
    let filter = format!("{},format=yuv420p", motion::zoompan(camera));
    let mut args = ffmpeg::args(["-loop", "1", "-i"]);
    args.push(start.into_os_string());
    args.extend(ffmpeg::args([
        "-vf",
        &filter,
        "-frames:v",
        &motion::FRAMES.to_string(),
    ]));
    args.extend(ffmpeg::args([
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "21",
    ]));
    args.extend(ffmpeg::args(["-g", "30", "-f", "mp4"]));
    args.push(clip.clone().into_os_string());
    ffmpeg::run(args).await?;
    last_frame(store, &clip, last_key).await?;
    store.commit(&clip, clip_key).await.map_err(storage_error)
}

/// Writes the clip's last frame as `last_key` (each decoded frame of its last 0.2 s overwrites
/// the one before).
async fn last_frame(store: &MediaStore, clip: &Path, last_key: &str) -> Result<(), StepError> {
    let last = store.scratch(last_key).await.map_err(storage_error)?;
    let mut args = ffmpeg::args(["-sseof", "-0.2", "-i"]);
    args.push(clip.as_os_str().to_owned());
    args.extend(ffmpeg::args(["-update", "1", "-f", "image2"]));
    args.push(last.clone().into_os_string());
    ffmpeg::run(args).await?;
    store.commit(&last, last_key).await.map_err(storage_error)
}

pub fn storage_error(error: crate::storage::StoreError) -> StepError {
    StepError::retryable("storage", error.to_string())
}
