//! GET /api/status/{video_id}: where a video stands and how long it should still take.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use slate_engine::RunId;
use uuid::Uuid;

use crate::{
    error::{ApiError, ErrorBody},
    eta,
    routes::find_video,
    state::AppState,
};

/// The status of a video, as GET /api/status and the events stream show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VideoStatus {
    pub video_id: Uuid,
    pub status: String,
    pub progress: Option<i16>,
    pub current_phase: Option<String>,
    /// Whole seconds.
    pub estimated_time_remaining: Option<i64>,
    pub error: Option<String>,
}

#[utoipa::path(get, path = "/api/status/{video_id}", tag = "videos", params(("video_id" = String, Path, description = "The video's id")),
    responses((status = 200, body = VideoStatus),
        (status = 404, description = "Unknown or malformed id", body = ErrorBody)))]
pub async fn status(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let video = find_video(&state.pool, &path).await?;
    let lengths = state.phase_lengths.get(&state.engine).await?;
    let started = state.engine.step_started_at(RunId(video.id)).await?;
    let elapsed = eta::elapsed(started);
    Ok(HttpResponse::Ok().json(VideoStatus {
        video_id: video.id,
        estimated_time_remaining: lengths.remaining(&video.status, elapsed),
        status: video.status,
        progress: video.progress,
        current_phase: video.current_phase,
        error: video.error,
    }))
}
