//! GET /api/usage: what the caller's key has spent this month, and its limits.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Serialize;
use slate_activities::{keys::key_find, video::video_month_usage};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    state::AppState,
};

/// A key's month so far and its limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub key_id: Uuid,
    pub name: String,
    /// The calendar month (UTC), for example `2026-12`.
    pub month: String,
    /// What the key's videos of the month have spent, in USD.
    pub spent_usd: f64,
    /// What its videos in the making may still spend, held against the monthly budget.
    pub reserved_usd: f64,
    /// No cap when null.
    pub monthly_budget_usd: Option<f64>,
    /// What a new video may still reserve this month; null without a cap.
    pub remaining_usd: Option<f64>,
    pub active_videos: i64,
    /// No limit when null.
    pub max_active_videos: Option<i64>,
    /// Generate requests per second, and how many may come at once; no limit when null.
    pub generate_per_second: Option<f64>,
    pub generate_burst: Option<f64>,
    /// The most `max_cost_usd` may be for one video.
    pub max_cost_per_video_usd: f64,
}

#[utoipa::path(get, path = "/api/usage", tag = "videos", security(("client" = []), ()),
    responses((status = 200, body = Usage),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody)))]
pub async fn usage(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let key = key_find(&state.pool, caller.key_id)
        .await?
        .ok_or(ApiError::Unauthorized("this API key is unknown"))?;
    let month = video_month_usage(&state.pool, key.id).await?;
    let remaining_usd = key
        .monthly_budget_usd
        .map(|budget| (budget - month.spent_usd - month.reserved_usd).max(0.0));
    Ok(HttpResponse::Ok().json(Usage {
        key_id: key.id,
        name: key.name,
        month: Utc::now().format("%Y-%m").to_string(),
        spent_usd: month.spent_usd,
        reserved_usd: month.reserved_usd,
        monthly_budget_usd: key.monthly_budget_usd,
        remaining_usd,
        active_videos: month.active_videos,
        max_active_videos: key
            .max_active_videos
            .map(i64::from)
            .or(state.max_active_videos),
        generate_per_second: state.generate_limit.map(|b| b.per_second),
        generate_burst: state.generate_limit.map(|b| b.capacity),
        max_cost_per_video_usd: state.max_cost_per_video,
    }))
}
