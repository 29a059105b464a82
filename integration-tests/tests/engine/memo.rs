use slate_engine::RunState;
use slate_integration_tests::probe::{Behaviour, Probe};

use crate::harness::{checkpoints_by, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_killed_after_four_of_six_memoized_parts_reruns_only_parts_five_and_six() {
    let h = Harness::new().await;
    let mut first = h.spawn_worker(&[]);
    let behaviour = Behaviour::Parts {
        parts: 6,
        hang_after: Some(4),
    };
    let run = h.start(Probe::at("three", behaviour)).await;
    let parts_done = || async {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM memos WHERE run_id = $1 AND superseded_at IS NULL",
        )
        .bind(run)
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
        (done == 4).then_some(())
    };
    slate_integration_tests::wait::until("four parts", crate::harness::PATIENCE, parts_done).await;
    let mut second = h.spawn_worker(&[]);
    h.wait_active_workers(2).await;

    first.kill().await;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);

    let parts: Vec<(i32, i64, i32)> = sqlx::query_as(
        "SELECT part, count(*), min(attempt) FROM probe_executions
         WHERE run_id = $1 AND part IS NOT NULL GROUP BY part ORDER BY part",
    )
    .bind(run)
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        parts,
        vec![
            (1, 1, 1),
            (2, 1, 1),
            (3, 1, 1),
            (4, 1, 1),
            (5, 1, 2),
            (6, 1, 2)
        ],
        "(part, executions, attempt): parts 1-4 by the first attempt only, 5-6 by the second"
    );
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 1, 2, 1, 1])
    );
    second.terminate().await;
    h.db.drop().await;
}
