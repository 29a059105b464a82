//! GET /api/status/{video_id}: where a video stands and how long it should still take.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::{app::AppState, error::ApiError, eta, routes::find_video};

pub async fn status(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let video = find_video(&state.pool, &path).await?;
    let remaining = eta::remaining(&state.pool, &video).await?;
    Ok(HttpResponse::Ok().json(json!({
        "video_id": video.id,
        "status": video.status,
        "progress": video.progress,
        "current_phase": video.current_phase,
        "estimated_time_remaining": remaining,
        "error": video.error,
    })))
}
