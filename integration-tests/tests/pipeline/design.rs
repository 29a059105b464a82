//! What the embedded pipeline makes, as a viewer would check it: each aspect ratio at its size
//! with its sound at the loudness asked for, the client's product photo and logo in their
//! slots, and the same request making the same video.

use std::path::Path;

use image::RgbImage;
use slate_activities::{
    media::mix::loudness,
    plan::Request,
    production::{Assets, Production},
    spec::AspectRatio,
};
use slate_engine::{Artifact, RunId, RunState};

use crate::harness::{probe, VideoHarness};

async fn production(h: &VideoHarness, run: RunId) -> Production {
    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    let checkpoints = h.engine.checkpoints(run).await.unwrap();
    serde_json::from_value(checkpoints.last().unwrap().output.clone()).unwrap()
}

/// The frame of the video `file` at `seconds`.
async fn frame(file: &Path, seconds: f32, out: &Path) -> RgbImage {
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", &seconds.to_string(), "-i"])
        .arg(file)
        .args(["-frames:v", "1"])
        .arg(out)
        .status()
        .await
        .unwrap();
    assert!(status.success());
    image::open(out).unwrap().to_rgb8()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aspect_ratio_makes_its_size_with_the_voice_at_minus_16_lufs() {
    let h = VideoHarness::new().await;
    let _worker = h.worker();
    let mut runs = Vec::new();
    for ratio in [AspectRatio::Portrait, AspectRatio::Square] {
        let request = Request {
            duration: Some(10),
            aspect_ratio: ratio,
            ..Request::new("an ad for Ember, a smart mug that keeps coffee hot for hours")
        };
        runs.push((ratio, h.start(request).await));
    }
    for (ratio, run) in runs {
        let production = production(&h, run).await;
        assert_eq!(production.spec.size(), ratio.size());
        for still in &production.stills {
            let image = image::open(h.path(still.key())).unwrap();
            assert_eq!((image.width(), image.height()), ratio.size(), "{ratio:?}");
        }
        assert!(
            production.speech.iter().all(Option::is_some),
            "every beat speaks"
        );
        let final_video = h.path(production.final_video.as_ref().map(Artifact::key).unwrap());
        let video = probe(&final_video).await;
        let picture = video
            .streams
            .iter()
            .find(|s| s["codec_type"] == "video")
            .unwrap();
        let size = (
            picture["width"].as_u64().unwrap() as u32,
            picture["height"].as_u64().unwrap() as u32,
        );
        assert_eq!(size, ratio.size(), "{ratio:?}");
        let measured = loudness(&final_video).await.unwrap();
        assert!(
            (measured.integrated + 16.0).abs() <= 1.0,
            "{ratio:?}: {measured:?}"
        );
        assert!(measured.true_peak <= -1.0, "{ratio:?}: {measured:?}");
    }
    h.db.drop().await;
}

/// A fixture image of one colour with a white border.
fn fixture(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        let edge = x < 8 || y < 8 || x >= width - 8 || y >= height - 8;
        image::Rgb(if edge { [255, 255, 255] } else { colour })
    });
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// How many pixels of `image` are near `colour`.
fn near(image: &RgbImage, colour: [u8; 3]) -> usize {
    image
        .pixels()
        .filter(|p| {
            p.0.iter()
                .zip(colour)
                .map(|(a, b)| a.abs_diff(b) as u32)
                .sum::<u32>()
                < 60
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_photo_and_the_logo_fill_their_slots() {
    let h = VideoHarness::new().await;
    let _worker = h.worker();
    let (photo_colour, logo_colour) = ([20, 200, 60], [230, 20, 200]);
    std::fs::create_dir_all(h.path("assets")).unwrap();
    std::fs::write(h.path("assets/photo.png"), fixture(600, 800, photo_colour)).unwrap();
    std::fs::write(h.path("assets/logo.png"), fixture(400, 160, logo_colour)).unwrap();
    let run = h
        .start(Request {
            duration: Some(10),
            assets: Assets {
                product_image: Some("assets/photo.png".into()),
                logo: Some("assets/logo.png".into()),
            },
            ..Request::new("an ad for Ember, a smart mug")
        })
        .await;
    let production = production(&h, run).await;
    for still in &production.stills {
        let image = image::open(h.path(still.key())).unwrap().to_rgb8();
        assert!(
            near(&image, photo_colour) > 50_000,
            "the photo is in every still"
        );
        assert_eq!(near(&image, logo_colour), 0, "the logo is not");
    }
    let final_video = h.path(production.final_video.as_ref().map(Artifact::key).unwrap());
    let scratch = tempfile::tempdir().unwrap();
    let end_card = frame(&final_video, 8.0, &scratch.path().join("end.png")).await;
    assert!(
        near(&end_card, logo_colour) > 5_000,
        "the logo is on the end card"
    );
    let opening = frame(&final_video, 2.5, &scratch.path().join("open.png")).await;
    assert_eq!(near(&opening, logo_colour), 0, "and only there");
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_makes_the_same_video_byte_for_byte() {
    let h = VideoHarness::new().await;
    let _worker = h.worker();
    let request = Request {
        duration: Some(10),
        seed: Some(42),
        creativity: 0.7,
        ..Request::new("an ad for Ember, a smart mug that keeps coffee hot for hours, ember.com")
    };
    let first = h.start(request.clone()).await;
    let second = h.start(request).await;
    let (first, second) = (production(&h, first).await, production(&h, second).await);
    assert_eq!(first.spec, second.spec);
    let bytes =
        |p: &Production| std::fs::read(h.path(p.final_video.as_ref().unwrap().key())).unwrap();
    assert!(bytes(&first) == bytes(&second), "the two videos differ");
    h.db.drop().await;
}
