//! The caller's webhook secret: GET /api/webhooks/secret shows it (made on first use), POST
//! /api/webhooks/secret/rotate replaces it, the previous one still signing events for a day. The
//! events themselves, their signature and their schedule are docs/api.md's "Webhooks".

use std::time::Duration;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use slate_activities::webhooks::{
    webhook_secret, webhook_secret_rotate, WebhookSecret, SIGNATURE_HEADER, TOLERANCE,
};
use utoipa::ToSchema;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    state::AppState,
};

/// How long a rotated secret still signs events: a day.
const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// The secret that signs the caller's webhook events, and how to check a signature.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    /// `whsec_` and 32 characters: the HMAC-SHA256 key, as UTF-8 bytes.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    /// The header that carries `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`.
    pub signature_header: &'static str,
    /// How old a signature's timestamp a receiver should accept, in seconds.
    pub tolerance_secs: u64,
}

impl SecretView {
    fn new(secret: WebhookSecret) -> Self {
        Self {
            secret: secret.secret,
            created_at: secret.created_at,
            signature_header: SIGNATURE_HEADER,
            tolerance_secs: TOLERANCE.as_secs(),
        }
    }
}

#[utoipa::path(get, path = "/api/webhooks/secret", tag = "webhooks",
    security(("client" = []), ()),
    responses((status = 200, body = SecretView),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody)))]
pub async fn secret(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let secret = webhook_secret(&mut conn, caller.key_id).await?;
    Ok(HttpResponse::Ok().json(SecretView::new(secret)))
}

#[utoipa::path(post, path = "/api/webhooks/secret/rotate", tag = "webhooks",
    security(("client" = []), ()),
    responses((status = 200, description = "The new secret; events are signed with the \
            previous one too for 24 hours", body = SecretView),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody)))]
pub async fn rotate(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut tx = state.pool.begin().await?;
    let secret = webhook_secret_rotate(&mut tx, caller.key_id, ROTATION_OVERLAP).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(SecretView::new(secret)))
}
