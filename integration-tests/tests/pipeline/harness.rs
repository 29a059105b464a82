//! A database, a media folder and an engine running the video workflow; starting videos as the
//! API admits them; probing the files they make.

use std::{path::PathBuf, sync::Arc, time::Duration};

use serde_json::Value;
use slate_activities::{
    keys::LOCAL_KEY,
    pipeline::{self, Pipeline},
    plan::Request,
    providers::Providers,
    storage::{MediaStore, ScratchSpace},
    video::video_insert,
};
use slate_engine::{Engine, RunId, RunSummary, StartOptions, WorkerConfig, Workflow};
use slate_integration_tests::database::TestDatabase;
use tokio_util::sync::CancellationToken;

pub const WORKER_BINARY: &str = env!("CARGO_BIN_EXE_test-worker");

pub struct VideoHarness {
    pub db: TestDatabase,
    pub media: tempfile::TempDir,
    pub engine: Engine,
    pub workflow: Workflow<Request>,
}

impl VideoHarness {
    /// The embedded providers.
    pub async fn new() -> Self {
        Self::with_providers(Providers::embedded().expect("the embedded providers")).await
    }

    pub async fn with_providers(providers: Providers) -> Self {
        let db = TestDatabase::new().await;
        let media = tempfile::tempdir().expect("a media folder");
        let pipeline = Pipeline::new(
            MediaStore::local(media.path()).unwrap(),
            ScratchSpace::in_temp_dir().unwrap(),
            providers,
        );
        let workflow = pipeline::workflow(Arc::new(pipeline));
        let engine = Engine::builder(db.pool.clone()).register(&workflow).build();
        Self {
            db,
            media,
            engine,
            workflow,
        }
    }

    /// A worker in this process, until the token is cancelled.
    pub fn worker(&self) -> CancellationToken {
        let shutdown = CancellationToken::new();
        let worker = self.engine.worker(WorkerConfig {
            concurrency: 2,
            ..WorkerConfig::default()
        });
        tokio::spawn(worker.run(shutdown.clone()));
        shutdown
    }

    /// Admits a video as the API does: its row and its run in one transaction.
    pub async fn start(&self, request: Request) -> RunId {
        let mut tx = self.db.pool.begin().await.unwrap();
        let run =
            slate_engine::start_using(&mut tx, &self.workflow, &request, StartOptions::default())
                .await
                .unwrap()
                .run_id;
        video_insert(&mut tx, run, &request, LOCAL_KEY, 0.0, None, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        run
    }

    pub async fn wait_end(&self, run: RunId) -> RunSummary {
        self.engine
            .wait_for_end(run, Duration::from_secs(300))
            .await
            .unwrap()
            .expect("the video finished within 5 minutes")
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.media.path().join(key)
    }

    /// The video's row in the projection, as JSON.
    pub async fn video(&self, run: RunId) -> Value {
        sqlx::query_scalar("SELECT to_jsonb(v) FROM videos v WHERE id = $1")
            .bind(run)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }
}

/// What ffprobe says of a media file.
pub struct Probe {
    pub duration: f64,
    pub streams: Vec<Value>,
}

pub async fn probe(path: &std::path::Path) -> Probe {
    let output = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("stream=codec_type,codec_name,width,height,r_frame_rate,pix_fmt,duration:format=duration")
        .args(["-of", "json"])
        .arg(path)
        .output()
        .await
        .expect("ffprobe runs");
    assert!(output.status.success(), "ffprobe {}", path.display());
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    Probe {
        duration: json["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        streams: json["streams"].as_array().unwrap().clone(),
    }
}
