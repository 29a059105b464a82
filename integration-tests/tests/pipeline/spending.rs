//! Admissions and reservations interleaved by hand on two connections: a second admission or a
//! phase's reservation waits for an uncommitted admission, then sees it, so neither the queue's
//! limit nor a key's monthly budget is ever overshot.

use std::time::Duration;

use slate_activities::{
    keys::{key_create, NewKey, LOCAL_KEY},
    plan::Request,
    video::{video_admit, video_reserve, Admission, OverBudget, Refusal},
};
use slate_engine::{RunId, StartOptions};
use slate_integration_tests::wait;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::harness::VideoHarness;

/// Starts a run in `tx` and admits its video for `owner`, reserving `reserve_usd`.
async fn admit(
    harness: &VideoHarness,
    tx: &mut Transaction<'static, Postgres>,
    owner: Uuid,
    reserve_usd: f64,
    max_queued: i64,
) -> (RunId, Result<(), Refusal>) {
    let request = Request::new("15s watch");
    let run = slate_engine::start_using(tx, &harness.workflow, &request, StartOptions::default())
        .await
        .unwrap()
        .run_id;
    let admission = Admission {
        run_id: run,
        request: &request,
        owner,
        reserve_usd,
        max_queued,
        max_active: None,
        version: None,
        webhook_url: None,
    };
    (run, video_admit(tx, &admission).await.unwrap())
}

/// Waits until the backend `pid` waits for a lock.
async fn waits_for_a_lock(pool: &PgPool, pid: i32) {
    wait::until(
        "the second connection to wait for a lock",
        Duration::from_secs(10),
        || async {
            let waiting: bool = sqlx::query_scalar(
            "SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1",
        )
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap();
            waiting.then_some(())
        },
    )
    .await;
}

async fn backend_pid(tx: &mut Transaction<'static, Postgres>) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut **tx)
        .await
        .unwrap()
}

async fn budgeted_key(pool: &PgPool, budget: f64) -> Uuid {
    let new = NewKey {
        name: "studio".into(),
        monthly_budget_usd: Some(budget),
        ..NewKey::default()
    };
    key_create(pool, &new).await.unwrap().0.id
}

/// Admits a video of `owner` in one transaction, then a second one in another: the second must
/// wait for a lock until the first commits; returns what the second got.
async fn second_admission_while_first_commits(
    harness: &VideoHarness,
    owner: Uuid,
    reserve_usd: f64,
    max_queued: i64,
) -> Result<(), Refusal> {
    let pool = &harness.db.pool;
    let mut first = pool.begin().await.unwrap();
    let admitted = admit(harness, &mut first, owner, reserve_usd, max_queued).await;
    assert_eq!(admitted.1, Ok(()));
    let mut second = pool.begin().await.unwrap();
    let pid = backend_pid(&mut second).await;
    let racing = async {
        let answer = admit(harness, &mut second, owner, reserve_usd, max_queued)
            .await
            .1;
        second.rollback().await.unwrap();
        answer
    };
    let commit_first = async {
        waits_for_a_lock(pool, pid).await;
        first.commit().await.unwrap();
    };
    tokio::join!(racing, commit_first).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admission_waits_for_an_uncommitted_one_and_then_finds_the_queue_full() {
    let harness = VideoHarness::new().await;
    let answer = second_admission_while_first_commits(&harness, LOCAL_KEY, 0.0, 1).await;
    assert_eq!(answer, Err(Refusal::QueueFull));
    harness.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admission_waits_for_an_uncommitted_one_of_its_key_and_then_finds_the_budget_spent() {
    let harness = VideoHarness::new().await;
    let key = budgeted_key(&harness.db.pool, 0.5).await;
    let answer = second_admission_while_first_commits(&harness, key, 0.3, 100).await;
    assert_eq!(
        answer,
        Err(Refusal::MonthlyBudget {
            budget: 0.5,
            committed: 0.3
        })
    );
    harness.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_reservation_waits_for_an_uncommitted_admission_of_its_key_and_then_refuses() {
    let harness = VideoHarness::new().await;
    let pool = harness.db.pool.clone();
    let key = budgeted_key(&pool, 1.0).await;
    let mut setup = pool.begin().await.unwrap();
    let (running, admitted) = admit(&harness, &mut setup, key, 0.3, 100).await;
    assert_eq!(admitted, Ok(()));
    setup.commit().await.unwrap();
    sqlx::query("UPDATE videos SET spent_usd = 0.3 WHERE id = $1")
        .bind(running)
        .execute(&pool)
        .await
        .unwrap();

    let mut admission = pool.begin().await.unwrap();
    assert_eq!(
        admit(&harness, &mut admission, key, 0.6, 100).await.1,
        Ok(())
    );
    let reserving = async {
        // The running video's next phase costs $0.20: $0.50 in all, with $0.60 reserved besides.
        video_reserve(&pool, running, 0.2).await.unwrap()
    };
    let commit_admission = async {
        wait::until(
            "the reservation to wait for the key",
            Duration::from_secs(10),
            || async {
                let waiting: bool = sqlx::query_scalar(
                    "SELECT count(*) > 0 FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND datname = current_database()",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                waiting.then_some(())
            },
        )
        .await;
        admission.commit().await.unwrap();
    };
    let (reserved, ()) = tokio::join!(reserving, commit_admission);
    assert_eq!(
        reserved,
        Err(OverBudget {
            budget: 1.0,
            others: 0.6,
            needed: 0.5
        })
    );
    assert_eq!(
        video_reserve(&pool, running, 0.1).await.unwrap(),
        Ok(()),
        "$0.40 still fits"
    );
    harness.db.drop().await;
}
