//! `spawn_app`: the application with its own database and media folder, and, when asked, a
//! worker that makes the videos.

use std::sync::Arc;

use serde_json::{json, Value};
use slate_activities::pipeline::{self, Pipeline, Providers};
use slate_api::app::{Application, Settings};
use slate_engine::{Engine, WorkerConfig};
use slate_integration_tests::database::TestDatabase;
use tokio_util::sync::CancellationToken;

/// The operators' token of every test app.
pub const ADMIN_TOKEN: &str = "test-operator-token";

pub struct TestApp {
    pub base: String,
    pub db: TestDatabase,
    pub media: tempfile::TempDir,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
}

/// The application with the embedded providers; with `workers`, a worker in this process too.
pub async fn spawn_app(workers: bool) -> TestApp {
    spawn_app_with(workers, Providers::default()).await
}

/// The application with `providers`.
pub async fn spawn_app_with(workers: bool, providers: Providers) -> TestApp {
    let db = TestDatabase::new().await;
    let media = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::new(media.path(), 2, providers).unwrap();
    let workflow = pipeline::workflow(Arc::new(pipeline));
    let engine = Engine::builder(db.pool.clone()).register(&workflow).build();
    let settings = Settings {
        host: "127.0.0.1".into(),
        port: 0,
        public_url: None,
        media_dir: media.path().to_owned(),
        max_queued: 1000,
        admin_token: Some(ADMIN_TOKEN.into()),
    };
    let app = Application::build(settings, engine.clone(), workflow).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let shutdown = CancellationToken::new();
    if workers {
        tokio::spawn(engine.worker(WorkerConfig::default()).run(shutdown.clone()));
    }
    TestApp {
        base,
        db,
        media,
        http: reqwest::Client::new(),
        shutdown,
    }
}

impl TestApp {
    /// Stops the worker and drops the database.
    pub async fn finish(self) {
        self.shutdown.cancel();
        self.db.drop().await;
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn generate(&self, prompt: &str) -> String {
        let (status, body) = self
            .post("/api/generate", &json!({"prompt": prompt, "duration": 15}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["video_id"].as_str().unwrap().to_owned()
    }
}
