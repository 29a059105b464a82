//! The operators' API under /api/admin, behind `Authorization: Bearer <SLATE_ADMIN_TOKEN>`
//! (compared in constant time). Without a configured token it does not exist (404).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use slate_engine::{RunId, RunState};
use subtle::ConstantTimeEq;

use crate::{app::AppState, error::ApiError, routes::video_id};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/api/admin/runs", web::get().to(runs))
        .route("/api/admin/runs/{run_id}", web::get().to(history))
        .route("/api/admin/runs/{run_id}/replay", web::post().to(replay))
        .route("/api/admin/runs/{run_id}/cancel", web::post().to(cancel));
}

/// Lets the request through only with the configured token.
fn authorize(state: &AppState, request: &HttpRequest) -> Result<(), ApiError> {
    let Some(expected) = &state.admin_token else {
        return Err(ApiError::NotFound("this path".into()));
    };
    let given = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

#[derive(Deserialize)]
pub struct RunsQuery {
    status: Option<String>,
}

async fn runs(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &request)?;
    let wanted = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(serde_json::from_value::<RunState>(json!(raw)).map_err(|_| {
            ApiError::invalid(
                "status",
                "status must be running, completed, failed or cancelled",
            )
        })?),
    };
    let runs = state.engine.runs(wanted, 100).await?;
    let runs: Vec<_> = runs
        .iter()
        .map(|r| {
            json!({"run_id": r.id, "workflow": r.workflow, "state": r.state, "error": r.error,
                   "cost_usd": r.cost_usd, "created_at": r.created_at, "finished_at": r.finished_at})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "runs": runs })))
}

/// Everything that happened to a run: its events, its checkpoints (superseded ones too) with
/// their attempts and costs, and its error.
async fn history(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &request)?;
    let id = RunId(video_id(&path)?);
    let run = state
        .engine
        .run(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("run {id}")))?;
    let checkpoints: Vec<_> = state
        .engine
        .checkpoints(id)
        .await?
        .iter()
        .map(|c| {
            json!({"step": c.step, "generation": c.generation, "attempt": c.attempt,
                   "cost_usd": c.cost_usd, "started_at": c.started_at,
                   "completed_at": c.completed_at, "superseded_at": c.superseded_at})
        })
        .collect();
    let events = state.engine.events(id, None).await?;
    Ok(HttpResponse::Ok().json(json!({
        "run_id": run.id, "workflow": run.workflow, "state": run.state,
        "generation": run.generation, "error": run.error, "cost_usd": run.cost_usd,
        "created_at": run.created_at, "finished_at": run.finished_at,
        "checkpoints": checkpoints, "events": events,
    })))
}

#[derive(Deserialize)]
pub struct ReplayBody {
    from_phase: Option<String>,
}

async fn replay(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ReplayBody>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &request)?;
    let id = RunId(video_id(&path)?);
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
    Ok(HttpResponse::Ok().json(json!({"run_id": id, "replayed_from": phase})))
}

async fn cancel(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &request)?;
    let id = RunId(video_id(&path)?);
    state.engine.cancel(id).await?;
    Ok(HttpResponse::Ok().json(json!({"run_id": id, "state": "cancelled"})))
}
