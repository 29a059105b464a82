//! Slate on many machines: `slate worker` processes that share only PostgreSQL and an
//! S3-compatible bucket (no folder), each taking the steps it lists, make a video together, and
//! one killed mid-step is replaced.

use std::time::Duration;

use slate_activities::{plan::Request, production::Production};
use slate_engine::{Artifact, RunState};
use slate_integration_tests::{process::WorkerProcess, s3::TestBucket, wait};

use crate::harness::{probe, VideoHarness};

/// A machine: its own folders (which must stay without media) and settings.
struct Machine {
    media: tempfile::TempDir,
    scratch: tempfile::TempDir,
    steps: &'static str,
}

impl Machine {
    fn new(steps: &'static str) -> Self {
        Self {
            media: tempfile::tempdir().unwrap(),
            scratch: tempfile::tempdir().unwrap(),
            steps,
        }
    }

    fn start(&self, url: &str, bucket: &TestBucket) -> WorkerProcess {
        let mut env = bucket.env();
        env.extend([
            ("SLATE_STEPS", self.steps.to_owned()),
            ("SLATE_MEDIA_DIR", path(&self.media)),
            ("SLATE_SCRATCH_DIR", path(&self.scratch)),
            ("SLATE_LEASE_TTL_SECS", "2".to_owned()),
            ("SLATE_WORKERS", "4".to_owned()),
        ]);
        WorkerProcess::slate_worker(url, &env)
    }

    /// Every file in its media folder: none, since media go only to the bucket.
    fn local_media(&self) -> Vec<std::path::PathBuf> {
        let entries = std::fs::read_dir(self.media.path()).map(|d| d.flatten().collect());
        entries
            .unwrap_or_else(|_| Vec::new())
            .into_iter()
            .map(|e: std::fs::DirEntry| e.path())
            .collect()
    }
}

fn path(folder: &tempfile::TempDir) -> String {
    folder.path().to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_slate_workers_sharing_only_postgres_and_s3_make_a_video_that_plays_though_one_is_killed_mid_step(
) {
    let h = VideoHarness::new().await;
    let bucket = TestBucket::new();
    let planner = Machine::new("planning,storyboarding");
    let renderer = Machine::new("generating_chunks,render_beat,stitching,adding_music");
    let mut planning = planner.start(&h.db.url, &bucket);
    let mut rendering = renderer.start(&h.db.url, &bucket);
    let run = h
        .start(Request {
            duration: Some(30),
            ..Request::new("an ad for a neighbourhood bike repair shop, friendly")
        })
        .await;

    wait::until(
        "the renderer to store its first clip",
        Duration::from_secs(180),
        || async {
            let clips: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM memos WHERE run_id = $1 AND key LIKE '%chunk-%'",
            )
            .bind(run)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
            (clips >= 1).then_some(())
        },
    )
    .await;
    rendering.kill().await;
    let mut replacement = renderer.start(&h.db.url, &bucket);
    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);

    let by: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.step, w.name FROM checkpoints c JOIN workers w ON w.id = c.worker_id
         WHERE c.run_id = $1 ORDER BY c.step_index",
    )
    .bind(run)
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    for (step, worker) in &by {
        let pid = worker.rsplit(':').next().unwrap().parse::<u32>().unwrap();
        if ["planning", "storyboarding"].contains(&step.as_str()) {
            assert_eq!(pid, planning.pid, "{step} ran on the planner");
        } else {
            assert!(
                [rendering.pid, replacement.pid].contains(&pid),
                "{step} ran on a renderer"
            );
        }
    }
    assert_eq!(by.len(), 5);

    let checkpoints = h.engine.checkpoints(run).await.unwrap();
    let production: Production =
        serde_json::from_value(checkpoints.last().unwrap().output.clone()).unwrap();
    let store = bucket.store();
    let video = store
        .get(production.final_video.as_ref().map(Artifact::key).unwrap())
        .await
        .unwrap();
    let file = tempfile::Builder::new().suffix(".mp4").tempfile().unwrap();
    std::fs::write(file.path(), &video).unwrap();
    let probed = probe(file.path()).await;
    assert!(
        (probed.duration - 30.0).abs() <= 0.1,
        "lasts {}",
        probed.duration
    );
    assert_eq!(probed.streams.len(), 2, "video and sound");
    assert!(planner.local_media().is_empty() && renderer.local_media().is_empty());

    planning.terminate().await;
    replacement.terminate().await;
    h.db.drop().await;
}
