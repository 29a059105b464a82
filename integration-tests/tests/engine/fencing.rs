use slate_engine::{EventKind, RunState};
use slate_integration_tests::probe::{Behaviour, Probe};

use crate::harness::{checkpoints_by, Harness, PATIENCE};
use slate_integration_tests::wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_paused_past_its_lease_cannot_commit_its_late_result() {
    let h = Harness::new().await;
    let paused = h.spawn_worker(&["--lease-ttl-ms", "1000", "--heartbeat-ms", "200"]);
    let run = h
        .start(Probe::at("two", Behaviour::FinishAfterTakeover))
        .await;
    h.wait_executions(run, "two", 1).await;

    paused.pause();
    let mut taker = h.spawn_worker(&[]);
    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Completed);
    paused.resume();

    let dropped = wait::until("the late result to be dropped", PATIENCE, || async {
        let dropped = h.events(run, EventKind::ResultDropped).await;
        (!dropped.is_empty()).then_some(dropped)
    })
    .await;
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].step.as_deref(), Some("two"));
    assert_eq!(dropped[0].attempt, Some(1));
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 2, 1, 1, 1])
    );
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM checkpoints WHERE run_id = $1")
        .bind(run)
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(all, 5, "the late result left no checkpoint");
    for step in ["three", "four", "five"] {
        assert_eq!(h.executions(run, step).await, 1, "{step} ran once");
    }
    taker.terminate().await;
    h.db.drop().await;
}
