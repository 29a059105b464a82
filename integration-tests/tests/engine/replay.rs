use slate_engine::{Error, EventKind, RunState};
use slate_integration_tests::probe::{Behaviour, Probe};

use crate::harness::{checkpoints_by, test_worker_config, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_step_three_reruns_steps_three_to_five_and_keeps_the_superseded_checkpoints() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let run = h.start(Probe::default()).await;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);

    h.engine.replay(run, "three").await.unwrap();
    let summary = h.wait_end(run).await;

    assert_eq!(summary.state, RunState::Completed);
    assert_eq!(summary.generation, 1);
    for (step, times) in [
        ("one", 1),
        ("two", 1),
        ("three", 2),
        ("four", 2),
        ("five", 2),
    ] {
        assert_eq!(h.executions(run, step).await, times, "{step}");
    }
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 1, 1, 1, 1])
    );
    let history = h.engine.checkpoints(run).await.unwrap();
    let superseded: Vec<(&str, i32)> = history
        .iter()
        .filter(|c| c.superseded_at.is_some())
        .map(|c| (c.step.as_str(), c.generation))
        .collect();
    assert_eq!(superseded, vec![("three", 0), ("four", 0), ("five", 0)]);
    assert_eq!(h.events(run, EventKind::Replayed).await.len(), 1);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_replayed_from_its_failed_step_completes() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let run = h
        .start(Probe::at("four", Behaviour::FailRetryable { times: 4 }))
        .await;
    let failed = h.wait_end(run).await;
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(failed.error.unwrap().attempts, 4);

    h.engine.replay(run, "four").await.unwrap();
    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Completed);
    assert_eq!(summary.error, None);
    assert_eq!(h.executions(run, "three").await, 1);
    assert_eq!(h.executions(run, "four").await, 5);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_refuses_a_running_run_and_an_unknown_step() {
    let h = Harness::new().await;
    let run = h.start(Probe::default()).await;
    assert!(matches!(
        h.engine.replay(run, "three").await,
        Err(Error::InvalidState { .. })
    ));
    h.engine.cancel(run).await.unwrap();
    assert!(matches!(
        h.engine.replay(run, "six").await,
        Err(Error::UnknownStep { .. })
    ));
    h.db.drop().await;
}
