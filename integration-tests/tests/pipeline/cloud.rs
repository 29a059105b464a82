use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use slate_activities::{
    plan::Request,
    production::{Assets, Production},
    providers::{
        predictions::{PredictionClips, PredictionImages, PredictionModel, PredictionMusic},
        profiles::{supported, Kind, Profile},
        Providers,
    },
};
use slate_engine::RunState;
use slate_integration_tests::{predictions, replicate_fake::FakeReplicate};
use wiremock::MockServer;

use crate::harness::{probe, VideoHarness};

/// Media a cloud model might return, in formats the pipeline must fit: a square still, a 6 s
/// 25 fps clip of another size, a 10 s track.
async fn sample(dir: &std::path::Path, name: &str, args: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .await
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

async fn fake_service(dir: &std::path::Path) -> FakeReplicate {
    let png = sample(
        dir,
        "still.png",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1024x1024",
            "-frames:v",
            "1",
        ],
    )
    .await;
    let clip = sample(
        dir,
        "clip.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=768x432:r=25:d=6",
            "-pix_fmt",
            "yuv420p",
        ],
    )
    .await;
    let track = sample(dir, "track.wav", &["-f", "lavfi", "-i", "sine=f=330:d=10"]).await;
    FakeReplicate::start(vec![("png", png), ("mp4", clip), ("wav", track)]).await
}

/// Every supported image, video and music model makes a 15 s video through the fake service (the
/// image and video models paired in turn, the music model each time): each is asked in its own
/// words (the fake refuses any other), an image model that takes a reference image is given the
/// client's product photo in the frame's shape, each output is copied and fitted to the format,
/// and the video costs the sum of the profiles' prices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_model_makes_a_video_fitted_to_the_format_at_its_profiles_price() {
    let scratch = tempfile::tempdir().unwrap();
    let fake = fake_service(scratch.path()).await;
    let planner = MockServer::start().await;
    slate_integration_tests::planner::answer(&planner, Duration::ZERO).await;
    let images = supported(Kind::Image);
    let clips = supported(Kind::Video);
    let pairs = images.len().max(clips.len());
    for round in 0..pairs {
        let (image, clip) = (images[round % images.len()], clips[round % clips.len()]);
        let model = |name: &str| PredictionModel {
            api: predictions::client(&fake.uri()),
            profile: Profile::builtin(name).unwrap(),
        };
        let providers = Providers {
            planner: Arc::new(slate_integration_tests::planner::client(&planner)),
            images: Arc::new(PredictionImages::new(model(image)).unwrap()),
            clips: Arc::new(PredictionClips::new(model(clip)).unwrap()),
            music: Arc::new(PredictionMusic::new(model("meta/musicgen")).unwrap()),
        };
        let prices = providers.prices();
        let h = VideoHarness::with_providers(providers).await;
        let worker = h.worker();
        let created_before = fake.created();
        // The client's product photo, portrait, as an upload leaves it in the store.
        let product = "assets/client/product.png";
        std::fs::create_dir_all(h.path(product).parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(600, 800, image::Rgb([200, 40, 40]))
            .save(h.path(product))
            .unwrap();
        let request = Request {
            max_cost_usd: Some(10.0),
            assets: Assets {
                product_image: Some(product.into()),
                logo: None,
            },
            ..Request::new("15s Nike sneakers energetic urban")
        };
        let run = h.start(request).await;
        let summary = h.wait_end(run).await;
        assert_eq!(
            summary.state,
            RunState::Completed,
            "{image} and {clip}: {:?}",
            summary.error
        );
        let expected =
            prices.per_plan + 3.0 * prices.per_image + 3.0 * prices.per_chunk + prices.per_track;
        assert!(
            (summary.cost_usd - expected).abs() < 1e-9,
            "{image} and {clip} cost {}",
            summary.cost_usd
        );
        assert_eq!(
            fake.created() - created_before,
            3 + 3 + 1,
            "a still per beat, a clip per 5 s, one track"
        );

        let checkpoints = h.engine.checkpoints(run).await.unwrap();
        let production: Production =
            serde_json::from_value(checkpoints.last().unwrap().output.clone()).unwrap();
        for still in &production.stills {
            let image = image::open(h.path(still.key())).unwrap();
            assert_eq!((image.width(), image.height()), (1280, 720));
        }
        let video = probe(&h.path(production.final_video.unwrap().key())).await;
        assert!(
            (video.duration - 15.0).abs() <= 0.1,
            "lasts {}",
            video.duration
        );
        for stream in &video.streams {
            let lasts: f64 = stream["duration"].as_str().unwrap().parse().unwrap();
            assert!(
                (lasts - 15.0).abs() <= 0.05,
                "{} lasts {lasts}",
                stream["codec_type"]
            );
            if stream["codec_type"] == "video" {
                assert_eq!(
                    (stream["width"].as_i64(), stream["r_frame_rate"].as_str()),
                    (Some(1280), Some("30/1"))
                );
            }
        }
        worker.cancel();
        h.db.drop().await;
    }
    let first_frames = fake
        .inputs()
        .iter()
        .filter_map(|i| i.get("first_frame_image").or(i.get("start_image")).cloned())
        .count();
    assert_eq!(first_frames, 3 * pairs, "every clip starts from its frame");
    for image in images {
        let reference = Profile::builtin(image).unwrap().reference_image;
        let inputs = fake.inputs_of(image);
        assert!(!inputs.is_empty(), "{image} drew stills");
        for input in inputs {
            let Some(field) = &reference else {
                assert!(
                    !input.to_string().contains("data:image"),
                    "{image}: {input}"
                );
                continue;
            };
            let uri = input[field].as_str().unwrap_or_default();
            let jpeg = uri
                .strip_prefix("data:image/jpeg;base64,")
                .unwrap_or_else(|| panic!("{image} is given the product photo as {field}"));
            let sent = image::load_from_memory(
                &base64::engine::general_purpose::STANDARD
                    .decode(jpeg)
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(
                (sent.width(), sent.height()),
                (1280, 720),
                "in the frame's shape"
            );
        }
    }
}
