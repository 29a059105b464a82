use slate_engine::{EventKind, RunState};
use slate_integration_tests::{probe::Probe, wait};

use crate::harness::{checkpoints_by, test_worker_config, Harness, PATIENCE};

/// A trigger that makes a task's move to its next step fail while the run is listed in
/// `handoff_faults`: the failure strikes inside the hand-off, after the checkpoint is written.
const INJECT_FAULT: &str = "
CREATE TABLE handoff_faults (run_id uuid PRIMARY KEY);
CREATE FUNCTION fail_handoff() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.step_index > OLD.step_index
       AND EXISTS (SELECT 1 FROM handoff_faults WHERE run_id = NEW.run_id) THEN
        RAISE EXCEPTION 'injected failure between checkpoint and next task';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_handoff BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION fail_handoff();
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_inside_the_hand_off_leaves_neither_checkpoint_nor_next_task() {
    let h = Harness::new().await;
    sqlx::raw_sql(INJECT_FAULT)
        .execute(&h.db.pool)
        .await
        .unwrap();
    let mut tx = h.db.pool.begin().await.unwrap();
    let run = slate_engine::start_using(&mut tx, &h.probe, &Probe::default(), Default::default())
        .await
        .unwrap()
        .run_id;
    sqlx::query("INSERT INTO handoff_faults VALUES ($1)")
        .bind(run)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let workers = h.workers(1, test_worker_config());
    let failure = wait::until("the hand-off to fail", PATIENCE, || async {
        let failed = h.events(run, EventKind::StepFailed).await;
        failed.into_iter().next()
    })
    .await;
    workers.stop().await;

    let detail = failure.detail.expect("the failure's detail");
    assert_eq!(detail["code"], "handoff_failed");
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
    let _workers = h.workers(1, test_worker_config());
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    let first = h.live_checkpoints(run).await[0].clone();
    assert_eq!(first.0, "one");
    assert!(first.1 >= 2, "step one was checkpointed by a later attempt");
    assert_eq!(
        h.live_checkpoints(run).await[1..],
        checkpoints_by([1, 1, 1, 1, 1])[1..]
    );
    h.db.drop().await;
}
