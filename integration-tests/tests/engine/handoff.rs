use slate_engine::{EventKind, RunId, RunState};
use slate_integration_tests::{probe::Probe, wait};

use crate::harness::{checkpoints_by, test_worker_config, Harness, PATIENCE};

/// A trigger that makes a task's move to its next step fail while its run is listed in
/// `handoff_faults`, with the SQLSTATE listed there: the failure strikes inside the hand-off,
/// after the checkpoint is written. `handoff_failures` counts the failures (a sequence, so that
/// the count survives the failed transactions).
const INJECT_FAULT: &str = "
CREATE TABLE handoff_faults (run_id uuid PRIMARY KEY, sqlstate text NOT NULL);
CREATE SEQUENCE handoff_failures;
CREATE FUNCTION fail_handoff() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    code text;
BEGIN
    SELECT sqlstate INTO code FROM handoff_faults WHERE run_id = NEW.run_id;
    IF NEW.step_index > OLD.step_index AND code IS NOT NULL THEN
        PERFORM nextval('handoff_failures');
        RAISE EXCEPTION 'injected failure between checkpoint and next task' USING ERRCODE = code;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_handoff BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION fail_handoff();
";

/// Starts a probe run whose first hand-off fails with `sqlstate` until the fault is cleared.
async fn start_with_failing_handoff(h: &Harness, sqlstate: &str) -> RunId {
    sqlx::raw_sql(INJECT_FAULT)
        .execute(&h.db.pool)
        .await
        .unwrap();
    let mut tx = h.db.pool.begin().await.unwrap();
    let run = slate_engine::start_using(&mut tx, &h.probe, &Probe::default(), Default::default())
        .await
        .unwrap()
        .run_id;
    sqlx::query("INSERT INTO handoff_faults VALUES ($1, $2)")
        .bind(run)
        .bind(sqlstate)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    run
}

async fn handoff_failures(h: &Harness) -> i64 {
    sqlx::query_scalar(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM handoff_failures",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_failing_on_a_database_error_commits_nothing_then_retries_the_same_result() {
    let h = Harness::new().await;
    // serialization_failure: an error another try of the same transaction may not meet.
    let run = start_with_failing_handoff(&h, "40001").await;
    let _workers = h.workers(1, test_worker_config());
    wait::until("three failed hand-offs", PATIENCE, || async {
        (handoff_failures(&h).await >= 3).then_some(())
    })
    .await;

    assert!(h.live_checkpoints(run).await.is_empty(), "no checkpoint");
    let (step_index, step): (i32, String) =
        sqlx::query_as("SELECT step_index, step FROM tasks WHERE run_id = $1")
            .bind(run)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!((step_index, step.as_str()), (0, "one"), "no next task");
    assert!(h.events(run, EventKind::StepCompleted).await.is_empty());

    sqlx::query("DELETE FROM handoff_faults")
        .execute(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(h.executions(run, "one").await, 1, "the step ran once");
    assert!(h.events(run, EventKind::StepFailed).await.is_empty());
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 1, 1, 1, 1])
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_the_database_refuses_for_good_fails_the_run_without_running_the_step_again() {
    let h = Harness::new().await;
    // raise_exception: what a trigger or constraint says of this very data, every time.
    let run = start_with_failing_handoff(&h, "P0001").await;
    let _workers = h.workers(1, test_worker_config());

    let summary = h.wait_end(run).await;
    assert_eq!(summary.state, RunState::Failed);
    let error = summary.error.expect("the run's error");
    assert_eq!(
        (error.step.as_str(), error.code.as_str()),
        ("one", "handoff_refused")
    );
    assert_eq!(error.attempts, 1);
    assert_eq!(h.executions(run, "one").await, 1, "the step ran once");
    assert!(h.live_checkpoints(run).await.is_empty(), "no checkpoint");
    h.db.drop().await;
}
