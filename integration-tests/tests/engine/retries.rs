use std::time::Duration;

use slate_engine::{EventKind, RunError, RunState};
use slate_integration_tests::probe::{Behaviour, Probe};

use crate::harness::{checkpoints_by, test_worker_config, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_failing_twice_then_succeeding_completes_on_attempt_three_after_growing_delays() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let run = h
        .start(Probe::at("two", Behaviour::FailRetryable { times: 2 }))
        .await;

    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 3, 1, 1, 1])
    );
    let retries = h.events(run, EventKind::RetryScheduled).await;
    let delays: Vec<f64> = retries
        .iter()
        .map(|e| e.detail.as_ref().unwrap()["delay_ms"].as_f64().unwrap())
        .collect();
    assert_eq!(delays.len(), 2);
    assert!(
        delays[0] >= 100.0 && delays[1] > delays[0],
        "delays {delays:?}"
    );
    let starts: Vec<_> = h
        .events(run, EventKind::StepStarted)
        .await
        .into_iter()
        .filter(|e| e.step.as_deref() == Some("two"))
        .collect();
    assert_eq!(starts.len(), 3);
    for (retry, started) in retries.iter().zip(&starts[1..]) {
        let waited = (started.at - retry.at).num_milliseconds() as f64;
        let delay = retry.detail.as_ref().unwrap()["delay_ms"].as_f64().unwrap();
        assert!(
            waited >= delay - 5.0,
            "waited {waited} ms of a {delay} ms delay"
        );
    }
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_fails_the_run_at_once_with_a_structured_error() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let run = h.start(Probe::at("three", Behaviour::FailPermanent)).await;

    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Failed);
    assert_eq!(
        summary.error,
        Some(RunError {
            step: "three".into(),
            code: "refused".into(),
            message: "failing for good on purpose".into(),
            attempts: 1,
        })
    );
    assert_eq!(h.executions(run, "three").await, 1);
    assert_eq!(h.executions(run, "four").await, 0);
    assert_eq!(h.tasks_left().await, 0);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_past_its_timeout_is_retried_as_a_retryable_failure() {
    let h = Harness::with_step_timeout(Duration::from_millis(300)).await;
    let _workers = h.workers(1, test_worker_config());
    let run = h
        .start(Probe::at("one", Behaviour::TimeoutFirstAttempt))
        .await;

    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    let failures = h.events(run, EventKind::StepFailed).await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].detail.as_ref().unwrap()["code"], "timeout");
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([2, 1, 1, 1, 1])
    );
    h.db.drop().await;
}
