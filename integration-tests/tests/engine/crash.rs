use slate_engine::{EventKind, RunState};
use slate_integration_tests::probe::{Behaviour, Probe};

use crate::harness::{checkpoints_by, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_in_step_three_resumes_on_another_worker_without_rerunning_steps_one_and_two(
) {
    let h = Harness::new().await;
    let mut first = h.spawn_worker(&[]);
    let run = h
        .start(Probe::at("three", Behaviour::HangFirstAttempt))
        .await;
    h.wait_executions(run, "three", 1).await;
    let mut second = h.spawn_worker(&[]);
    h.wait_active_workers(2).await;

    first.kill().await;
    let summary = h.wait_end(run).await;

    assert_eq!(summary.state, RunState::Completed);
    assert_eq!(h.executions(run, "one").await, 1);
    assert_eq!(h.executions(run, "two").await, 1);
    assert_eq!(h.executions(run, "three").await, 2, "three ran again, once");
    assert_eq!(h.executions(run, "four").await, 1);
    assert_eq!(h.executions(run, "five").await, 1);
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 1, 2, 1, 1])
    );
    let rescued = h.events(run, EventKind::LeaseExpired).await;
    assert_eq!(rescued.len(), 1, "the scheduler took step three back once");
    assert_eq!(h.tasks_left().await, 0);
    second.terminate().await;
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_liveness_connection_dies_gives_up_its_attempt_and_claims_again() {
    let h = Harness::new().await;
    let _workers = h.workers(
        1,
        slate_engine::WorkerConfig {
            cancel_grace: std::time::Duration::from_millis(300),
            ..crate::harness::test_worker_config()
        },
    );
    let run = h.start(Probe::at("two", Behaviour::HangFirstAttempt)).await;
    h.wait_executions(run, "two", 1).await;

    let terminated = h.cut_liveness().await;
    assert_eq!(terminated, 1, "one liveness connection");

    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 2, 1, 1, 1])
    );
    // The first attempt was stopped: either its worker gave its task back as an interruption (it
    // reached the task before the scheduler did), or the scheduler rescued the task and the
    // stopped attempt's result was dropped. Never a failure that used up a try.
    let ended = slate_integration_tests::wait::until(
        "the first attempt to end",
        crate::harness::PATIENCE,
        || async {
            let events = h.engine.events(run, None).await.unwrap();
            events.into_iter().find(|e| {
                e.step.as_deref() == Some("two")
                    && e.attempt == Some(1)
                    && matches!(
                        e.kind,
                        EventKind::StepFailed | EventKind::LeaseReleased | EventKind::ResultDropped
                    )
            })
        },
    )
    .await;
    assert_ne!(ended.kind, EventKind::StepFailed, "{ended:?}");
    assert_eq!(h.executions(run, "two").await, 2);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_workers_die_more_often_than_its_attempts_allow_still_completes() {
    let h = Harness::new().await;
    // The probe allows 4 attempts; the first 5 are lost with their workers.
    let run = h
        .start(Probe::at("two", Behaviour::HangBeforeAttempt { until: 6 }))
        .await;
    for started in 1..=5 {
        let mut worker = h.spawn_worker(&[]);
        h.wait_executions(run, "two", started).await;
        worker.kill().await;
    }
    let mut last = h.spawn_worker(&[]);
    let summary = h.wait_end(run).await;

    assert_eq!(summary.state, RunState::Completed, "{:?}", summary.error);
    assert_eq!(h.executions(run, "two").await, 6);
    assert_eq!(h.events(run, EventKind::LeaseExpired).await.len(), 5);
    last.terminate().await;
    h.db.drop().await;
}

/// A worker that stops an attempt a moment after its liveness connection is lost, and that no
/// scheduler watches: whatever the attempt's end, its worker's own hand-off records it.
fn stopping_soon() -> slate_engine::WorkerConfig {
    slate_engine::WorkerConfig {
        cancel_grace: std::time::Duration::from_millis(300),
        ..crate::harness::test_worker_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_stopped_because_its_worker_lost_liveness_is_an_interruption_not_a_try() {
    let h = Harness::new().await;
    let _worker = h.worker_alone(stopping_soon());
    let run = h.start(Probe::at("two", Behaviour::HangFirstAttempt)).await;
    h.wait_executions(run, "two", 1).await;
    assert_eq!(h.cut_liveness().await, 1);

    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    let released = h.events(run, EventKind::LeaseReleased).await;
    assert_eq!(released.len(), 1, "attempt 1 was given back");
    assert_eq!(
        (released[0].step.as_deref(), released[0].attempt),
        (Some("two"), Some(1))
    );
    assert!(
        h.events(run, EventKind::RetryScheduled).await.is_empty(),
        "no try was used up"
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_failed_after_an_interruption_counts_only_the_attempts_that_ended_on_their_own() {
    let h = Harness::new().await;
    let _worker = h.worker_alone(stopping_soon());
    let run = h
        .start(Probe::at("two", Behaviour::HangFirstAttemptThenFail))
        .await;
    h.wait_executions(run, "two", 1).await;
    assert_eq!(h.cut_liveness().await, 1);

    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Failed);
    let error = summary.error.expect("the run's error");
    assert_eq!((error.code.as_str(), error.attempts), ("refused", 1));
    assert_eq!(h.executions(run, "two").await, 2);
    h.db.drop().await;
}
