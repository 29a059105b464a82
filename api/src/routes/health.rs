//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::{app::AppState, error::ApiError};

/// The process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers too.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    sqlx::query("SELECT 1").execute(&state.pool).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
