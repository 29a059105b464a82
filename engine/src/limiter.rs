//! Rate limits by key, as token buckets in PostgreSQL: every process on the database takes from
//! the same buckets, so a limit holds across machines. Taking a token is one statement on the
//! bucket's row, which refills it for the time passed and takes a token only if one is there;
//! concurrent takers of one bucket queue on that row, so a bucket never gives more than it holds.

use std::time::Duration;

use sqlx::PgConnection;

use crate::error::{Error, Result};

/// How a bucket fills: it holds at most `capacity` tokens (the burst) and gains `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub capacity: f64,
    pub per_second: f64,
}

/// What a take got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Taken {
    Granted,
    /// The bucket is empty; a token will be there after this long.
    Refused {
        retry_after: Duration,
    },
}

/// Takes a token from `key`'s bucket, in the caller's transaction (rolled back with it).
pub async fn take_token_using(conn: &mut PgConnection, key: &str, bucket: Bucket) -> Result<Taken> {
    if !(bucket.capacity >= 1.0 && bucket.per_second > 0.0) {
        return Err(Error::InvalidBucket(format!(
            "it must hold at least one token and refill: {bucket:?}"
        )));
    }
    let level = "LEAST($2, b.tokens + EXTRACT(EPOCH FROM now() - b.refilled_at)::float8 * $3)";
    let granted: Option<f64> = sqlx::query_scalar(&format!(
        "INSERT INTO token_buckets AS b (key, tokens, refilled_at) VALUES ($1, $2 - 1, now())
         ON CONFLICT (key) DO UPDATE SET tokens = {level} - 1, refilled_at = now()
         WHERE {level} >= 1
         RETURNING tokens"
    ))
    .bind(key)
    .bind(bucket.capacity)
    .bind(bucket.per_second)
    .fetch_optional(&mut *conn)
    .await?;
    if granted.is_some() {
        return Ok(Taken::Granted);
    }
    let level: f64 = sqlx::query_scalar(&format!(
        "SELECT {level} FROM token_buckets b WHERE key = $1"
    ))
    .bind(key)
    .bind(bucket.capacity)
    .bind(bucket.per_second)
    .fetch_one(&mut *conn)
    .await?;
    let wait = ((1.0 - level).max(0.0) / bucket.per_second).max(0.001);
    Ok(Taken::Refused {
        retry_after: Duration::from_secs_f64(wait),
    })
}
