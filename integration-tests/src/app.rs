//! `spawn_app`: the application over real HTTP on a free port, with its own database and media
//! folder, and, when asked, a worker that makes the videos.

use std::sync::Arc;

use crate::database::TestDatabase;
use serde_json::{json, Value};
use slate_activities::{
    outbound::{Outbound, SystemLookup},
    pipeline::{self, Pipeline},
    providers::Providers,
    storage::{MediaStore, ScratchSpace},
    webhooks::{webhook_workflow, Deliverer, WebhookConfig},
};
use slate_api::{
    app::{Application, Settings},
    auth::Auth,
};
use slate_engine::{Bucket, Engine, WorkerConfig};
use tokio_util::sync::CancellationToken;

/// The host test apps' webhook URLs may name over plain http.
pub const WEBHOOK_HOST: &str = "127.0.0.1";

/// Webhook URLs may name [`WEBHOOK_HOST`]; deliveries connect to loopback addresses only, so
/// that no test can reach another machine.
fn loopback_webhooks() -> Outbound {
    Outbound::restricted(vec![WEBHOOK_HOST.into()], Arc::new(SystemLookup), |ip| {
        ip.is_loopback()
    })
}

/// The operators' token of every test app.
pub const ADMIN_TOKEN: &str = "test-operator-token";

pub struct TestApp {
    pub base: String,
    pub db: TestDatabase,
    pub media: tempfile::TempDir,
    pub http: reqwest::Client,
    engine: Engine,
    worker: Option<RunningWorker>,
}

/// The worker an app runs in its process.
struct RunningWorker {
    config: WorkerConfig,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<slate_engine::Result<()>>,
}

impl RunningWorker {
    fn start(engine: &Engine, config: WorkerConfig) -> Self {
        let stop = CancellationToken::new();
        let done = tokio::spawn(engine.worker(config.clone()).run(stop.clone()));
        Self { config, stop, done }
    }

    /// Stops it as SIGTERM would, and waits until it has.
    async fn stop(self) -> WorkerConfig {
        self.stop.cancel();
        self.done
            .await
            .expect("the worker ran")
            .expect("the worker stopped cleanly");
        self.config
    }
}

/// How a test app is set up.
pub struct Options {
    /// Whether a worker runs in this process too.
    pub workers: bool,
    /// How that worker runs.
    pub worker: WorkerConfig,
    /// The connections of the application's pool.
    pub pool_size: u32,
    pub providers: Providers,
    /// Whether clients need keys: off by default, as on a loopback address.
    pub auth: Auth,
    pub max_queued: i64,
    pub generate_limit: Option<Bucket>,
    pub max_active_videos: Option<i64>,
    pub max_event_streams: usize,
    pub max_event_streams_per_key: usize,
    pub max_cost_per_video: f64,
    pub max_versions: i64,
    /// How long a review gate waits for its approval.
    pub review_time: std::time::Duration,
    pub media_url_lifetime: std::time::Duration,
    pub admin_token: Option<String>,
    /// When webhook deliveries are tried; their URLs may name 127.0.0.1 over plain http, and
    /// they connect to loopback addresses only.
    pub webhooks: WebhookConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: false,
            worker: WorkerConfig::default(),
            pool_size: 20,
            providers: Providers::embedded().expect("the embedded providers"),
            auth: Auth::Off,
            max_queued: 1000,
            generate_limit: None,
            max_active_videos: None,
            max_event_streams: 1000,
            max_event_streams_per_key: 1000,
            max_cost_per_video: 10.0,
            max_versions: 20,
            review_time: std::time::Duration::from_secs(3600),
            media_url_lifetime: std::time::Duration::from_secs(3600),
            admin_token: Some(ADMIN_TOKEN.into()),
            webhooks: WebhookConfig {
                attempts: 3,
                first_retry: std::time::Duration::from_millis(200),
            },
        }
    }
}

/// The application with the embedded providers; with `workers`, a worker in this process too.
pub async fn spawn_app(workers: bool) -> TestApp {
    spawn_app_with(Options {
        workers,
        ..Options::default()
    })
    .await
}

/// The application set up as `options` say.
pub async fn spawn_app_with(options: Options) -> TestApp {
    let db = TestDatabase::with_pool_size(options.pool_size).await;
    let media = tempfile::tempdir().unwrap();
    let prices = options.providers.prices();
    let store = MediaStore::local(media.path()).unwrap();
    let scratch = ScratchSpace::in_temp_dir().unwrap();
    let deliverer = Deliverer::new(db.pool.clone(), loopback_webhooks());
    let webhooks = webhook_workflow(Arc::new(deliverer), &options.webhooks);
    let pipeline = Pipeline::new(store.clone(), scratch, options.providers)
        .with_ledger(db.pool.clone())
        .with_review_time(options.review_time)
        .with_webhooks(webhooks.clone());
    let workflow = pipeline::workflow(Arc::new(pipeline));
    let engine = Engine::builder(db.pool.clone())
        .register(&workflow)
        .register(&webhooks)
        .build();
    let settings = Settings {
        host: "127.0.0.1".into(),
        port: 0,
        public_url: None,
        media: store,
        media_url_lifetime: options.media_url_lifetime,
        auth: options.auth,
        prices,
        max_queued: options.max_queued,
        generate_limit: options.generate_limit,
        max_active_videos: options.max_active_videos,
        max_event_streams: options.max_event_streams,
        max_event_streams_per_key: options.max_event_streams_per_key,
        max_cost_per_video: options.max_cost_per_video,
        max_versions: options.max_versions,
        models: vec!["embedded".into()],
        webhook_hosts: vec![WEBHOOK_HOST.into()],
        admin_token: options.admin_token,
        cors_origins: vec!["https://studio.example.com".into()],
    };
    let app = Application::build(settings, engine.clone(), workflow)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let worker = options
        .workers
        .then(|| RunningWorker::start(&engine, options.worker));
    TestApp {
        base,
        db,
        media,
        http: reqwest::Client::new(),
        engine,
        worker,
    }
}

impl TestApp {
    /// Stops the worker and drops the database.
    pub async fn finish(self) {
        if let Some(worker) = self.worker {
            worker.stop.cancel();
        }
        self.db.drop().await;
    }

    /// Stops the app's worker gracefully and starts a new one, as a restart of its process would:
    /// what the old one held in memory is gone.
    pub async fn restart_worker(&mut self) {
        let worker = self.worker.take().expect("the app runs a worker");
        let config = worker.stop().await;
        self.worker = Some(RunningWorker::start(&self.engine, config));
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

    /// Sends a request of any method, with a JSON body when given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request).await
    }

    /// Waits (at most 5 minutes) until the video's status is `wanted`, and returns that status.
    pub async fn wait_for_status(&self, id: &str, wanted: &str) -> Value {
        crate::wait::until(
            &format!("{id} to be {wanted}"),
            std::time::Duration::from_secs(300),
            || async {
                let (_, status) = self.get(&format!("/api/status/{id}")).await;
                (status["status"] == wanted).then_some(status)
            },
        )
        .await
    }

    pub async fn generate(&self, prompt: &str) -> String {
        let (status, body) = self
            .post("/api/generate", &json!({"prompt": prompt, "duration": 15}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["video_id"].as_str().unwrap().to_owned()
    }
}

/// A client of a test app that sends its key with every request.
pub struct KeyClient<'a> {
    app: &'a TestApp,
    pub key_id: String,
    pub secret: String,
}

impl TestApp {
    /// Creates a client key through the operators' API with `fields` (a name is added when
    /// absent), and a client that uses it.
    pub async fn key(&self, fields: Value) -> KeyClient<'_> {
        let mut fields = fields;
        if fields.get("name").is_none() {
            fields["name"] = json!("a test client");
        }
        let response = self
            .http
            .post(format!("{}/api/admin/keys", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        KeyClient {
            app: self,
            key_id: body["key_id"].as_str().unwrap().to_owned(),
            secret: body["secret"].as_str().unwrap().to_owned(),
        }
    }

    /// Sends an operator's request.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }
}

impl KeyClient<'_> {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// Sends a request with this client's key to `base` (another server of the same database,
    /// say), or to its app when none.
    pub async fn send_to(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .app
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.secret);
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.send_to(&self.app.base, method, path, body).await
    }

    /// Admits a 15 s video and returns its id.
    pub async fn generate(&self, prompt: &str) -> String {
        let (status, body) = self
            .post("/api/generate", &json!({"prompt": prompt, "duration": 15}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["video_id"].as_str().unwrap().to_owned()
    }
}

/// The status and JSON body (null when there is none) of a request.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl TestApp {
    /// Reads a video's events stream until the server closes it: each `status` event's id and data.
    pub async fn events(&self, id: &str, last_event_id: Option<i64>) -> Vec<(i64, Value)> {
        let mut request = self
            .http
            .get(format!("{}/api/status/{id}/events", self.base));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let read = async {
            let mut response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(response.headers()["content-type"], "text/event-stream");
            let mut text = String::new();
            while let Some(chunk) = response.chunk().await.unwrap() {
                text.push_str(std::str::from_utf8(&chunk).unwrap());
            }
            text
        };
        let text = tokio::time::timeout(std::time::Duration::from_secs(300), read)
            .await
            .expect("the events stream closes once the video is finished");
        text.split("\n\n")
            .filter(|frame| frame.contains("event: status"))
            .map(|frame| {
                let field = |name: &str| {
                    frame
                        .lines()
                        .find_map(|line| line.strip_prefix(name))
                        .unwrap()
                        .to_owned()
                };
                (
                    field("id: ").parse().unwrap(),
                    serde_json::from_str(&field("data: ")).unwrap(),
                )
            })
            .collect()
    }
}
