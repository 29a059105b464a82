//! The routes of the HTTP facade.

pub mod admin;
pub mod events;
pub mod generate;
pub mod health;
pub mod metrics;
pub mod pages;
pub mod status;
pub mod video;

use actix_web::{web, HttpResponse};

use slate_activities::video::{video_find, Video};

use crate::error::ApiError;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(pages::index))
        .route("/admin", web::get().to(pages::admin))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/api/generate", web::post().to(generate::generate))
        .route("/api/status/{video_id}", web::get().to(status::status))
        .route(
            "/api/status/{video_id}/events",
            web::get().to(events::events),
        )
        .route("/api/video/{video_id}", web::get().to(video::video))
        .route(
            "/api/video/{video_id}/cancel",
            web::post().to(video::cancel),
        )
        .route("/api/videos", web::get().to(video::list))
        .configure(admin::configure);
}

/// The answer to a path no route serves.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("this path".into()))
}

/// A video id from the path; a malformed one is as unknown as a missing one.
pub fn video_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("video {raw}")))
}

/// The video the path names, or 404.
pub async fn find_video(pool: &sqlx::PgPool, raw: &str) -> Result<Video, ApiError> {
    let id = video_id(raw)?;
    video_find(pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("video {id}")))
}
