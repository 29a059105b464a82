//! Clips. The embedded clip maker: a still becomes a 5 s, 30 fps H.264 clip whose motion follows
//! the beat's camera. Clips made by cloud models are fitted to the same format. Either way the
//! beat's layer (its words, captions and transitions: an [`Overlay`]) is drawn over the moving
//! picture in the same pass, and the clip leaves the last frame of the picture without the
//! layer, which the next clip of the same beat starts from. Every function reads its inputs from
//! the store and writes its outputs to it, working in the attempt's [`Scratch`] folder.

use std::{ffi::OsString, path::PathBuf};

use slate_engine::StepError;

use crate::{
    design::layers::Overlay,
    library::beats::Camera,
    media::ffmpeg,
    media::motion,
    spec::{CHUNK_SECONDS, FPS},
    storage::Scratch,
};

/// One 5 s clip to film.
#[derive(Debug, Clone, Copy)]
pub struct ClipJob<'a> {
    /// The frame's width and height.
    pub size: (u32, u32),
    /// What is drawn over the moving picture: the beat's words, captions and transitions.
    pub overlay: &'a Overlay,
    /// The clip's name within its step (`chunk-001`), for memos.
    pub name: &'a str,
    /// What the beat shows.
    pub prompt: &'a str,
    pub camera: Camera,
    /// The key of the image the clip starts from.
    pub start: &'a str,
    /// Where the clip goes, and its last frame.
    pub clip: &'a str,
    pub last_frame: &'a str,
}

/// Renders `job.clip` by moving the camera over the image `job.start`, and its last frame as
/// `job.last_frame`.
pub async fn render(scratch: &Scratch, job: &ClipJob<'_>) -> Result<(), StepError> {
    let start = scratch.fetch(job.start).await?;
    let picture = motion::zoompan(job.camera, job.size);
    let mut input = ffmpeg::args(["-loop", "1", "-i"]);
    input.push(start.into_os_string());
    encode(scratch, input, &picture, job).await
}

/// Where the attempt makes the file it will store as `key`.
pub(crate) fn output(scratch: &Scratch, key: &str) -> PathBuf {
    scratch.path(&format!("out-{}", key.replace('/', "_")))
}

/// Encodes the first input through `picture`, then `job.overlay`, into the clip `job.clip` (150
/// frames of H.264, no sound), and leaves the last frame of the picture as `job.last_frame`.
async fn encode(
    scratch: &Scratch,
    mut args: Vec<OsString>,
    picture: &str,
    job: &ClipJob<'_>,
) -> Result<(), StepError> {
    let clip = output(scratch, job.clip);
    let last = output(scratch, job.last_frame);
    args.extend(job.overlay.inputs());
    let frames = motion::FRAMES;
    let graph = format!(
        "[0:v]{picture},format=yuv420p,split[base][picture];\
         [picture]trim=start_frame={},setpts=PTS-STARTPTS[last];{}",
        frames - 1,
        job.overlay.graph(1, job.size, false)
    );
    args.extend(ffmpeg::args(["-filter_complex", &graph]));
    args.extend(ffmpeg::args([
        "-map",
        "[out]",
        "-frames:v",
        &frames.to_string(),
        "-an",
    ]));
    args.extend(ffmpeg::args([
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
    ]));
    args.extend(ffmpeg::args(["-g", "30", "-f", "mp4"]));
    args.push(clip.clone().into_os_string());
    args.extend(ffmpeg::args([
        "-map",
        "[last]",
        "-frames:v",
        "1",
        "-f",
        "image2",
        "-c:v",
        "png",
    ]));
    args.push(last.clone().into_os_string());
    ffmpeg::run(args).await?;
    scratch.upload(&last, job.last_frame).await?;
    Ok(scratch.upload(&clip, job.clip).await?)
}

/// Fits the clip `source_key` made elsewhere to the pipeline's format (the frame's size, 30 fps,
/// exactly 5 s, H.264 without sound; a short clip holds its last frame), with the beat's layer.
pub async fn normalize(
    scratch: &Scratch,
    source_key: &str,
    job: &ClipJob<'_>,
) -> Result<(), StepError> {
    let source = scratch.fetch(source_key).await?;
    let picture = format!(
        "{},fps={FPS},tpad=stop_mode=clone:stop_duration={CHUNK_SECONDS}",
        cover(job.size)
    );
    let mut input = ffmpeg::args(["-i"]);
    input.push(source.into_os_string());
    encode(scratch, input, &picture, job).await
}

/// The filter that scales a picture to cover `size`, then crops it to that size.
fn cover((width, height): (u32, u32)) -> String {
    format!("scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}")
}

/// Fits an image made elsewhere to a PNG still of `size` (scaled to cover, then cropped).
pub async fn fit_still(
    scratch: &Scratch,
    source_key: &str,
    (width, height): (u32, u32),
    still_key: &str,
) -> Result<(), StepError> {
    let source = scratch.fetch(source_key).await?;
    let still = output(scratch, still_key);
    let filter = cover((width, height));
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
/// frame or reference image is sent in: a 1280x720 still is then well under the size that may go
/// inline. With `frame`, the image is fitted whole inside a white frame of that size, so that a
/// model that makes its output in its reference's shape makes it in the video's.
pub async fn jpeg(
    scratch: &Scratch,
    key: &str,
    frame: Option<(u32, u32)>,
) -> Result<Vec<u8>, StepError> {
    let out = scratch.path(&format!("jpeg-{}.jpg", key.replace('/', "_")));
    let mut args = ffmpeg::args(["-i"]);
    args.push(scratch.fetch(key).await?.into_os_string());
    if let Some((width, height)) = frame {
        let fit = format!(
            "scale={width}:{height}:force_original_aspect_ratio=decrease,\
             pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=white"
        );
        args.extend(ffmpeg::args(["-vf", &fit]));
    }
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
    use futures::{future::join_all, StreamExt};
    use image::RgbImage;

    use super::*;
    use crate::{
        design::{
            layers::{beat_layers, Transition},
            layout::{Cue, Frame, Rect},
            palette::Colours,
            plate,
        },
        library::{archetypes::ARCHETYPES, beats::LIBRARY},
        plan::{self, Request},
        spec::{AspectRatio, Spec},
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

    fn bare(spec: &Spec) -> Overlay {
        Overlay {
            layers: Vec::new(),
            offset: 0.0,
            enter: None,
            leave: None,
            colours: Colours::of(spec),
        }
    }

    fn png(image: &RgbImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    }

    fn job<'a>(
        spec: &Spec,
        camera: Camera,
        overlay: &'a Overlay,
        names: &'a (String, String),
    ) -> ClipJob<'a> {
        ClipJob {
            name: "chunk-001",
            prompt: "",
            camera,
            size: spec.size(),
            overlay,
            start: "still.png",
            clip: &names.0,
            last_frame: &names.1,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_camera_moves_the_still_as_it_should_and_static_ones_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::local(dir.path()).unwrap();
        let space = ScratchSpace::in_temp_dir().unwrap();
        let spec = plan::embedded(&Request::new("15s Nike sneakers energetic urban"));
        let still = plate::render(&spec, 0, None);
        store.put("still.png", png(&still)).await.unwrap();
        let overlay = bare(&spec);
        let renders = LIBRARY.iter().map(|beat| {
            let (store, space, spec, overlay) = (store.clone(), space.clone(), &spec, &overlay);
            async move {
                let scratch = space.attempt(&store).unwrap();
                let names = (format!("{}.mp4", beat.id), format!("{}.png", beat.id));
                render(&scratch, &job(spec, beat.camera, overlay, &names))
                    .await
                    .unwrap();
                let last = store.get(&names.1).await.unwrap();
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

    /// The colour the text layer is rendered alone on: no text is drawn in it.
    const KEY: [u8; 3] = [255, 0, 255];

    /// Frames at `times` (seconds into the clip) of the overlay alone, over a frame of [`KEY`].
    async fn text_alone(
        scratch: &Scratch,
        overlay: &Overlay,
        size: (u32, u32),
        times: &[f32],
    ) -> Vec<RgbImage> {
        let (w, h) = size;
        let mut args = ffmpeg::args([
            "-f",
            "lavfi",
            "-i",
            &format!("color=c=0xff00ff:s={w}x{h}:r=30:d=5,format=yuv420p"),
        ]);
        args.extend(overlay.inputs());
        let picks: Vec<String> = times
            .iter()
            .map(|t| format!("eq(n,{})", (t * 30.0) as u32))
            .collect();
        let graph = format!(
            "[0:v]null[base];{};[out]select='{}'[picked]",
            overlay.graph(1, size, true),
            picks.join("+")
        );
        let pattern = scratch.path("text-%02d.png");
        args.extend(ffmpeg::args([
            "-filter_complex",
            &graph,
            "-map",
            "[picked]",
            "-fps_mode",
            "passthrough",
            "-frames:v",
            &times.len().to_string(),
        ]));
        args.push(pattern.into_os_string());
        ffmpeg::run(args).await.unwrap();
        (1..=times.len())
            .map(|i| {
                image::open(scratch.path(&format!("text-{i:02}.png")))
                    .unwrap()
                    .to_rgb8()
            })
            .collect()
    }

    /// The pixels of `frame` that are not [`KEY`]: those outside `safe`, and a count of those
    /// inside it (every fourth column).
    fn text_pixels(frame: &RgbImage, safe: Rect) -> (Vec<(u32, u32)>, usize) {
        let (w, h) = frame.dimensions();
        let raw = frame.as_raw();
        let inked = |x: u32, y: u32| {
            let at = ((y * w + x) * 3) as usize;
            let pixel = &raw[at..at + 3];
            pixel
                .iter()
                .zip(KEY)
                .map(|(a, b)| a.abs_diff(b) as u32)
                .sum::<u32>()
                >= 60
        };
        let (x0, x1) = (safe.x as u32, safe.right() as u32);
        let (y0, y1) = (safe.y as u32, safe.bottom() as u32);
        let mut outside = Vec::new();
        let mut inside = 0;
        for y in 0..h {
            let columns: Box<dyn Iterator<Item = u32>> = if (y0..y1).contains(&y) {
                Box::new((0..x0).chain(x1..w))
            } else {
                Box::new(0..w)
            };
            outside.extend(columns.filter(|x| inked(*x, y)).map(|x| (x, y)));
            if (y0..y1).contains(&y) {
                inside += (x0..x1).step_by(4).filter(|x| inked(*x, y)).count();
            }
        }
        (outside, inside)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_text_pixel_leaves_the_title_safe_area_in_any_archetype_or_ratio() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::local(dir.path()).unwrap();
        let space = ScratchSpace::in_temp_dir().unwrap();
        let cue = Cue {
            start: 0.4,
            end: 4.6,
            text: "It keeps your coffee hot for hours, all day".into(),
        };
        let prompt = "30s ad for Ember, a smart mug that keeps coffee hot for hours, ember.com";
        let checks = AspectRatio::ALL
            .into_iter()
            .flat_map(|ratio| ARCHETYPES.iter().map(move |a| (ratio, a.id)));
        let checks = checks.map(|(ratio, archetype)| {
            let (store, space, cue) = (store.clone(), space.clone(), cue.clone());
            async move {
                let spec = plan::embedded(&Request {
                    archetype: Some(archetype.to_owned()),
                    aspect_ratio: ratio,
                    ..Request::new(prompt)
                });
                let safe = Frame::new(ratio).safe();
                for index in 0..spec.beats.len() {
                    let scratch = space.attempt(&store).unwrap();
                    let layers = beat_layers(&spec, index, std::slice::from_ref(&cue), None, false, &scratch.path("")).unwrap();
                    let (enter, leave) = Transition::of(&spec, index);
                    let first = Overlay { layers, offset: 0.0, enter: Some(enter), leave: None, colours: Colours::of(&spec) };
                    let mut clips = vec![(first.clone(), vec![0.5, 2.5])];
                    if index + 1 == spec.beats.len() {
                        let offset = (spec.beats[index].duration - CHUNK_SECONDS) as f32;
                        clips.push((Overlay { offset, leave: Some(leave), ..first }, vec![4.75]));
                    }
                    for (clip, times) in clips {
                        for frame in text_alone(&scratch, &clip, spec.size(), &times).await {
                            let (outside, inside) = text_pixels(&frame, safe);
                            assert!(
                                outside.is_empty(),
                                "{ratio:?} {archetype} beat {index}: text pixels at {:?} are outside {safe:?}",
                                &outside[..outside.len().min(5)]
                            );
                            assert!(inside > 200, "{ratio:?} {archetype} beat {index} shows text");
                        }
                    }
                }
            }
        });
        futures::stream::iter(checks)
            .buffer_unordered(2)
            .collect::<Vec<()>>()
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn captions_show_when_asked_and_the_words_are_laid_over_the_moving_picture() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::local(dir.path()).unwrap();
        let space = ScratchSpace::in_temp_dir().unwrap();
        let spec = plan::embedded(&Request::new("30s ad for Ember, a smart mug, ember.com"));
        store
            .put("still.png", png(&plate::render(&spec, 0, None)))
            .await
            .unwrap();
        let cue = Cue {
            start: 1.0,
            end: 4.0,
            text: "Meet Ember, the smart mug.".into(),
        };
        let mut frames = Vec::new();
        for cues in [vec![cue.clone()], Vec::new()] {
            let scratch = space.attempt(&store).unwrap();
            let layers = beat_layers(&spec, 0, &cues, None, false, &scratch.path("")).unwrap();
            let overlay = Overlay {
                layers,
                ..bare(&spec)
            };
            let names = (
                format!("clip-{}.mp4", cues.len()),
                format!("last-{}.png", cues.len()),
            );
            render(&scratch, &job(&spec, Camera::SlowDollyIn, &overlay, &names))
                .await
                .unwrap();
            let clip = scratch.fetch(&names.0).await.unwrap();
            let frame = scratch.path("frame.png");
            let mut args = ffmpeg::args(["-ss", "2.5", "-i"]);
            args.push(clip.into_os_string());
            args.extend(ffmpeg::args(["-frames:v", "1"]));
            args.push(frame.clone().into_os_string());
            ffmpeg::run(args).await.unwrap();
            frames.push(image::open(&frame).unwrap().to_rgb8());
            let last = image::load_from_memory(&store.get(&names.1).await.unwrap())
                .unwrap()
                .to_rgb8();
            frames.push(last);
        }
        let (captioned, captioned_last, plain, plain_last) =
            (&frames[0], &frames[1], &frames[2], &frames[3]);
        let safe = Frame::new(spec.aspect_ratio).safe();
        let band = |image: &RgbImage| {
            let top = safe.bottom() as u32 - 70;
            RgbImage::from_fn(image.width(), 70, |x, y| *image.get_pixel(x, top + y))
        };
        let caption_band = distance(&band(captioned), &band(plain));
        assert!(
            caption_band > 8.0,
            "captions change their band: {caption_band}"
        );
        assert!(
            distance(captioned_last, plain_last) < 0.5,
            "the last frame, without words, is the same"
        );
    }
}
