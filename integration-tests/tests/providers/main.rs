//! The Replicate-style client through the engine, against a local stub of the predictions API:
//! polling, rate limits, server errors, refusals, deadlines, and resuming after a crash without
//! paying twice.

use std::time::Duration;

use serde_json::json;
use slate_engine::{Engine, EventKind, RunId, RunState, RunSummary, StartOptions, WorkerConfig};
use slate_integration_tests::{
    database::TestDatabase,
    predictions::{self, Job},
    process::WorkerProcess,
    wait,
};
use tokio_util::sync::CancellationToken;
use wiremock::{
    matchers::{header, method, path},
    Mock, MockServer, ResponseTemplate,
};

const MODEL: &str = "stability-ai/sdxl";
const CREATE: &str = "/v1/models/stability-ai/sdxl/predictions";

struct Stub {
    server: MockServer,
}

impl Stub {
    async fn new() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/files/out.png"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![7u8; 1234]))
            .mount(&server)
            .await;
        Self { server }
    }

    fn prediction(&self, status: &str) -> ResponseTemplate {
        let output = format!("{}/files/out.png", self.server.uri());
        ResponseTemplate::new(201)
            .set_body_json(json!({"id": "p1", "status": status, "output": output}))
    }

    /// Creation answers `first` once, then a prediction that has succeeded.
    async fn fails_once_then_succeeds(&self, first: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(CREATE))
            .respond_with(first)
            .up_to_n_times(1)
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path(CREATE))
            .respond_with(self.prediction("succeeded"))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/predictions/p1"))
            .respond_with(self.prediction("succeeded"))
            .mount(&self.server)
            .await;
    }

    async fn creates(&self) -> usize {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == CREATE)
            .count()
    }
}

struct Setup {
    db: TestDatabase,
    shutdown: CancellationToken,
    engine: Engine,
    workflow: slate_engine::Workflow<Job>,
}

async fn setup(stub: &Stub, deadline: Duration) -> Setup {
    let db = TestDatabase::new().await;
    let workflow = predictions::workflow(predictions::client(&stub.server.uri(), deadline));
    let engine = Engine::builder(db.pool.clone()).register(&workflow).build();
    Setup {
        db,
        shutdown: CancellationToken::new(),
        engine,
        workflow,
    }
}

impl Setup {
    /// A worker in this process until [`Self::finish`].
    fn worker(&self) {
        let worker = self.engine.worker(WorkerConfig::default());
        tokio::spawn(worker.run(self.shutdown.clone()));
    }

    async fn finish(self) {
        self.shutdown.cancel();
        self.db.drop().await;
    }

    async fn run(&self) -> RunId {
        let job = Job {
            model: MODEL.into(),
            input: json!({"prompt": "a watch", "width": 1280, "height": 720}),
        };
        self.engine
            .start(&self.workflow, &job, StartOptions::default())
            .await
            .unwrap()
            .run_id
    }

    async fn end(&self, run: RunId) -> RunSummary {
        self.engine
            .wait_for_end(run, Duration::from_secs(60))
            .await
            .unwrap()
            .expect("the run ended")
    }

    async fn output(&self, run: RunId) -> serde_json::Value {
        self.engine.checkpoints(run).await.unwrap()[0]
            .output
            .clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prediction_is_created_once_polled_until_it_succeeds_and_downloaded() {
    let stub = Stub::new().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .and(header("authorization", "Bearer r8-test-token"))
        .respond_with(stub.prediction("starting"))
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/predictions/p1"))
        .respond_with(stub.prediction("processing"))
        .up_to_n_times(3)
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/predictions/p1"))
        .respond_with(stub.prediction("succeeded"))
        .mount(&stub.server)
        .await;
    let s = setup(&stub, Duration::from_secs(30)).await;
    s.worker();
    let run = s.run().await;
    assert_eq!(s.end(run).await.state, RunState::Completed);
    assert_eq!(s.output(run).await, json!(1234));
    let polls = stub
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/predictions/p1")
        .count();
    assert_eq!(polls, 4);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_retried_after_the_delay_it_asks_for() {
    let stub = Stub::new().await;
    stub.fails_once_then_succeeds(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .await;
    let s = setup(&stub, Duration::from_secs(30)).await;
    s.worker();
    let run = s.run().await;
    assert_eq!(s.end(run).await.state, RunState::Completed);
    let retry = &s
        .engine
        .events(run, None)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EventKind::RetryScheduled)
        .expect("a retry");
    assert!(retry.detail.as_ref().unwrap()["delay_ms"].as_f64().unwrap() >= 1000.0);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retried_and_then_succeeds() {
    let stub = Stub::new().await;
    stub.fails_once_then_succeeds(ResponseTemplate::new(500))
        .await;
    let s = setup(&stub, Duration::from_secs(30)).await;
    s.worker();
    let run = s.run().await;
    assert_eq!(s.end(run).await.state, RunState::Completed);
    assert_eq!(s.engine.checkpoints(run).await.unwrap()[0].attempt, 2);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_fails_the_run_at_once() {
    let stub = Stub::new().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(
            ResponseTemplate::new(422).set_body_string("input.width must be at most 1024"),
        )
        .expect(1)
        .mount(&stub.server)
        .await;
    let s = setup(&stub, Duration::from_secs(30)).await;
    s.worker();
    let run = s.run().await;
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Failed);
    let error = summary.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.attempts),
        ("provider_rejected", 1)
    );
    assert!(!error.message.contains("r8-test-token"));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prediction_past_its_deadline_is_cancelled() {
    let stub = Stub::new().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(stub.prediction("starting"))
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/predictions/p1"))
        .respond_with(stub.prediction("processing"))
        .mount(&stub.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/predictions/p1/cancel"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&stub.server)
        .await;
    let s = setup(&stub, Duration::from_millis(300)).await;
    s.worker();
    let run = s.run().await;
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Failed);
    assert_eq!(summary.error.unwrap().code, "provider_timeout");
    assert_eq!(
        stub.creates().await,
        1,
        "the retry polled the same prediction"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_step_polls_the_stored_prediction_instead_of_paying_again() {
    let stub = Stub::new().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(stub.prediction("starting"))
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/predictions/p1"))
        .respond_with(stub.prediction("processing"))
        .with_priority(2)
        .mount(&stub.server)
        .await;
    let s = setup(&stub, Duration::from_secs(30)).await;
    let url = stub.server.uri();
    let args = ["--predictions-url", url.as_str()];
    let binary = env!("CARGO_BIN_EXE_test-worker");
    let mut first = WorkerProcess::spawn(binary, &s.db.url, &args);
    let run = s.run().await;
    wait::until(
        "the prediction's id to be stored",
        Duration::from_secs(30),
        || async {
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM memos WHERE run_id = $1")
                .bind(run)
                .fetch_one(&s.db.pool)
                .await
                .unwrap();
            (stored == 1).then_some(())
        },
    )
    .await;
    first.kill().await;

    Mock::given(method("GET"))
        .and(path("/v1/predictions/p1"))
        .respond_with(stub.prediction("succeeded"))
        .with_priority(1)
        .mount(&stub.server)
        .await;
    let mut second = WorkerProcess::spawn(binary, &s.db.url, &args);
    assert_eq!(s.end(run).await.state, RunState::Completed);
    assert_eq!(stub.creates().await, 1, "one prediction paid for");
    assert_eq!(s.engine.checkpoints(run).await.unwrap()[0].attempt, 2);
    second.terminate().await;
    s.finish().await;
}
