//! Clips. The embedded clip maker: a still becomes a 5 s, 30 fps, 1280x720 H.264 clip whose motion
//! follows the beat's camera. A clip also leaves its last frame, which the next clip of the same
//! beat starts from. Clips and stills made by cloud models are fitted to the same format. Every
//! function reads its inputs from the store and writes its outputs to it, working in the
//! attempt's [`Scratch`] folder.

use std::path::{Path, PathBuf};

use slate_engine::StepError;

use crate::{
    library::beats::Camera,
    media::ffmpeg,
    media::motion,
    spec::{CHUNK_SECONDS, FPS, HEIGHT, WIDTH},
    storage::Scratch,
};

/// Renders the clip `clip_key` from the image `start_key`, and its last frame as `last_key`.
pub async fn render(
    scratch: &Scratch,
    start_key: &str,
    camera: Camera,
    clip_key: &str,
    last_key: &str,
) -> Result<(), StepError> {
    let start = scratch.fetch(start_key).await?;
    let filter = format!("{},format=yuv420p", motion::zoompan(camera));
    let mut input = ffmpeg::args(["-loop", "1", "-i"]);
    input.push(start.into_os_string());
    encode(scratch, input, &filter, clip_key, last_key).await
}

/// Where the attempt makes the file it will store as `key`.
pub(crate) fn output(scratch: &Scratch, key: &str) -> PathBuf {
    scratch.path(&format!("out-{}", key.replace('/', "_")))
}

/// Encodes `input` through `filter` into the clip `clip_key` (150 frames of H.264, no sound),
/// and leaves its last frame as `last_key`.
async fn encode(
    scratch: &Scratch,
    mut args: Vec<std::ffi::OsString>,
    filter: &str,
    clip_key: &str,
    last_key: &str,
) -> Result<(), StepError> {
    let clip = output(scratch, clip_key);
    let frames = motion::FRAMES.to_string();
    args.extend(ffmpeg::args(["-vf", filter, "-frames:v", &frames, "-an"]));
    args.extend(ffmpeg::args([
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "21",
    ]));
    args.extend(ffmpeg::args(["-g", "30", "-f", "mp4"]));
    args.push(clip.clone().into_os_string());
    ffmpeg::run(args).await?;
    last_frame(scratch, &clip, last_key).await?;
    Ok(scratch.upload(&clip, clip_key).await?)
}

/// Stores the clip's last frame as `last_key` (each decoded frame of its last 0.2 s overwrites
/// the one before).
async fn last_frame(scratch: &Scratch, clip: &Path, last_key: &str) -> Result<(), StepError> {
    let last = output(scratch, last_key);
    let mut args = ffmpeg::args(["-sseof", "-0.2", "-i"]);
    args.push(clip.as_os_str().to_owned());
    args.extend(ffmpeg::args(["-update", "1", "-f", "image2"]));
    args.push(last.clone().into_os_string());
    ffmpeg::run(args).await?;
    Ok(scratch.upload(&last, last_key).await?)
}

/// Fits a clip made elsewhere to the pipeline's format (1280x720, 30 fps, exactly 5 s, H.264
/// without sound; a short clip holds its last frame), and leaves its last frame as `last_key`.
pub async fn normalize(
    scratch: &Scratch,
    source_key: &str,
    clip_key: &str,
    last_key: &str,
) -> Result<(), StepError> {
    let source = scratch.fetch(source_key).await?;
    let filter = format!(
        "scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,crop={WIDTH}:{HEIGHT},\
         fps={FPS},tpad=stop_mode=clone:stop_duration={CHUNK_SECONDS},format=yuv420p"
    );
    let mut input = ffmpeg::args(["-i"]);
    input.push(source.into_os_string());
    encode(scratch, input, &filter, clip_key, last_key).await
}

/// Fits an image made elsewhere to a 1280x720 PNG still (scaled to cover, then cropped).
pub async fn fit_still(
    scratch: &Scratch,
    source_key: &str,
    still_key: &str,
) -> Result<(), StepError> {
    let source = scratch.fetch(source_key).await?;
    let still = output(scratch, still_key);
    let filter = format!(
        "scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,crop={WIDTH}:{HEIGHT}"
    );
    let mut args = ffmpeg::args(["-i"]);
    args.push(source.into_os_string());
    args.extend(ffmpeg::args([
        "-vf",
        &filter,
        "-frames:v",
        "1",
        "-f",
        "image2",
        "-c:v",
        "png",
    ]));
    args.push(still.clone().into_os_string());
    ffmpeg::run(args).await?;
    Ok(scratch.upload(&still, still_key).await?)
}

/// The image `key` as a JPEG (quality 4 of ffmpeg's 2 to 31 scale), the form a cloud model's first
/// frame is sent in: a 1280x720 still is then well under the size that may go inline.
pub async fn jpeg(scratch: &Scratch, key: &str) -> Result<Vec<u8>, StepError> {
    let out = scratch.path(&format!("jpeg-{}.jpg", key.replace('/', "_")));
    let mut args = ffmpeg::args(["-i"]);
    args.push(scratch.fetch(key).await?.into_os_string());
    args.extend(ffmpeg::args([
        "-frames:v",
        "1",
        "-q:v",
        "4",
        "-f",
        "image2",
        "-c:v",
        "mjpeg",
    ]));
    args.push(out.clone().into_os_string());
    ffmpeg::run(args).await?;
    tokio::fs::read(&out)
        .await
        .map_err(|e| StepError::retryable("storage", e.to_string()))
}

#[cfg(test)]
mod tests {
    use futures::future::join_all;
    use image::RgbImage;

    use super::*;
    use crate::{
        library::beats::LIBRARY,
        media::storyboard,
        plan::{self, Request},
        storage::{MediaStore, ScratchSpace},
    };

    /// How far apart two frames are, as the mean difference of their pixels.
    fn distance(a: &RgbImage, b: &RgbImage) -> f64 {
        let total: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| x.abs_diff(*y) as u64)
            .sum();
        total as f64 / a.as_raw().len() as f64
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_camera_moves_the_still_as_it_should_and_static_ones_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::local(dir.path()).unwrap();
        let space = ScratchSpace::in_temp_dir().unwrap();
        let spec = plan::embedded(&Request::new("15s Nike sneakers energetic urban"));
        let font = storyboard::load_font().unwrap();
        store
            .put("still.png", storyboard::render(&spec, 0, &font))
            .await
            .unwrap();
        let still = image::open(dir.path().join("still.png")).unwrap().to_rgb8();
        let renders = LIBRARY.iter().map(|beat| {
            let (store, space) = (store.clone(), space.clone());
            async move {
                let scratch = space.attempt(&store).unwrap();
                let (clip, last) = (format!("{}.mp4", beat.id), format!("{}.png", beat.id));
                render(&scratch, "still.png", beat.camera, &clip, &last)
                    .await
                    .unwrap();
                let last = store.get(&last).await.unwrap();
                (
                    beat.camera,
                    image::load_from_memory(&last).unwrap().to_rgb8(),
                )
            }
        });
        for (camera, last) in join_all(renders).await {
            assert_eq!(last.dimensions(), (1280, 720));
            let moved = distance(&still, &last);
            match camera {
                Camera::Static | Camera::StaticHold => {
                    assert!(moved < 3.0, "{camera:?} held: {moved}")
                }
                _ => assert!(moved > 3.0, "{camera:?} moved: {moved}"),
            }
        }
    }
}
