//! Reading the `videos` projection, and turning its media keys into absolute URLs.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// A video's row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Video {
    pub id: Uuid,
    pub status: String,
    pub progress: Option<i16>,
    pub current_phase: Option<String>,
    pub request: Value,
    pub spec: Option<Value>,
    pub cost_breakdown: Value,
    pub storyboard_keys: Vec<String>,
    pub chunk_keys: Vec<String>,
    pub stitched_key: Option<String>,
    pub final_key: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, status::text AS status, progress, current_phase, request, spec, cost_breakdown,
    storyboard_keys, chunk_keys, stitched_key, final_key, error, created_at, completed_at";

impl Video {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "complete" | "failed" | "cancelled")
    }

    /// The sum of the cost per phase.
    pub fn cost_usd(&self) -> f64 {
        self.cost_breakdown.as_object().map_or(0.0, |phases| {
            phases.values().filter_map(Value::as_f64).sum()
        })
    }
}

pub async fn find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Video>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM videos WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Up to `limit` videos (of `status` when given) older than `before`, newest first.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Video>> {
    let (at, id) = before.unzip();
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM videos
         WHERE ($1::text IS NULL OR status = $1::text::video_status)
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(status)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Whether at least `limit` videos wait for their first step (counting no further than that).
pub async fn queue_is_full(pool: &PgPool, limit: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT count(*) >= $1
         FROM (SELECT 1 FROM videos WHERE status = 'queued' LIMIT $1) AS waiting",
    )
    .bind(limit)
    .fetch_one(pool)
    .await
}

/// Builds the absolute URLs of media keys.
#[derive(Debug, Clone)]
pub struct MediaUrls {
    /// For example `http://127.0.0.1:8080`.
    pub public_url: String,
}

impl MediaUrls {
    pub fn url(&self, key: &str) -> String {
        format!("{}/media/{key}", self.public_url.trim_end_matches('/'))
    }
}
