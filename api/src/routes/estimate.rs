//! POST /api/estimate: what a generate body would cost, phase by phase, and how long it would
//! take, starting nothing. The plan is the embedded planner's (free, offline and what most plans
//! look like); the prices are the configured providers'; the times, recent videos' medians.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use slate_activities::{cost::default_budget, phase::Phase, plan, video::VideoStatus};
use utoipa::ToSchema;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    routes::generate::{parse, GenerateRequest},
    state::AppState,
};

/// What a video would cost and take.
#[derive(Debug, Serialize, ToSchema)]
pub struct Estimate {
    /// Seconds of video.
    pub duration: u32,
    pub num_beats: usize,
    pub num_chunks: usize,
    /// USD per phase.
    pub cost_breakdown: BTreeMap<&'static str, f64>,
    /// The sum of `cost_breakdown`.
    pub cost_usd: f64,
    /// The most the video may cost: its `max_cost_usd`, or $0.50 per 30 s.
    pub budget_usd: f64,
    /// Whole seconds from admission to the final video, with no wait in the queue or at a
    /// review gate.
    pub estimated_time_seconds: i64,
}

#[utoipa::path(post, path = "/api/estimate", tag = "videos", request_body = GenerateRequest,
    security(("client" = []), ()),
    responses((status = 200, body = Estimate),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = ErrorBody)))]
pub async fn estimate(
    _caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let request = parse(&body, &state)?;
    let spec = plan::embedded(&request);
    let cost_breakdown: BTreeMap<&'static str, f64> = Phase::ALL
        .iter()
        .map(|p| (p.name(), state.prices.phase(*p, Some(&spec))))
        .collect();
    let lengths = state.phase_lengths.get(&state.engine).await?;
    Ok(HttpResponse::Ok().json(Estimate {
        duration: spec.duration,
        num_beats: spec.beats.len(),
        num_chunks: spec.chunk_count(),
        cost_usd: cost_breakdown.values().sum(),
        cost_breakdown,
        budget_usd: request
            .max_cost_usd
            .unwrap_or_else(|| default_budget(spec.duration)),
        estimated_time_seconds: lengths.remaining(VideoStatus::Queued, 0.0).unwrap_or(0),
    }))
}
