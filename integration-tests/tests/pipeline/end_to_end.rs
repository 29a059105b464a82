use slate_activities::{library::archetypes::ARCHETYPES, plan::Request, production::Production};
use slate_engine::{Artifact, RunState};

use crate::harness::{probe, VideoHarness};

/// Makes a 15 s and a 30 s video of `archetype` and checks each final MP4, its stills and clips,
/// and its projection.
async fn makes_videos_of(archetype: &str, creativities: [f64; 2]) {
    let h = VideoHarness::new().await;
    let _worker = h.worker();
    let mut runs = Vec::new();
    for (duration, creativity) in [15, 30].into_iter().zip(creativities) {
        let request = Request {
            duration: Some(duration),
            archetype: Some(archetype.to_owned()),
            creativity,
            ..Request::new("an ad for Aurora headphones, bold and modern")
        };
        runs.push((h.start(request).await, duration));
    }
    for (run, duration) in runs {
        let summary = h.wait_end(run).await;
        assert_eq!(
            summary.state,
            RunState::Completed,
            "{archetype} {duration}s: {:?}",
            summary.error
        );
        let checkpoints = h.engine.checkpoints(run).await.unwrap();
        let production: Production =
            serde_json::from_value(checkpoints.last().unwrap().output.clone()).unwrap();
        assert_eq!(production.spec.template, archetype);
        assert_eq!(production.spec.duration, duration);
        assert_eq!(
            production.stills.len(),
            production.spec.beats.len(),
            "one still per beat"
        );
        assert_eq!(
            production.chunks.len(),
            duration as usize / 5,
            "one clip per 5 s"
        );
        for still in &production.stills {
            let image = image::open(h.path(still.key())).unwrap();
            assert_eq!((image.width(), image.height()), (1280, 720));
        }

        let served = files_under(&h.path(&format!("runs/{run}")));
        assert!(
            served
                .iter()
                .all(|f| f.extension().is_none_or(|e| e != "txt")),
            "the stitch list, with the server's paths, is not in the served media: {served:?}"
        );

        let final_key = production.final_video.as_ref().map(Artifact::key).unwrap();
        let video = probe(&h.path(final_key)).await;
        assert!(
            (video.duration - duration as f64).abs() <= 0.1,
            "lasts {}",
            video.duration
        );
        let kinds: Vec<&str> = video
            .streams
            .iter()
            .map(|s| s["codec_type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.iter().filter(|k| **k == "video").count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == "audio").count(), 1);
        for stream in &video.streams {
            let lasts: f64 = stream["duration"].as_str().unwrap().parse().unwrap();
            if stream["codec_type"] == "video" {
                assert!(
                    (lasts - duration as f64).abs() <= 1.0 / 30.0 + 1e-6,
                    "video lasts {lasts}"
                );
                assert_eq!(stream["codec_name"], "h264");
                assert_eq!(
                    (stream["width"].as_i64(), stream["height"].as_i64()),
                    (Some(1280), Some(720))
                );
                assert_eq!(stream["r_frame_rate"], "30/1");
                assert_eq!(stream["pix_fmt"], "yuv420p");
            } else {
                assert_eq!(stream["codec_name"], "aac");
                assert!(
                    (lasts - duration as f64).abs() <= 0.05,
                    "audio lasts {lasts}"
                );
            }
        }
        let head = std::fs::read(h.path(final_key)).unwrap();
        let head = &head[..head.len().min(65536)];
        assert!(
            head.windows(4).any(|w| w == b"moov"),
            "the index is at the front"
        );

        let row = h.video(run).await;
        assert_eq!(row["status"], "complete");
        assert_eq!(row["progress"], 100);
        assert_eq!(row["current_phase"], serde_json::Value::Null);
        assert_eq!(row["cost_breakdown"].as_object().unwrap().len(), 5);
        assert_eq!(row["final_key"].as_str(), Some(final_key));
    }
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn luxury_showcase_makes_15_and_30_second_videos() {
    makes_videos_of(ARCHETYPES[0].id, [0.0, 0.5]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energetic_lifestyle_makes_15_and_30_second_videos() {
    makes_videos_of(ARCHETYPES[1].id, [1.0, 0.0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimalist_reveal_makes_15_and_30_second_videos() {
    makes_videos_of(ARCHETYPES[2].id, [0.5, 1.0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emotional_storytelling_makes_15_and_30_second_videos() {
    makes_videos_of(ARCHETYPES[3].id, [0.0, 1.0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_demo_makes_15_and_30_second_videos() {
    makes_videos_of(ARCHETYPES[4].id, [0.5, 0.0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_over_its_budget_fails_before_spending() {
    let h = VideoHarness::new().await;
    let _worker = h.worker();
    let run = h
        .start(Request {
            max_cost_usd: Some(-1.0),
            ..Request::new("15s ad for sneakers")
        })
        .await;
    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Failed);
    let error = summary.error.unwrap();
    assert_eq!(
        (error.step.as_str(), error.code.as_str(), error.attempts),
        ("planning", "budget_exceeded", 1)
    );
    let row = h.video(run).await;
    assert_eq!(row["status"], "failed");
    assert_eq!(row["progress"], serde_json::Value::Null);
    h.db.drop().await;
}

/// Every file under `folder`, at any depth.
fn files_under(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}
