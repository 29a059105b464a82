//! What videos may spend, per key and calendar month (UTC): admission reserves a new video's
//! estimate; a phase that would spend past its video's reservation raises it first, if the key's
//! monthly cap allows; a finished video counts what it spent. The key's row lock serializes
//! every check of one key; a transaction-level advisory lock serializes the queue's.

use slate_engine::RunId;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    status::VideoStatus,
    table::{video_insert, video_queue_is_full, VersionOf},
};

/// Every admission holds this advisory lock while it counts the queue and writes its video, so
/// that concurrent admissions never overshoot the queue's limit.
const ADMISSION_LOCK: i64 = 0x5_1a7e_ad3f;

/// Slack for sums of floating-point dollars.
const CENT_FRACTION: f64 = 1e-9;

/// What a key has committed in a month: what finished videos spent, and for the others the more
/// of what they spent and what they reserve. $1 is the key, $2 an instant of the month (NULL:
/// the database's now), $3 a video left out (or NULL).
fn committed_sql() -> String {
    format!(
        "SELECT coalesce(sum(CASE WHEN status IN {FINISHED}
                                   THEN spent_usd ELSE greatest(spent_usd, reserved_usd) END), 0)
    FROM videos
    WHERE owner = $1 AND id IS DISTINCT FROM $3
      AND created_at >= date_trunc('month', coalesce($2::timestamptz, now()), 'UTC')
      AND created_at < date_trunc('month', coalesce($2::timestamptz, now()), 'UTC')
                       + interval '1 month'"
    )
}

const FINISHED: &str = VideoStatus::FINISHED_SQL;

/// Why an admission is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// `SLATE_MAX_QUEUED` videos wait for their first phase.
    QueueFull,
    /// The key has `limit` videos in the making.
    TooManyActive { limit: i64 },
    /// The video's reservation would take the key past its monthly budget.
    MonthlyBudget { budget: f64, committed: f64 },
}

/// A new video and the limits it is admitted under.
#[derive(Debug, Clone)]
pub struct Admission<'a> {
    pub run_id: RunId,
    pub request: &'a crate::plan::Request,
    /// The key that makes it.
    pub owner: Uuid,
    /// What the video is expected to cost at most, reserved against the key's monthly budget.
    pub reserve_usd: f64,
    pub max_queued: i64,
    /// How many of a key's videos may be in the making at once, unless the key says otherwise;
    /// no limit when none.
    pub max_active: Option<i64>,
    /// The video it is a later version of, if it is one.
    pub version: Option<VersionOf>,
    /// Where its webhook events go; a later version keeps its video's.
    pub webhook_url: Option<&'a str>,
}

/// Checks the queue and the key's limits, and writes the video's row, in the admitting
/// transaction; nothing is written when the admission is refused. The key's row is locked until
/// the transaction ends, then the queue's lock is taken: every admission and every reservation
/// takes them in that order.
pub async fn video_admit(
    conn: &mut PgConnection,
    admission: &Admission<'_>,
) -> sqlx::Result<Result<(), Refusal>> {
    let owner = admission.owner;
    let (monthly_budget, own_max_active): (Option<f64>, Option<i32>) = sqlx::query_as(
        "SELECT monthly_budget_usd, max_active_videos FROM api_keys WHERE id = $1 FOR UPDATE",
    )
    .bind(owner)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ADMISSION_LOCK)
        .execute(&mut *conn)
        .await?;
    if video_queue_is_full(conn, admission.max_queued).await? {
        return Ok(Err(Refusal::QueueFull));
    }
    if let Some(limit) = own_max_active.map(i64::from).or(admission.max_active) {
        if video_active_count(conn, owner, limit).await? >= limit {
            return Ok(Err(Refusal::TooManyActive { limit }));
        }
    }
    if let Some(budget) = monthly_budget {
        let committed = committed(conn, owner).await?;
        if committed + admission.reserve_usd > budget + CENT_FRACTION {
            return Ok(Err(Refusal::MonthlyBudget { budget, committed }));
        }
    }
    video_insert(
        conn,
        admission.run_id,
        admission.request,
        owner,
        admission.reserve_usd,
        admission.version.as_ref(),
        admission.webhook_url,
    )
    .await?;
    Ok(Ok(()))
}

/// How many of `owner`'s videos are in the making, counting no further than `limit`.
async fn video_active_count(conn: &mut PgConnection, owner: Uuid, limit: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM (SELECT 1 FROM videos
             WHERE owner = $1 AND status NOT IN {FINISHED} LIMIT $2) AS a"
    ))
    .bind(owner)
    .bind(limit)
    .fetch_one(conn)
    .await
}

/// What `owner` has committed this month.
async fn committed(conn: &mut PgConnection, owner: Uuid) -> sqlx::Result<f64> {
    sqlx::query_scalar(&committed_sql())
        .bind(owner)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .bind(None::<Uuid>)
        .fetch_one(conn)
        .await
}

/// The video would take its key past the monthly budget.
#[derive(Debug, Clone, PartialEq)]
pub struct OverBudget {
    pub budget: f64,
    /// What the key's other videos of the month have committed.
    pub others: f64,
    /// What this video would have spent in all.
    pub needed: f64,
}

/// Makes sure the video may spend `cost` more: within its reservation, or by raising it while
/// its key's monthly budget allows.
pub async fn video_reserve(
    pool: &PgPool,
    id: RunId,
    cost: f64,
) -> sqlx::Result<Result<(), OverBudget>> {
    let mut tx = pool.begin().await?;
    let row: Option<(Uuid, f64, f64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT owner, reserved_usd, spent_usd, created_at FROM videos WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    // A run without a video row (started outside the API) has no key to charge.
    let Some((owner, reserved, spent, created_at)) = row else {
        return Ok(Ok(()));
    };
    let needed = spent + cost;
    if needed <= reserved + CENT_FRACTION {
        return Ok(Ok(()));
    }
    let budget: Option<f64> =
        sqlx::query_scalar("SELECT monthly_budget_usd FROM api_keys WHERE id = $1 FOR UPDATE")
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(budget) = budget {
        let others: f64 = sqlx::query_scalar(&committed_sql())
            .bind(owner)
            .bind(created_at)
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        if others + needed > budget + CENT_FRACTION {
            return Ok(Err(OverBudget {
                budget,
                others,
                needed,
            }));
        }
    }
    sqlx::query("UPDATE videos SET reserved_usd = $2 WHERE id = $1")
        .bind(id)
        .bind(needed)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// A key's month so far, as GET /api/usage shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MonthUsage {
    /// What the key's videos of the month spent.
    pub spent_usd: f64,
    /// What its videos in the making may still spend, held against the budget.
    pub reserved_usd: f64,
    /// How many of its videos are in the making.
    pub active_videos: i64,
}

pub async fn video_month_usage(pool: &PgPool, owner: Uuid) -> sqlx::Result<MonthUsage> {
    sqlx::query_as(&format!(
        "SELECT coalesce(sum(spent_usd) FILTER (WHERE month), 0) AS spent_usd,
                coalesce(sum(greatest(reserved_usd - spent_usd, 0))
                         FILTER (WHERE month AND active), 0) AS reserved_usd,
                count(*) FILTER (WHERE active) AS active_videos
         FROM (SELECT spent_usd, reserved_usd,
                      status NOT IN {FINISHED} AS active,
                      created_at >= date_trunc('month', now(), 'UTC') AS month
               FROM videos WHERE owner = $1) AS v"
    ))
    .bind(owner)
    .fetch_one(pool)
    .await
}
