//! Limits by key, as a claim applies them: a step may name a key whose concurrency (attempts
//! leased at once) and rate (attempts started per second) every process respects (see
//! [`crate::Limit`]). A claim serves only the keys whose advisory lock it takes at once (another
//! claim serving a key is passed over, never waited for), counts their leased tasks and children
//! in a statement that begins after it holds the locks, so that it sees every lease an earlier
//! holder committed, and takes the rate's tokens from the key's bucket before it commits.
//! Whatever ends a limited attempt notifies idle workers, so that tasks over a limit stay due
//! without polling.

use sqlx::PgConnection;

use crate::workflow::Limit;

/// The limits a claim serves, as the columns of an `unnest`.
#[derive(Default)]
pub(crate) struct Served {
    pub key: Vec<String>,
    pub concurrency: Vec<Option<i32>>,
    pub capacity: Vec<Option<f64>>,
    pub per_second: Vec<Option<f64>>,
}

/// The prefix of a limit's bucket among the token buckets.
pub(crate) const BUCKET_PREFIX: &str = "limit:";

/// Takes the advisory lock of each of `limits`' keys that no other claim holds, for the rest of
/// the transaction; returns the limits it took.
pub(crate) async fn serve(conn: &mut PgConnection, limits: &[Limit]) -> sqlx::Result<Served> {
    let keys: Vec<&str> = limits.iter().map(|l| l.key.as_str()).collect();
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM unnest($1::text[]) AS key
         WHERE pg_try_advisory_xact_lock(hashtextextended('slate-limit:' || key, 0))",
    )
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    let mut served = Served::default();
    for limit in limits.iter().filter(|l| taken.contains(&l.key)) {
        served.key.push(limit.key.clone());
        served.concurrency.push(limit.concurrency.map(|c| c as i32));
        served.capacity.push(limit.rate.map(|r| r.capacity));
        served.per_second.push(limit.rate.map(|r| r.per_second));
    }
    Ok(served)
}

/// Takes from the buckets of the served limits with a rate one token per task the claim leased
/// under their key (`leased`: the key of each).
pub(crate) async fn take_tokens(
    conn: &mut PgConnection,
    served: &Served,
    leased: &[&str],
) -> sqlx::Result<()> {
    let (mut keys, mut counts, mut capacity, mut per_second) = (vec![], vec![], vec![], vec![]);
    for (i, key) in served.key.iter().enumerate() {
        let n = leased.iter().filter(|k| **k == key).count();
        if let (true, Some(c), Some(p)) = (n > 0, served.capacity[i], served.per_second[i]) {
            keys.push(key.as_str());
            counts.push(n as f64);
            capacity.push(c);
            per_second.push(p);
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH taken AS (
             SELECT $5 || key AS key, n, capacity, per_second
             FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[])
                 AS t(key, n, capacity, per_second)
         ), refilled AS (
             UPDATE token_buckets b
             SET tokens = LEAST(t.capacity, b.tokens + EXTRACT(EPOCH FROM now() - b.refilled_at)::float8
                                            * t.per_second) - t.n,
                 refilled_at = now()
             FROM taken t WHERE b.key = t.key
             RETURNING b.key
         )
         INSERT INTO token_buckets (key, tokens)
         SELECT key, capacity - n FROM taken WHERE key NOT IN (SELECT key FROM refilled)
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(&keys)
    .bind(&counts)
    .bind(&capacity)
    .bind(&per_second)
    .bind(BUCKET_PREFIX)
    .execute(conn)
    .await?;
    Ok(())
}
