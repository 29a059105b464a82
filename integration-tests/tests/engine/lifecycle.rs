use std::time::Duration;

use slate_engine::{EventKind, RunState, StartOptions, WorkerConfig};
use slate_integration_tests::{
    probe::{Behaviour, Probe},
    wait,
};

use crate::harness::{test_worker_config, Harness, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_starts_with_one_idempotency_key_give_one_run() {
    let h = Harness::new().await;
    let options = || StartOptions {
        idempotency_key: Some("order-42".into()),
        ..StartOptions::default()
    };
    let input = Probe::default();
    let (a, b) = tokio::join!(
        h.engine.start(&h.probe, &input, options()),
        h.engine.start(&h.probe, &input, options()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.run_id, b.run_id);
    assert!(a.created != b.created, "exactly one start created the run");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM runs")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(runs, 1);
    assert_eq!(h.tasks_left().await, 1);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_shutting_down_gives_back_the_task_of_an_attempt_that_outlives_the_grace() {
    let h = Harness::new().await;
    let workers = h.workers(
        1,
        WorkerConfig {
            shutdown_grace: Duration::from_millis(200),
            ..test_worker_config()
        },
    );
    let run = h.start(Probe::at("two", Behaviour::HangFirstAttempt)).await;
    h.wait_executions(run, "two", 1).await;

    workers.stop().await;
    let released = h.events(run, EventKind::LeaseReleased).await;
    assert_eq!(released.len(), 1);
    assert_eq!(
        h.lease_owner(run).await,
        None,
        "the task is free for any worker"
    );

    let _workers = h.workers(1, test_worker_config());
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert!(h.events(run, EventKind::LeaseExpired).await.is_empty());
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_deletes_the_history_of_finished_runs_but_keeps_their_checkpoints() {
    let h = Harness::new().await;
    let workers = h.workers(1, test_worker_config());
    let finished = h.start(Probe::default()).await;
    h.wait_end(finished).await;
    workers.stop().await;
    let running = h.start(Probe::default()).await;

    let mut scheduler = h.engine.scheduler(Default::default());
    let trimmed = scheduler.trim(Duration::ZERO).await.unwrap();

    assert_eq!(trimmed, 1);
    assert!(h.engine.events(finished, None).await.unwrap().is_empty());
    assert_eq!(h.live_checkpoints(finished).await.len(), 5);
    assert_eq!(h.engine.events(running, None).await.unwrap().len(), 1);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_due_later_is_picked_up_without_a_notification() {
    let h = Harness::new().await;
    let _workers = h.workers(
        1,
        WorkerConfig {
            poll_interval: Duration::from_secs(600),
            ..test_worker_config()
        },
    );
    let run = h
        .start(Probe::at("one", Behaviour::FailRetryable { times: 1 }))
        .await;
    let summary = wait::until("the run to end", PATIENCE, || async {
        let run = h.engine.run(run).await.unwrap().unwrap();
        run.state.is_terminal().then_some(run)
    })
    .await;
    assert_eq!(summary.state, RunState::Completed);
    h.db.drop().await;
}
