//! Workers by step: a worker takes only the steps it lists, in its claims, in the next step it
//! keeps for itself (sticky continuation), and in the first steps a start in its process leases
//! it eagerly.

use slate_engine::{RunId, RunState, WorkerConfig};
use slate_integration_tests::probe::Probe;

use crate::harness::{test_worker_config, Harness};

fn taking(steps: &[&str]) -> WorkerConfig {
    WorkerConfig {
        steps: Some(steps.iter().map(|s| (*s).to_owned()).collect()),
        ..test_worker_config()
    }
}

/// The worker that checkpointed each step of `run`, in order.
async fn workers_by_step(h: &Harness, run: RunId) -> Vec<uuid::Uuid> {
    let checkpoints = h.engine.checkpoints(run).await.expect("checkpoints");
    checkpoints.iter().map(|c| c.worker_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_neither_claims_keeps_nor_is_eagerly_given_a_step_it_does_not_list() {
    let h = Harness::new().await;
    let later = h.workers(1, taking(&["three", "four", "five"]));
    h.wait_active_workers(1).await;
    let run = h.start(Probe::default()).await;
    let due: (String, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT step, lease_owner FROM tasks WHERE run_id = $1")
            .bind(run)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(due, ("one".to_owned(), None), "no eager start of step one");
    h.wait_heartbeats(3).await;
    assert_eq!(h.executions(run, "one").await, 0, "step one is not claimed");

    let earlier = h.workers(1, taking(&["one", "two"]));
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    let by = workers_by_step(&h, run).await;
    assert_eq!(by.len(), 5);
    assert_eq!(by[0], by[1], "one and two on the same worker");
    assert_eq!(by[2], by[3]);
    assert_eq!(by[3], by[4], "three to five on the other");
    assert_ne!(
        by[1], by[2],
        "step three was not kept by the worker of step two"
    );
    earlier.stop().await;
    later.stop().await;
    h.db.drop().await;
}
