use std::time::Duration;

use slate_engine::{Error, EventKind, RunState, WorkerConfig};
use slate_integration_tests::{
    probe::{Behaviour, Probe},
    wait,
};

use crate::harness::{test_worker_config, Harness, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_its_running_step_and_executes_no_further_step() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let run = h.start(Probe::at("two", Behaviour::WaitForCancel)).await;
    h.wait_executions(run, "two", 1).await;

    h.engine.cancel(run).await.unwrap();
    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Cancelled);
    wait::until("the running attempt to stop", PATIENCE, || async {
        let dropped = h.events(run, EventKind::ResultDropped).await;
        (!dropped.is_empty()).then_some(())
    })
    .await;

    for step in ["three", "four", "five"] {
        assert_eq!(h.executions(run, step).await, 0, "{step} never ran");
    }
    assert_eq!(h.tasks_left().await, 0);
    assert!(matches!(
        h.engine.cancel(run).await,
        Err(Error::InvalidState { .. })
    ));
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_the_running_attempt_without_waiting_for_a_heartbeat() {
    let h = Harness::with_step_timeout(Duration::from_secs(3600)).await;
    let hourly = WorkerConfig {
        heartbeat_interval: Duration::from_secs(3600),
        lease_ttl: Duration::from_secs(7200),
        ..test_worker_config()
    };
    let _workers = h.workers(1, hourly);
    let run = h.start(Probe::at("one", Behaviour::WaitForCancel)).await;
    h.wait_executions(run, "one", 1).await;

    h.engine.cancel(run).await.unwrap();
    wait::until("the running attempt to stop", PATIENCE, || async {
        let dropped = h.events(run, EventKind::ResultDropped).await;
        (!dropped.is_empty()).then_some(())
    })
    .await;
    h.db.drop().await;
}
