//! What the engine tells about its load and history through its API, so that applications never
//! read its tables: `Engine::stats`, `Engine::step_medians` and `Engine::step_started_at`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use slate_engine::RunState;
use slate_integration_tests::probe::{self, Behaviour, Probe, STEPS};

use crate::harness::{test_worker_config, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_runs_by_state_the_queue_and_the_live_workers() {
    let h = Harness::new().await;
    let run = h.start(Probe::default()).await;
    let before = h.engine.stats().await.unwrap();
    assert_eq!(
        before.runs,
        [
            (RunState::Running, 1),
            (RunState::Waiting, 0),
            (RunState::Completed, 0),
            (RunState::Failed, 0),
            (RunState::Cancelled, 0)
        ]
    );
    assert_eq!((before.tasks_due, before.tasks_leased), (1, 0));
    assert!(before.oldest_due_seconds >= 0.0);
    assert_eq!(before.workers_active, 0);

    let workers = h.workers(1, test_worker_config());
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    h.wait_active_workers(1).await;
    let after = h.engine.stats().await.unwrap();
    assert!(after.runs.contains(&(RunState::Completed, 1)), "{after:?}");
    assert_eq!((after.tasks_due, after.tasks_leased), (0, 0));
    assert_eq!(after.oldest_due_seconds, 0.0);
    assert_eq!(after.workers_active, 1);
    workers.stop().await;
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_tells_when_its_current_step_began_and_its_workflow_the_median_of_each_step() {
    let h = Harness::with_step_timeout(Duration::from_secs(3600)).await;
    let workers = h.workers(1, test_worker_config());
    let run = h.start(Probe::at("two", Behaviour::Gated)).await;
    h.wait_executions(run, "two", 1).await;
    let began = h.engine.step_started_at(run).await.unwrap();
    assert!(began.is_some(), "step two runs, leased at a known time");

    probe::open_gate(&h.db.pool, run, "two", 1).await.unwrap();
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(h.engine.step_started_at(run).await.unwrap(), None);
    let day = Duration::from_secs(24 * 60 * 60);
    let mut medians = h.engine.step_medians("probe", day, 50).await.unwrap();
    medians.sort_by_key(|(step, _)| STEPS.iter().position(|s| s == step));
    let steps: Vec<&str> = medians.iter().map(|(step, _)| step.as_str()).collect();
    assert_eq!(steps, STEPS);
    assert!(medians.iter().all(|(_, seconds)| *seconds >= 0.0));
    assert!(
        h.engine
            .step_medians("unknown", day, 50)
            .await
            .unwrap()
            .is_empty(),
        "another workflow's steps are not counted"
    );
    workers.stop().await;
    h.db.drop().await;
}

/// The checkpoint of `step` of `run`: when its step began, and when it was checkpointed.
async fn step_span(
    h: &Harness,
    run: slate_engine::RunId,
    step: &str,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let checkpoints = h.engine.checkpoints(run).await.unwrap();
    let checkpoint = checkpoints.iter().find(|c| c.step == step).unwrap();
    (checkpoint.started_at, checkpoint.completed_at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steps_length_runs_from_its_first_attempt_across_its_retries() {
    let h = Harness::new().await;
    let workers = h.workers(1, test_worker_config());
    let run = h
        .start(Probe::at("two", Behaviour::FailRetryable { times: 1 }))
        .await;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    let first_execution: DateTime<Utc> = sqlx::query_scalar(
        "SELECT min(at) FROM probe_executions WHERE run_id = $1 AND step = 'two'",
    )
    .bind(run)
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    let (began, _) = step_span(&h, run, "two").await;
    assert!(
        began <= first_execution,
        "step two began at {began}, after its first attempt ran at {first_execution}"
    );
    workers.stop().await;
    h.db.drop().await;
}
