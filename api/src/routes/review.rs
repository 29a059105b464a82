//! Review gates: what a video waiting for its client's approval shows (the gate, when it
//! expires, what is still to spend), and POST /api/video/{video_id}/approve.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slate_activities::{
    phase::Phase,
    production::Production,
    review::{Approval, Gate},
    video::{video_approve, Video, VideoStatus},
};
use slate_engine::{EventKind, RunId};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    routes::find_video,
    state::AppState,
};

/// What a video waiting at a review gate asks its client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    /// The phase just made, to review: `planning` (the spec) or `storyboarding` (the stills).
    pub gate: &'static str,
    /// When the video expires unless approved.
    pub expires_at: Option<DateTime<Utc>>,
    /// What the phases still to come are expected to cost, in USD.
    pub estimated_cost_usd: f64,
}

/// What `video` asks its client, when it waits at a review gate.
pub async fn pending(state: &AppState, video: &Video) -> Result<Option<ReviewView>, ApiError> {
    let gate = match (video.status, video.current_phase) {
        (VideoStatus::AwaitingReview, Some(next)) => Gate::before(next),
        _ => None,
    };
    let Some(gate) = gate else {
        return Ok(None);
    };
    let run = RunId(video.id);
    let events = state.engine.events(run, None).await?;
    let expires_at = events
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::Waiting)
        .and_then(|e| e.detail.as_ref()?.get("deadline")?.as_str()?.parse().ok());
    let checkpoints = state.engine.checkpoints(run).await?;
    let made = checkpoints
        .iter()
        .filter(|c| c.superseded_at.is_none())
        .max_by_key(|c| c.step_index)
        .and_then(|c| serde_json::from_value::<Production>(c.output.clone()).ok());
    let estimated_cost_usd = made.map_or(0.0, |production| {
        let to_come = &Phase::ALL[gate.phase().index() + 1..];
        to_come
            .iter()
            .map(|p| state.prices.phase_for(*p, &production))
            .sum()
    });
    Ok(Some(ReviewView {
        gate: gate.name(),
        expires_at,
        estimated_cost_usd,
    }))
}

/// What POST /api/video/{video_id}/approve takes.
#[derive(Deserialize, ToSchema)]
pub struct ApproveRequest {
    /// The gate approved: `planning` or `storyboarding`.
    pub gate: String,
}

/// The answer to an approval.
#[derive(Serialize, ToSchema)]
pub struct Approved {
    pub video_id: Uuid,
    pub version: i32,
    pub gate: &'static str,
}

/// Approves the gate the newest version waits at; a repeat of the same gate's approval answers
/// the same.
#[utoipa::path(post, path = "/api/video/{video_id}/approve", tag = "steering",
    security(("client" = []), ()), request_body = ApproveRequest,
    params(("video_id" = String, Path, description = "The video's id")),
    responses((status = 200, body = Approved),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 404, description = "Unknown or malformed id, or another key's video", body = ErrorBody),
        (status = 409, description = "`not_awaiting_review`: the newest version does not wait at that gate", body = ErrorBody),
        (status = 422, description = "The gate is not `planning` or `storyboarding`", body = ErrorBody)))]
pub async fn approve(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let gate = body
        .get("gate")
        .and_then(Value::as_str)
        .and_then(Gate::named)
        .ok_or_else(|| {
            ApiError::invalid("gate", "gate must be \"planning\" or \"storyboarding\"")
        })?;
    // A concurrent edit of the waiting plan makes the approval read the plan again.
    for _ in 0..3 {
        let versions = find_video(&state.pool, caller, &path).await?;
        let video = versions.newest();
        let approved = Approved {
            video_id: video.video_id,
            version: video.version,
            gate: gate.name(),
        };
        if video.approved.iter().any(|g| g == gate.name()) {
            return Ok(HttpResponse::Ok().json(approved));
        }
        let waiting = video.status == VideoStatus::AwaitingReview
            && video.current_phase.and_then(Gate::before) == Some(gate);
        if !waiting {
            return Err(not_awaiting(video, gate));
        }
        if signal_approval(&state, video, gate).await? {
            return Ok(HttpResponse::Ok().json(approved));
        }
    }
    Err(ApiError::not_now(
        "conflict",
        "the plan was edited while it was approved; try again",
    ))
}

fn not_awaiting(video: &Video, gate: Gate) -> ApiError {
    ApiError::not_now(
        "not_awaiting_review",
        format!(
            "version {} of this video is {}, not waiting for the review of {}",
            video.version,
            video.status,
            gate.name()
        ),
    )
}

/// Sends `video`'s approval of `gate` with the plan as it was read, and records it, in one
/// transaction: the signal locks the run's task before the video's row is written, as the
/// engine's transactions do. Whether it went through (not when the plan changed meanwhile).
async fn signal_approval(state: &AppState, video: &Video, gate: Gate) -> Result<bool, ApiError> {
    let spec = video.spec.as_ref().filter(|_| gate == Gate::Planning);
    let approval = Approval {
        spec: spec.and_then(|s| serde_json::from_value(s.clone()).ok()),
    };
    let key = format!("v{}:{}", video.version, gate.name());
    let mut tx = state.pool.begin().await?;
    let run = RunId(video.id);
    let sent = state
        .engine
        .signal_using(&mut tx, run, gate.signal(), &approval, Some(&key))
        .await;
    match sent {
        Ok(_) => {}
        Err(slate_engine::Error::InvalidState { .. }) => return Err(not_awaiting(video, gate)),
        Err(error) => return Err(error.into()),
    }
    if !video_approve(&mut tx, video.id, gate, video.spec.as_ref()).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}
