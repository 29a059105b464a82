//! The operators' API under /api/admin, behind `Authorization: Bearer <SLATE_ADMIN_TOKEN>`
//! (compared in constant time). Without a configured token it does not exist (404).

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use slate_engine::{Event, RunError, RunId, RunState, RunSummary};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    caller::bearer,
    error::{ApiError, ErrorBody},
    routes::{
        video::{page, ListQuery, VideoPage},
        video_id,
    },
    state::AppState,
};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/api/admin/runs", web::get().to(runs))
        .route("/api/admin/runs/{run_id}", web::get().to(history))
        .route("/api/admin/runs/{run_id}/replay", web::post().to(replay))
        .route("/api/admin/runs/{run_id}/cancel", web::post().to(cancel))
        .route("/api/admin/videos", web::get().to(videos));
}

/// An operator's request: it carries the configured token. Handlers that take it as their first
/// argument are the operators'; without a configured token they answer 404, with a wrong one 401.
pub struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = request
            .app_data::<web::Data<AppState>>()
            .and_then(|state| state.admin_token.as_deref());
        ready(match expected {
            None => Err(ApiError::NotFound("this path".into())),
            Some(expected) => {
                let given = bearer(request).unwrap_or("");
                if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
                    Ok(Operator)
                } else {
                    Err(ApiError::Unauthorized(
                        "send the operators' token as Authorization: Bearer <SLATE_ADMIN_TOKEN>",
                    ))
                }
            }
        })
    }
}

/// The run the path names.
fn run_id(raw: &str) -> Result<RunId, ApiError> {
    video_id(raw).map(RunId)
}

#[derive(Deserialize, IntoParams)]
pub struct RunsQuery {
    /// running, waiting, completed, failed or cancelled. every run when unset.
    status: Option<String>,
}

/// A run as the operators' list shows it.
#[derive(Serialize, ToSchema)]
pub struct RunRow {
    pub run_id: Uuid,
    pub workflow: String,
    /// running, waiting, completed, failed or cancelled.
    #[schema(value_type = String)]
    pub state: RunState,
    /// The failed step, its error code and message, and its attempts.
    #[schema(value_type = Option<Object>)]
    pub error: Option<RunError>,
    pub cost_usd: f64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<&RunSummary> for RunRow {
    fn from(run: &RunSummary) -> Self {
        Self {
            run_id: run.id.0,
            workflow: run.workflow.clone(),
            state: run.state,
            error: run.error.clone(),
            cost_usd: run.cost_usd,
            created_at: run.created_at,
            finished_at: run.finished_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RunList {
    /// The newest 100.
    pub runs: Vec<RunRow>,
}

/// A checkpoint of a run, live or superseded by a replay.
#[derive(Serialize, ToSchema)]
pub struct CheckpointRow {
    pub step: String,
    pub generation: i32,
    pub attempt: i32,
    pub cost_usd: f64,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub superseded_at: Option<DateTime<Utc>>,
}

/// Everything that happened to a run.
#[derive(Serialize, ToSchema)]
pub struct RunHistory {
    #[serde(flatten)]
    pub run: RunRow,
    /// How many times the run was replayed.
    pub generation: i32,
    pub checkpoints: Vec<CheckpointRow>,
    /// Every event, oldest first: id, kind, step, attempt, worker_id, detail, at.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Event>,
}

#[utoipa::path(get, path = "/api/admin/runs", tag = "operators", params(RunsQuery),
    security(("operator" = [])),
    responses((status = 200, body = RunList),
        (status = 401, description = "No token or a wrong one", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn runs(
    _: Operator,
    state: web::Data<AppState>,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let wanted = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(serde_json::from_value::<RunState>(json!(raw)).map_err(|_| {
            ApiError::invalid(
                "status",
                "status must be running, waiting, completed, failed or cancelled",
            )
        })?),
    };
    let runs = state.engine.runs(wanted, 100).await?;
    Ok(HttpResponse::Ok().json(RunList {
        runs: runs.iter().map(RunRow::from).collect(),
    }))
}

/// Everything that happened to a run: its events, its checkpoints (superseded ones too) with
/// their attempts and costs, and its error.
#[utoipa::path(get, path = "/api/admin/runs/{run_id}", tag = "operators",
    params(("run_id" = String, Path, description = "The run's id (the video's)")),
    security(("operator" = [])),
    responses((status = 200, body = RunHistory),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = run_id(&path)?;
    let run = state
        .engine
        .run(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("run {id}")))?;
    let checkpoints = state
        .engine
        .checkpoints(id)
        .await?
        .into_iter()
        .map(|c| CheckpointRow {
            step: c.step,
            generation: c.generation,
            attempt: c.attempt,
            cost_usd: c.cost_usd,
            started_at: c.started_at,
            completed_at: c.completed_at,
            superseded_at: c.superseded_at,
        })
        .collect();
    let events = state.engine.events(id, None).await?;
    Ok(HttpResponse::Ok().json(RunHistory {
        run: RunRow::from(&run),
        generation: run.generation,
        checkpoints,
        events,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ReplayBody {
    /// The phase to run again from: planning, storyboarding, generating_chunks, stitching or
    /// adding_music.
    from_phase: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub run_id: Uuid,
    pub replayed_from: String,
}

#[utoipa::path(post, path = "/api/admin/runs/{run_id}/replay", tag = "operators",
    params(("run_id" = String, Path, description = "The run's id (the video's)")),
    request_body = ReplayBody, security(("operator" = [])),
    responses((status = 200, body = Replayed),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The run is running",
        body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn replay(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ReplayBody>,
) -> Result<HttpResponse, ApiError> {
    let id = run_id(&path)?;
    let phase = body
        .from_phase
        .as_deref()
        .filter(|p| state.workflow.step_names().any(|s| s == *p))
        .ok_or_else(|| {
            let phases: Vec<&str> = state.workflow.step_names().collect();
            ApiError::invalid(
                "from_phase",
                format!("from_phase must be one of {}", phases.join(", ")),
            )
        })?;
    state.engine.replay(id, phase).await?;
    Ok(HttpResponse::Ok().json(Replayed {
        run_id: id.0,
        replayed_from: phase.to_owned(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RunCancelled {
    pub run_id: Uuid,
    /// Always `cancelled`.
    pub state: &'static str,
}

#[utoipa::path(post, path = "/api/admin/runs/{run_id}/cancel", tag = "operators",
    params(("run_id" = String, Path, description = "The run's id (the video's)")),
    security(("operator" = [])),
    responses((status = 200, body = RunCancelled),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The run is finished", body = ErrorBody)))]
pub async fn cancel(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = run_id(&path)?;
    state.engine.cancel(id).await?;
    Ok(HttpResponse::Ok().json(RunCancelled {
        run_id: id.0,
        state: "cancelled",
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct VideosQuery {
    /// Only the videos of this key.
    key_id: Option<String>,
    /// Only videos with this status.
    status: Option<String>,
    /// From 1 to 100; 20 when unset.
    limit: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// Every key's videos, newest first.
#[utoipa::path(get, path = "/api/admin/videos", tag = "operators", params(VideosQuery),
    security(("operator" = [])),
    responses((status = 200, body = VideoPage), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn videos(
    _: Operator,
    state: web::Data<AppState>,
    query: web::Query<VideosQuery>,
) -> Result<HttpResponse, ApiError> {
    let VideosQuery {
        key_id,
        status,
        limit,
        cursor,
    } = query.into_inner();
    let owner = key_id
        .as_deref()
        .filter(|k| !k.is_empty())
        .map(|k| {
            Uuid::parse_str(k)
                .map_err(|_| ApiError::invalid("key_id", "key_id must be a key's id (a UUID)"))
        })
        .transpose()?;
    let query = ListQuery {
        status,
        limit,
        cursor,
    };
    Ok(HttpResponse::Ok().json(page(&state, owner, &query).await?))
}
