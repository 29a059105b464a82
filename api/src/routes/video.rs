//! GET /api/video/{video_id}, GET /api/videos and POST /api/video/{video_id}/cancel.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use slate_engine::RunId;
use uuid::Uuid;

use crate::{
    app::AppState,
    error::ApiError,
    routes::{find_video, video_id},
    videos::{self, MediaUrls, Video},
};

const STATUSES: [&str; 9] = [
    "queued",
    "planning",
    "storyboarding",
    "generating_chunks",
    "stitching",
    "adding_music",
    "complete",
    "failed",
    "cancelled",
];

pub async fn video(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let video = find_video(&state.pool, &path).await?;
    Ok(HttpResponse::Ok().json(describe(&video, &state.urls)))
}

/// Everything about a video, its media as absolute URLs.
pub fn describe(video: &Video, urls: &MediaUrls) -> Value {
    let complete = video.status == "complete";
    let finished_at = video.completed_at.unwrap_or_else(Utc::now);
    let num_beats = video
        .spec
        .as_ref()
        .and_then(|s| s["beats"].as_array())
        .map(Vec::len);
    let num_chunks = video
        .spec
        .as_ref()
        .and_then(|s| s["duration"].as_u64())
        .map(|d| d / 5);
    json!({
        "video_id": video.id,
        "status": video.status,
        "prompt": video.request["prompt"],
        "final_video_url": video.final_key.as_deref().filter(|_| complete).map(|k| urls.url(k)),
        "cost_usd": video.cost_usd(),
        "cost_breakdown": video.cost_breakdown,
        "generation_time_seconds": (finished_at - video.created_at).num_milliseconds() as f64 / 1000.0,
        "created_at": video.created_at,
        "completed_at": video.completed_at,
        "spec": video.spec,
        "storyboard_images": video.storyboard_keys.iter().map(|k| urls.url(k)).collect::<Vec<_>>(),
        "chunk_urls": video.chunk_keys.iter().map(|k| urls.url(k)).collect::<Vec<_>>(),
        "stitched_url": video.stitched_key.as_deref().map(|k| urls.url(k)),
        "num_beats": num_beats,
        "num_chunks": num_chunks,
        "error": video.error,
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = query.status.as_deref().filter(|s| !s.is_empty());
    if let Some(status) = status {
        if !STATUSES.contains(&status) {
            return Err(ApiError::invalid(
                "status",
                format!("status must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
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
    let page = videos::list(&state.pool, status, before, limit).await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|v| encode_cursor(v.created_at, v.id)))
        .flatten();
    let items: Vec<Value> = page.iter().map(|v| describe(v, &state.urls)).collect();
    Ok(HttpResponse::Ok().json(json!({"videos": items, "next_cursor": next_cursor})))
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

pub async fn cancel(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = video_id(&path)?;
    state.engine.cancel(RunId(id)).await?;
    Ok(HttpResponse::Ok().json(json!({"video_id": id, "status": "cancelled"})))
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
