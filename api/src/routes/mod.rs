//! The routes of the HTTP facade.

pub mod admin;
pub mod assets;
pub mod estimate;
pub mod events;
pub mod generate;
pub mod health;
pub mod keys;
pub mod media;
pub mod metrics;
pub mod pages;
pub mod review;
pub mod status;
pub mod usage;
pub mod versions;
pub mod video;
pub mod webhooks;

use actix_web::{web, HttpResponse};

use slate_activities::video::{video_versions, Video, VideoStatus};

use crate::{caller::Caller, error::ApiError};

/// The largest body accepted.
pub const MAX_BODY: usize = 64 * 1024;

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
        .route("/api/video/{video_id}", web::delete().to(video::delete))
        .route("/api/estimate", web::post().to(estimate::estimate))
        .route(
            "/api/video/{video_id}/cancel",
            web::post().to(video::cancel),
        )
        .route(
            "/api/video/{video_id}/versions",
            web::get().to(versions::versions),
        )
        .route(
            "/api/video/{video_id}/approve",
            web::post().to(review::approve),
        )
        .route(
            "/api/video/{video_id}/spec",
            web::patch().to(versions::edit),
        )
        .route(
            "/api/video/{video_id}/stills/{beat}",
            web::put().to(versions::replace_still),
        )
        .route("/api/assets", web::post().to(assets::upload))
        .route("/api/assets/{asset_id}", web::get().to(assets::asset))
        .route("/api/assets/{asset_id}", web::delete().to(assets::delete))
        .route(
            "/api/video/{video_id}/beats/{beat}/regenerate",
            web::post().to(versions::regenerate),
        )
        .route("/api/videos", web::get().to(video::list))
        .route("/api/usage", web::get().to(usage::usage))
        .route("/api/webhooks/secret", web::get().to(webhooks::secret))
        .route(
            "/api/webhooks/secret/rotate",
            web::post().to(webhooks::rotate),
        )
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

/// The versions of the caller's video the path names; another key's video is as unknown as a
/// missing one (404).
pub async fn find_video(
    pool: &sqlx::PgPool,
    caller: Caller,
    raw: &str,
) -> Result<Versions, ApiError> {
    let id = video_id(raw)?;
    let versions = video_versions(pool, id).await?;
    match versions.first() {
        Some(first) if first.owner == caller.key_id && first.id == id => Ok(Versions(versions)),
        _ => Err(ApiError::NotFound(format!("video {id}"))),
    }
}

/// A video's versions, the first first (never none).
pub struct Versions(Vec<Video>);

impl Versions {
    /// The newest version: the one status, events and cancel follow.
    pub fn newest(&self) -> &Video {
        self.0.last().expect("a video has a version")
    }

    /// The version shown when none is asked for: the newest complete one, or else the newest.
    pub fn shown(&self) -> &Video {
        let complete = self
            .0
            .iter()
            .rev()
            .find(|v| v.status == VideoStatus::Complete);
        complete.unwrap_or_else(|| self.newest())
    }

    /// Version `number` (from 1).
    pub fn get(&self, number: i32) -> Option<&Video> {
        self.0.iter().find(|v| v.version == number)
    }

    pub fn all(&self) -> &[Video] {
        &self.0
    }
}
