//! The engine's keyed token buckets in PostgreSQL: exact under concurrency, refilled at their
//! rate up to their capacity, and returned when the taking transaction rolls back.

use std::time::Duration;

use slate_engine::{take_token_using, Bucket, Taken};
use slate_integration_tests::{database::TestDatabase, wait};

use crate::harness::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_of_capacity_ten_grants_exactly_ten_of_two_hundred_concurrent_takes() {
    let h = Harness::new().await;
    let bucket = Bucket {
        capacity: 10.0,
        per_second: 0.0001,
    };
    let mut takes = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let engine = h.engine.clone();
        takes.spawn(async move {
            engine
                .take_token("generate:client-a", bucket)
                .await
                .unwrap()
        });
    }
    let taken = takes.join_all().await;
    let granted = taken.iter().filter(|t| **t == Taken::Granted).count();
    assert_eq!(granted, 10);
    for t in taken {
        if let Taken::Refused { retry_after } = t {
            assert!(
                retry_after > Duration::from_secs(60),
                "a token is hours away: {retry_after:?}"
            );
        }
    }
    let other = h
        .engine
        .take_token("generate:client-b", bucket)
        .await
        .unwrap();
    assert_eq!(other, Taken::Granted, "each key has its own bucket");
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_refills_at_its_rate_but_never_past_its_capacity() {
    let h = Harness::new().await;
    let bucket = Bucket {
        capacity: 2.0,
        per_second: 20.0,
    };
    let take = || h.engine.take_token("k", bucket);
    assert_eq!(take().await.unwrap(), Taken::Granted);
    assert_eq!(take().await.unwrap(), Taken::Granted);
    let Taken::Refused { retry_after } = take().await.unwrap() else {
        panic!("the bucket is empty");
    };
    assert!(retry_after <= Duration::from_millis(50), "{retry_after:?}");
    wait::until("a token to come back", Duration::from_secs(10), || async {
        (take().await.unwrap() == Taken::Granted).then_some(())
    })
    .await;
    sqlx::query("UPDATE token_buckets SET refilled_at = now() - interval '1 hour'")
        .execute(&h.db.pool)
        .await
        .unwrap();
    let granted = [take().await, take().await, take().await]
        .into_iter()
        .filter(|t| *t.as_ref().unwrap() == Taken::Granted)
        .count();
    assert_eq!(
        granted, 2,
        "an hour idle fills the bucket to its capacity only"
    );
    h.db.drop().await;
}

#[tokio::test]
async fn a_token_taken_in_a_rolled_back_transaction_is_returned_and_a_bad_bucket_is_refused() {
    let db = TestDatabase::new().await;
    let bucket = Bucket {
        capacity: 1.0,
        per_second: 0.0001,
    };
    let mut tx = db.pool.begin().await.unwrap();
    assert_eq!(
        take_token_using(&mut tx, "k", bucket).await.unwrap(),
        Taken::Granted
    );
    tx.rollback().await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(
        take_token_using(&mut conn, "k", bucket).await.unwrap(),
        Taken::Granted
    );
    let empty = Bucket {
        capacity: 0.5,
        per_second: 1.0,
    };
    assert!(take_token_using(&mut conn, "k2", empty).await.is_err());
    drop(conn);
    db.drop().await;
}
