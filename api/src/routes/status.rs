//! GET /api/status/{video_id}: where a video stands and how long it should still take.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use slate_activities::video::{Snapshot, Video, VideoStatus};
use slate_engine::RunId;
use uuid::Uuid;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    eta,
    routes::find_video,
    state::AppState,
};

/// The status of a video, as GET /api/status and the events stream show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = VideoStatus)]
pub struct StatusView {
    pub video_id: Uuid,
    /// The version whose status this is: the newest.
    pub version: i32,
    #[schema(value_type = String)]
    pub status: VideoStatus,
    pub progress: Option<i16>,
    pub current_phase: Option<&'static str>,
    /// Whole seconds.
    pub estimated_time_remaining: Option<i64>,
    pub error: Option<String>,
}

impl StatusView {
    pub fn new(video: &Video, snapshot: Snapshot, estimated_time_remaining: Option<i64>) -> Self {
        Self {
            video_id: video.video_id,
            version: video.version,
            status: snapshot.status,
            progress: snapshot.progress,
            current_phase: snapshot.current_phase.map(|p| p.name()),
            estimated_time_remaining,
            error: snapshot.error,
        }
    }
}

#[utoipa::path(get, path = "/api/status/{video_id}", tag = "videos", security(("client" = []), ()), params(("video_id" = String, Path, description = "The video's id")),
    responses((status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 200, body = StatusView),
        (status = 404, description = "Unknown or malformed id, or another key's video", body = ErrorBody)))]
pub async fn status(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let versions = find_video(&state.pool, caller, &path).await?;
    let video = versions.newest();
    let lengths = state.phase_lengths.get(&state.engine).await?;
    let started = state.engine.step_started_at(RunId(video.id)).await?;
    let remaining = lengths.remaining(video.status, eta::elapsed(started));
    Ok(HttpResponse::Ok().json(StatusView::new(video, video.snapshot(), remaining)))
}
