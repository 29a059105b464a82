use slate_engine::StartOptions;
use slate_integration_tests::{probe::Probe, wait};

use crate::harness::{test_worker_config, Harness, PATIENCE};

const RUNS: i64 = 500;

async fn start_runs(h: &Harness) {
    let mut tx = h.db.pool.begin().await.unwrap();
    for _ in 0..RUNS {
        slate_engine::start_using(
            &mut tx,
            &h.probe,
            &Probe::default(),
            StartOptions::default(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Waits for every run to complete, then checks that every step of every run executed and was
/// checkpointed exactly once and that no task is left.
async fn assert_all_complete_exactly_once(h: &Harness) {
    wait::until("every run to complete", PATIENCE * 3, || async {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM runs WHERE state = 'completed'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
        (done == RUNS).then_some(())
    })
    .await;
    let (executions, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (run_id, step)) FROM probe_executions")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(
        (executions, distinct),
        (RUNS * 5, RUNS * 5),
        "each step ran once"
    );
    let (checkpoints, live): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE superseded_at IS NULL) FROM checkpoints",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (checkpoints, live),
        (RUNS * 5, RUNS * 5),
        "each step checkpointed once"
    );
    assert_eq!(h.tasks_left().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_workers_in_one_process_complete_500_runs_checkpointing_each_step_once() {
    let h = Harness::new().await;
    start_runs(&h).await;
    let workers = h.workers(8, test_worker_config());
    assert_all_complete_exactly_once(&h).await;
    workers.stop().await;
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_complete_500_runs_checkpointing_each_step_once() {
    let h = Harness::new().await;
    let mut processes: Vec<_> = (0..3).map(|_| h.spawn_worker(&[])).collect();
    h.wait_active_workers(3).await;
    start_runs(&h).await;
    assert_all_complete_exactly_once(&h).await;
    let per_process: i64 = sqlx::query_scalar("SELECT count(DISTINCT pid) FROM probe_executions")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert!(
        per_process >= 2,
        "the work was shared ({per_process} processes)"
    );
    for process in &mut processes {
        process.terminate().await;
    }
    h.db.drop().await;
}
