//! GET /api/video/{video_id} (any version of it), GET /api/videos, POST /api/video/{video_id}/cancel
//! and DELETE /api/video/{video_id}.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slate_activities::video::{
    video_delete, video_list, video_versions_locked, Video, VideoStatus,
};
use slate_engine::RunId;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    media_urls::MediaUrls,
    routes::{
        find_video,
        review::{self, ReviewView},
    },
    state::AppState,
};

#[derive(Deserialize, IntoParams)]
pub struct VersionQuery {
    /// The version to read (from 1); the newest complete one when unset (or, before any is
    /// complete, the newest).
    pub version: Option<String>,
}

#[utoipa::path(get, path = "/api/video/{video_id}", tag = "videos", security(("client" = []), ()),
    params(("video_id" = String, Path, description = "The video's id"), VersionQuery),
    responses((status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 200, body = VideoView),
        (status = 404, description = "Unknown or malformed id, another key's video, or no such version", body = ErrorBody),
        (status = 422, description = "The version is not a whole number", body = ErrorBody)))]
pub async fn video(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<VersionQuery>,
) -> Result<HttpResponse, ApiError> {
    let versions = find_video(&state.pool, caller, &path).await?;
    let video = match query.version.as_deref() {
        None | Some("") => versions.shown(),
        Some(raw) => {
            let number: i32 = raw.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::invalid("version", "version must be a whole number from 1")
            })?;
            versions.get(number).ok_or_else(|| {
                ApiError::NotFound(format!(
                    "version {number} of video {}",
                    versions.newest().video_id
                ))
            })?
        }
    };
    let mut view = VideoView::new(video, &state.urls);
    view.versions = versions.all().len();
    view.review = review::pending(&state, video).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Everything about a video, its media as absolute URLs.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoView {
    pub video_id: Uuid,
    /// Which version this is (from 1).
    pub version: i32,
    /// How many versions the video has.
    pub versions: usize,
    /// While the video waits at a review gate: what to review, and what is still to spend.
    pub review: Option<ReviewView>,
    /// The key that made it.
    pub key_id: Uuid,
    /// queued, planning, storyboarding, generating_chunks, stitching, adding_music,
    /// awaiting_review, complete, failed, cancelled or expired.
    #[schema(value_type = String)]
    pub status: VideoStatus,
    pub prompt: Value,
    /// The MP4, once the video is complete.
    pub final_video_url: Option<String>,
    /// The sum of `cost_breakdown`.
    pub cost_usd: f64,
    /// USD per phase.
    #[schema(value_type = std::collections::HashMap<String, f64>)]
    pub cost_breakdown: Value,
    /// From admission to completion (or to now while the video is made).
    pub generation_time_seconds: f64,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The plan: archetype, product, style and beats.
    #[schema(value_type = Option<Object>)]
    pub spec: Option<Value>,
    pub storyboard_images: Vec<String>,
    pub chunk_urls: Vec<String>,
    pub stitched_url: Option<String>,
    pub num_beats: Option<usize>,
    pub num_chunks: Option<u64>,
    pub error: Option<String>,
}

impl VideoView {
    pub fn new(video: &Video, urls: &MediaUrls) -> Self {
        let finished_at = video.completed_at.unwrap_or_else(Utc::now);
        let counts = video.beats_and_clips();
        Self {
            video_id: video.video_id,
            version: video.version,
            versions: 1,
            review: None,
            key_id: video.owner,
            status: video.status,
            prompt: video.request["prompt"].clone(),
            final_video_url: video.final_video_key().map(|k| urls.url(k)),
            cost_usd: video.cost_usd(),
            cost_breakdown: video.cost_breakdown.clone(),
            generation_time_seconds: (finished_at - video.created_at).num_milliseconds() as f64
                / 1000.0,
            created_at: video.created_at,
            completed_at: video.completed_at,
            spec: video.spec.clone(),
            storyboard_images: video.storyboard_keys.iter().map(|k| urls.url(k)).collect(),
            chunk_urls: video.chunk_keys.iter().map(|k| urls.url(k)).collect(),
            stitched_url: video.stitched_key.as_deref().map(|k| urls.url(k)),
            num_beats: counts.map(|(beats, _)| beats),
            num_chunks: counts.map(|(_, clips)| clips as u64),
            error: video.error.clone(),
        }
    }
}

/// A page of videos, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoPage {
    pub videos: Vec<VideoView>,
    /// Pass it as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// The answer to a cancel.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoCancelled {
    pub video_id: Uuid,
    /// The version cancelled: the newest.
    pub version: i32,
    /// Always `cancelled`.
    pub status: &'static str,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only videos with this status.
    pub status: Option<String>,
    /// From 1 to 100; 20 when unset.
    pub limit: Option<String>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// The caller's videos, newest first.
#[utoipa::path(get, path = "/api/videos", tag = "videos", security(("client" = []), ()), params(ListQuery),
    responses((status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 200, body = VideoPage), (status = 422, body = ErrorBody)))]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(&state, Some(caller.key_id), &query).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// A page of the videos of `owner` (of every key when none) as `query` asks.
pub async fn page(
    state: &AppState,
    owner: Option<Uuid>,
    query: &ListQuery,
) -> Result<VideoPage, ApiError> {
    let status = query
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<VideoStatus>)
        .transpose()
        .map_err(|_| {
            let known: Vec<&str> = VideoStatus::all().map(VideoStatus::as_str).collect();
            ApiError::invalid(
                "status",
                format!("status must be one of {}", known.join(", ")),
            )
        })?;
    let limit = match query.limit.as_deref() {
        None | Some("") => 20,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| {
                ApiError::invalid("limit", "limit must be a whole number from 1 to 100")
            })?,
    };
    let before = query
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    let page = video_list(&state.pool, owner, status, before, limit).await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|v| encode_cursor(v.created_at, v.id)))
        .flatten();
    let videos = page
        .iter()
        .map(|v| VideoView::new(v, &state.urls))
        .collect();
    Ok(VideoPage {
        videos,
        next_cursor,
    })
}

fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{id}", at.timestamp_micros())
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || ApiError::invalid("cursor", "cursor must be a next_cursor this API returned");
    let (micros, id) = cursor.split_once('.').ok_or_else(bad)?;
    let at = micros
        .parse()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

#[utoipa::path(post, path = "/api/video/{video_id}/cancel", tag = "videos", security(("client" = []), ()), params(("video_id" = String, Path, description = "The video's id")),
    responses((status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 200, body = VideoCancelled), (status = 404, description = "Unknown or malformed id, or another key's video", body = ErrorBody),
        (status = 409, description = "The video is finished", body = ErrorBody)))]
pub async fn cancel(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let versions = find_video(&state.pool, caller, &path).await?;
    let newest = versions.newest();
    state.engine.cancel(RunId(newest.id)).await?;
    Ok(HttpResponse::Ok().json(VideoCancelled {
        video_id: newest.video_id,
        version: newest.version,
        status: "cancelled",
    }))
}

/// The answer to a delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoDeleted {
    pub video_id: Uuid,
    /// Always `deleted`.
    pub status: &'static str,
}

/// Deletes the video: its versions in the making are cancelled, and it and its versions are gone
/// from every listing and read (404 from then on). Its media go once the retention trims its
/// history (`SLATE_RETENTION_DAYS`).
#[utoipa::path(delete, path = "/api/video/{video_id}", tag = "videos", security(("client" = []), ()),
    params(("video_id" = String, Path, description = "The video's id")),
    responses((status = 200, body = VideoDeleted),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 404, description = "Unknown or malformed id, another key's video, or one deleted already", body = ErrorBody)))]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = crate::routes::video_id(&path)?;
    let mut tx = state.pool.begin().await?;
    // The same locks as a new version's: none can be made once this commits.
    let versions = video_versions_locked(&mut tx, id, caller.key_id).await?;
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!("video {id}")));
    }
    video_delete(&mut tx, id).await?;
    tx.commit().await?;
    for version in versions.iter().filter(|v| !v.status.is_finished()) {
        match state.engine.cancel(RunId(version.id)).await {
            Ok(()) | Err(slate_engine::Error::InvalidState { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(HttpResponse::Ok().json(VideoDeleted {
        video_id: id,
        status: "deleted",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_732_400_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(decode_cursor(&encode_cursor(at, id)).unwrap(), (at, id));
        assert!(decode_cursor("nonsense").is_err());
        assert!(decode_cursor("12.not-a-uuid").is_err());
    }
}
