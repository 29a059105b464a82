use std::{sync::Arc, time::Duration};

use serde_json::json;
use slate_activities::{
    cost::Prices,
    plan::Request,
    production::Production,
    providers::{
        predictions::{PredictionClips, PredictionImages, PredictionModel, PredictionMusic},
        replicate::Replicate,
        Providers, Secret,
    },
};
use slate_engine::RunState;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::harness::{probe, VideoHarness};

/// Media a cloud model might return, in formats the pipeline must fit: a square JPEG-sized PNG,
/// a 6 s 25 fps clip of another size, a 10 s track.
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

async fn model(server: &MockServer, model: &str, id: &str, file: &str, bytes: Vec<u8>) {
    let output = format!("{}/files/{file}", server.uri());
    let prediction = json!({"id": id, "status": "succeeded", "output": [output]});
    Mock::given(method("POST"))
        .and(path(format!("/v1/models/{model}/predictions")))
        .respond_with(ResponseTemplate::new(201).set_body_json(&prediction))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/predictions/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(&prediction))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/files/{file}")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_providers_make_a_video_fitted_to_the_format_at_the_reference_prices() {
    let scratch = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    slate_integration_tests::planner::answer(&server, Duration::ZERO).await;
    let png = sample(
        scratch.path(),
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
        scratch.path(),
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
    let track = sample(
        scratch.path(),
        "track.wav",
        &["-f", "lavfi", "-i", "sine=f=330:d=10"],
    )
    .await;
    model(&server, "stability-ai/sdxl", "img", "still.png", png).await;
    model(&server, "minimax/hailuo-02-fast", "vid", "clip.mp4", clip).await;
    model(&server, "meta/musicgen", "mus", "track.wav", track).await;

    let api = Replicate {
        client: reqwest::Client::new(),
        base_url: server.uri(),
        token: Secret::new("r8-test"),
        deadline: Duration::from_secs(30),
        poll_from: Duration::from_millis(20),
        poll_to: Duration::from_millis(100),
    };
    let cloud = |model: &str, price: f64| PredictionModel {
        api: api.clone(),
        model: model.to_owned(),
        price,
    };
    let reference = Prices::REFERENCE_CLOUD;
    let providers = Providers {
        planner: Arc::new(slate_integration_tests::planner::client(&server)),
        images: Arc::new(PredictionImages(cloud(
            "stability-ai/sdxl",
            reference.per_image,
        ))),
        clips: Arc::new(PredictionClips(cloud(
            "minimax/hailuo-02-fast",
            reference.per_chunk,
        ))),
        music: Arc::new(PredictionMusic(cloud("meta/musicgen", reference.per_track))),
    };
    let h = VideoHarness::with_providers(providers).await;
    let worker = h.worker();
    let run = h
        .start(Request::new("15s Nike sneakers energetic urban"))
        .await;
    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    assert!(
        (summary.cost_usd - 0.3065).abs() < 1e-9,
        "cost {}",
        summary.cost_usd
    );

    let checkpoints = h.engine.checkpoints(run).await.unwrap();
    let production: Production =
        serde_json::from_value(checkpoints.last().unwrap().output.clone()).unwrap();
    for still in &production.stills {
        let image = image::open(h.path(still)).unwrap();
        assert_eq!((image.width(), image.height()), (1280, 720));
    }
    let video = probe(&h.path(&production.final_video.unwrap())).await;
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
    let creations = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/predictions"))
        .count();
    assert_eq!(
        creations,
        3 + 3 + 1,
        "a still per beat, a clip per 5 s, one track"
    );
    worker.cancel();
    h.db.drop().await;
}
