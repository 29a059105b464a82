//! The predictions client through the engine, against the fake predictions API: creating by
//! version with a deadline, rate limits, refusals, predictions stopped past their deadline, never
//! paying twice (a create whose answer was lost, a worker killed before the prediction's id was
//! stored), and outputs copied before the service deletes them.

mod fetch;

use std::time::Duration;

use serde_json::json;
use slate_engine::{Engine, EventKind, RunId, RunState, RunSummary, StartOptions, WorkerConfig};
use slate_integration_tests::{
    database::TestDatabase,
    predictions::{self, Job},
    process::WorkerProcess,
    replicate_fake::{sample_png, Ending, FakeReplicate, Fault},
    wait,
};
use tokio_util::sync::CancellationToken;

const SDXL: &str =
    "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc";

struct Setup {
    fake: FakeReplicate,
    db: TestDatabase,
    media: tempfile::TempDir,
    shutdown: CancellationToken,
    engine: Engine,
    workflow: slate_engine::Workflow<Job>,
}

async fn setup() -> Setup {
    let fake = FakeReplicate::start(vec![("png", sample_png())]).await;
    let db = TestDatabase::new().await;
    let media = tempfile::tempdir().unwrap();
    let workflow = predictions::workflow(predictions::client(&fake.uri()), media.path().into());
    let engine = Engine::builder(db.pool.clone()).register(&workflow).build();
    Setup {
        fake,
        db,
        media,
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

    /// A worker in a process of its own, which the test may kill.
    fn worker_process(&self) -> WorkerProcess {
        let url = self.fake.uri();
        let media = self.media.path().to_str().unwrap().to_owned();
        let args = [
            "--predictions-url",
            url.as_str(),
            "--media-dir",
            media.as_str(),
        ];
        WorkerProcess::spawn(env!("CARGO_BIN_EXE_test-worker"), &self.db.url, &args)
    }

    async fn finish(self) {
        self.shutdown.cancel();
        self.db.drop().await;
    }

    async fn run(&self, parts: &[&str], deadline_seconds: u64) -> RunId {
        let job = Job {
            version: SDXL.into(),
            input: json!({"prompt": "a watch", "width": 1280, "height": 720}),
            seed: Some("seed".into()),
            parts: parts.iter().map(|p| p.to_string()).collect(),
            deadline_seconds,
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

    async fn memos(&self, run: RunId, key: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM memos WHERE run_id = $1 AND key = $2")
            .bind(run)
            .bind(key)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_community_model_is_created_by_its_version_with_a_deadline_and_its_list_output_copied() {
    let s = setup().await;
    s.worker();
    let run = s.run(&["still"], 120).await;
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    assert_eq!(
        s.engine.checkpoints(run).await.unwrap()[0].output,
        json!([sample_png().len()])
    );
    let requests = s.fake.server.received_requests().await.unwrap();
    let create = requests
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/v1/predictions")
        .expect("a create at /v1/predictions");
    assert_eq!(create.headers.get("cancel-after").unwrap(), "120s");
    let body: serde_json::Value = serde_json::from_slice(&create.body).unwrap();
    assert_eq!(body["version"], SDXL);
    assert!(
        body["input"]["seed"].is_u64(),
        "each create has a seed of its own"
    );
    assert_eq!(s.fake.created(), 1);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_retried_after_the_delay_it_asks_for() {
    let s = setup().await;
    s.fake.fault_next_create(Fault::Throttled(1));
    s.worker();
    let run = s.run(&["still"], 120).await;
    assert_eq!(s.end(run).await.state, RunState::Completed);
    let retry = s
        .engine
        .events(run, None)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EventKind::RetryScheduled)
        .expect("a retry");
    assert!(retry.detail.as_ref().unwrap()["delay_ms"].as_f64().unwrap() >= 1000.0);
    assert_eq!(s.fake.created(), 1);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_input_fails_the_run_at_once_and_the_message_keeps_no_token() {
    let s = setup().await;
    s.fake.fault_next_create(Fault::Refused);
    s.worker();
    let run = s.run(&["still"], 120).await;
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Failed);
    let error = summary.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.attempts),
        ("provider_rejected", 1)
    );
    assert!(
        error.message.contains("Input validation failed"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("r8_test_token"));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_the_service_made_but_answered_with_a_500_is_adopted_not_paid_twice() {
    let s = setup().await;
    s.fake.fault_next_create(Fault::MadeButAnswered(500));
    s.worker();
    let run = s.run(&["still"], 120).await;
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    assert_eq!(
        s.fake.created(),
        1,
        "the second attempt adopted the first prediction"
    );
    assert_eq!(s.engine.checkpoints(run).await.unwrap()[0].attempt, 2);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_a_create_and_its_memo_leaves_a_prediction_the_next_attempt_adopts()
{
    let s = setup().await;
    s.fake
        .fault_next_create(Fault::MadeSlowly(Duration::from_secs(30)));
    let mut first = s.worker_process();
    let run = s.run(&["still"], 120).await;
    wait::until(
        "the prediction to be made",
        Duration::from_secs(30),
        || async { (s.fake.created() == 1).then_some(()) },
    )
    .await;
    assert_eq!(
        s.memos(run, "prediction-still-1").await,
        0,
        "its id is not stored yet"
    );
    first.kill().await;

    let mut second = s.worker_process();
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    assert_eq!(s.fake.created(), 1, "one prediction paid for");
    second.terminate().await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_copied_before_the_service_deleted_it_is_never_fetched_again() {
    let s = setup().await;
    s.fake.then_end(&[Ending::Succeeds, Ending::Held]);
    let mut first = s.worker_process();
    let run = s.run(&["first", "second"], 120).await;
    wait::until(
        "the first output to be copied",
        Duration::from_secs(30),
        || async { (s.memos(run, "prediction-first-1-stored").await == 1).then_some(()) },
    )
    .await;
    wait::until(
        "the second prediction to be made",
        Duration::from_secs(30),
        || async { (s.fake.created() == 2).then_some(()) },
    )
    .await;
    s.fake.delete_outputs();
    first.kill().await;

    s.fake.release(Ending::Succeeds);
    let mut second = s.worker_process();
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    assert_eq!(
        s.engine.checkpoints(run).await.unwrap()[0].output,
        json!([sample_png().len(), sample_png().len()])
    );
    assert_eq!(s.fake.gone_served(), 0, "the deleted output was not needed");
    assert_eq!(s.fake.created(), 2);
    second.terminate().await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_deleted_before_it_was_copied_is_made_again_by_a_new_prediction() {
    let s = setup().await;
    s.fake.then_end(&[Ending::SucceedsThenDeleted]);
    s.worker();
    let run = s.run(&["still"], 120).await;
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    assert_eq!(s.fake.created(), 2);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prediction_aborted_or_stopped_at_its_deadline_is_replaced_by_a_new_one() {
    let s = setup().await;
    s.fake.then_end(&[Ending::Aborted, Ending::Held]);
    s.worker();
    let run = s.run(&["first", "second"], 5).await;
    let summary = s.end(run).await;
    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    assert_eq!(
        s.fake.statuses(),
        ["aborted", "canceled", "succeeded", "succeeded"]
    );
    s.finish().await;
}

#[tokio::test]
async fn a_small_first_frame_goes_inline_and_a_large_one_is_uploaded() {
    let fake = FakeReplicate::start(Vec::new()).await;
    let client = predictions::client(&fake.uri());
    let small = client
        .file_input(vec![1; 1000], "image/jpeg", "frame.jpg")
        .await
        .unwrap();
    assert!(small.starts_with("data:image/jpeg;base64,"));
    assert_eq!(fake.uploads(), 0);
    let large = client
        .file_input(vec![1; 300 * 1024], "image/jpeg", "frame.jpg")
        .await
        .unwrap();
    assert_eq!(large, format!("{}/v1/files/file1", fake.uri()));
    assert_eq!(fake.uploads(), 1);
}
