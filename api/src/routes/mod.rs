//! The routes of the HTTP facade.

pub mod admin;
pub mod events;
pub mod generate;
pub mod health;
pub mod keys;
pub mod media;
pub mod metrics;
pub mod pages;
pub mod status;
pub mod usage;
pub mod video;

use actix_web::{web, HttpResponse};

use slate_activities::video::{video_find, Video};

use crate::{caller::Caller, error::ApiError};

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
        .route("/api/usage", web::get().to(usage::usage))
        .route("/media/{key:.+}", web::get().to(media::media))
        .configure(admin::configure)
        .configure(keys::configure);
}

/// The answer to a path no route serves.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("this path".into()))
}

/// A video id from the path; a malformed one is as unknown as a missing one.
pub fn video_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("video {raw}")))
}

/// The caller's video the path names; another key's video is as unknown as a missing one (404).
pub async fn find_video(pool: &sqlx::PgPool, caller: Caller, raw: &str) -> Result<Video, ApiError> {
    let id = video_id(raw)?;
    video_find(pool, id)
        .await?
        .filter(|video| video.owner == caller.key_id)
        .ok_or_else(|| ApiError::NotFound(format!("video {id}")))
}
