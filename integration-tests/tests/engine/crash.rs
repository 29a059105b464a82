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
