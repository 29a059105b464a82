//! The operators' API for clients' keys, under /api/admin/keys: create (the secret is shown
//! once), list, change limits or expiry, revoke and rotate.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use slate_activities::keys::{
    key_create, key_list, key_listing, key_revoke, key_rotate, key_update, ApiKey, KeyChange,
    KeyError, KeyListing, NewKey, SecretInfo,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::{ApiError, ErrorBody},
    routes::admin::Operator,
    state::AppState,
};

/// The longest overlap a rotation may give the old secrets: 30 days.
const MAX_OVERLAP_SECS: u64 = 30 * 24 * 3600;
/// The overlap when none is asked: a day.
const DEFAULT_OVERLAP_SECS: u64 = 24 * 3600;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/api/admin/keys", web::post().to(create))
        .route("/api/admin/keys", web::get().to(list))
        .route("/api/admin/keys/{key_id}", web::patch().to(update))
        .route("/api/admin/keys/{key_id}/revoke", web::post().to(revoke))
        .route("/api/admin/keys/{key_id}/rotate", web::post().to(rotate));
}

/// A key as operators see it (never a secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub key_id: Uuid,
    pub name: String,
    /// USD per calendar month (UTC); no cap when null.
    pub monthly_budget_usd: Option<f64>,
    /// The server's default (`SLATE_MAX_ACTIVE_VIDEOS`) when null.
    pub max_active_videos: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key's secrets, newest first, each named by its lookup (the characters after `slate_`
    /// up to the next `_`).
    #[schema(value_type = Vec<Object>)]
    pub secrets: Vec<SecretInfo>,
}

impl KeyView {
    fn new(key: ApiKey, secrets: Vec<SecretInfo>) -> Self {
        Self {
            key_id: key.id,
            name: key.name,
            monthly_budget_usd: key.monthly_budget_usd,
            max_active_videos: key.max_active_videos,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            secrets,
        }
    }
}

impl From<KeyListing> for KeyView {
    fn from(listing: KeyListing) -> Self {
        Self::new(listing.key, listing.secrets)
    }
}

/// A new secret: shown this once, never again.
#[derive(Serialize, ToSchema)]
pub struct IssuedSecret {
    #[serde(flatten)]
    pub key: KeyView,
    /// What the client sends as `Authorization: Bearer <secret>`.
    pub secret: String,
    /// When the key's older secrets stop working (a rotation's overlap).
    pub old_secrets_expire_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// What POST /api/admin/keys accepts; PATCH accepts the same fields, each optional, null
/// clearing a limit or the expiry.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KeyFields {
    /// Who the key is for; 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[schema(minimum = 0.0)]
    monthly_budget_usd: Option<f64>,
    #[schema(minimum = 1, maximum = 10000)]
    max_active_videos: Option<i32>,
    /// RFC 3339, for example 2027-01-01T00:00:00Z.
    expires_at: Option<DateTime<Utc>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RotateBody {
    /// How long the key's older secrets keep working, in seconds: 0 to 2592000 (30 days);
    /// 86400 when unset.
    #[schema(minimum = 0, maximum = 2592000)]
    overlap_seconds: Option<u64>,
}

#[utoipa::path(post, path = "/api/admin/keys", tag = "operators", request_body = KeyFields,
    security(("operator" = [])),
    responses((status = 201, body = IssuedSecret), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "The admin API is off",
        body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    _: Operator,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let fields = object(&body)?;
    let change = key_change(fields)?;
    let new = NewKey {
        name: change
            .name
            .ok_or_else(|| ApiError::invalid("name", "name is required"))?,
        monthly_budget_usd: change.monthly_budget_usd.flatten(),
        max_active_videos: change.max_active_videos.flatten(),
        expires_at: change.expires_at.flatten(),
    };
    let (key, secret) = key_create(&state.pool, &new).await?;
    tracing::info!(key_id = %key.id, name = %key.name, lookup = secret.lookup(), "key created");
    let info = SecretInfo {
        lookup: secret.lookup().to_owned(),
        created_at: key.created_at,
        expires_at: None,
    };
    Ok(HttpResponse::Created().json(IssuedSecret {
        key: KeyView::new(key, vec![info]),
        secret: secret.expose().to_owned(),
        old_secrets_expire_at: None,
    }))
}

#[utoipa::path(get, path = "/api/admin/keys", tag = "operators", security(("operator" = [])),
    responses((status = 200, body = KeyList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(_: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys = key_list(&state.pool).await?;
    Ok(HttpResponse::Ok().json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

#[utoipa::path(patch, path = "/api/admin/keys/{key_id}", tag = "operators",
    params(("key_id" = String, Path)), request_body = KeyFields, security(("operator" = [])),
    responses((status = 200, body = KeyView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The local key has no expiry", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path)?;
    let change = key_change(object(&body)?)?;
    key_update(&state.pool, id, &change).await?;
    Ok(HttpResponse::Ok().json(view(&state, id).await?))
}

#[utoipa::path(post, path = "/api/admin/keys/{key_id}/revoke", tag = "operators",
    params(("key_id" = String, Path)), security(("operator" = [])),
    responses((status = 200, body = KeyView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The local key cannot be revoked", body = ErrorBody)))]
pub async fn revoke(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key_revoke(&state.pool, key_id(&path)?).await?;
    tracing::info!(key_id = %key.id, name = %key.name, "key revoked");
    Ok(HttpResponse::Ok().json(view(&state, key.id).await?))
}

#[utoipa::path(post, path = "/api/admin/keys/{key_id}/rotate", tag = "operators",
    params(("key_id" = String, Path)), request_body = RotateBody, security(("operator" = [])),
    responses((status = 200, body = IssuedSecret), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The key is revoked, or is the local key", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn rotate(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path)?;
    let body: Option<Value> = match body.iter().all(u8::is_ascii_whitespace) {
        true => None,
        false => Some(
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadJson(format!("the body is not valid JSON: {e}")))?,
        ),
    };
    let overlap = match body.as_ref().map(object).transpose()? {
        None => DEFAULT_OVERLAP_SECS,
        Some(fields) => match fields.get("overlap_seconds") {
            None | Some(Value::Null) => DEFAULT_OVERLAP_SECS,
            Some(value) => value
                .as_u64()
                .filter(|s| *s <= MAX_OVERLAP_SECS)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "overlap_seconds",
                        "overlap_seconds must be a whole number of seconds from 0 to 2592000",
                    )
                })?,
        },
    };
    let (secret, old_end) =
        key_rotate(&state.pool, id, std::time::Duration::from_secs(overlap)).await?;
    tracing::info!(key_id = %id, lookup = secret.lookup(), "key rotated");
    Ok(HttpResponse::Ok().json(IssuedSecret {
        key: view(&state, id).await?,
        secret: secret.expose().to_owned(),
        old_secrets_expire_at: Some(old_end),
    }))
}

/// The key `id` with its secrets.
async fn view(state: &AppState, id: Uuid) -> Result<KeyView, ApiError> {
    key_listing(&state.pool, id)
        .await?
        .map(KeyView::from)
        .ok_or_else(|| ApiError::NotFound(format!("key {id}")))
}

fn key_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("key {raw}")))
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| ApiError::Invalid {
        field: None,
        code: "invalid_body",
        message: "the body must be a JSON object".into(),
    })
}

/// The fields present in `fields`, each checked; null clears a limit or the expiry.
fn key_change(fields: &Map<String, Value>) -> Result<KeyChange, ApiError> {
    let name = match fields.get("name") {
        None => None,
        Some(Value::String(name))
            if (1..=100).contains(&name.trim().chars().count())
                && !name.chars().any(char::is_control) =>
        {
            Some(name.trim().to_owned())
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "name",
                "name must be 1 to 100 characters, without control characters",
            ))
        }
    };
    let monthly_budget_usd = nullable(fields, "monthly_budget_usd", |v| {
        v.as_f64().filter(|n| n.is_finite() && *n >= 0.0)
    })
    .map_err(|_| {
        ApiError::invalid(
            "monthly_budget_usd",
            "monthly_budget_usd must be a number of USD, 0 or more, or null for no cap",
        )
    })?;
    let max_active_videos = nullable(fields, "max_active_videos", |v| {
        v.as_i64()
            .filter(|n| (1..=10_000).contains(n))
            .map(|n| n as i32)
    })
    .map_err(|_| {
        ApiError::invalid(
            "max_active_videos",
            "max_active_videos must be a whole number from 1 to 10000, or null for the server's default",
        )
    })?;
    let expires_at = nullable(fields, "expires_at", |v| {
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    })
    .map_err(|_| {
        ApiError::invalid(
            "expires_at",
            "expires_at must be an RFC 3339 time like 2027-01-01T00:00:00Z, or null for none",
        )
    })?;
    Ok(KeyChange {
        name,
        monthly_budget_usd,
        max_active_videos,
        expires_at,
    })
}

/// A field absent (None), null (Some(None)) or read by `read` (Err when it cannot be).
fn nullable<T>(
    fields: &Map<String, Value>,
    name: &str,
    read: impl Fn(&Value) -> Option<T>,
) -> Result<Option<Option<T>>, ()> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => read(value).map(|v| Some(Some(v))).ok_or(()),
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::NotFound(id) => Self::NotFound(format!("key {id}")),
            KeyError::Local => Self::Conflict(
                "the local key owns the videos made without keys: it has no secrets or expiry"
                    .into(),
            ),
            KeyError::Revoked => Self::Conflict("the key is revoked".into()),
            KeyError::Database(error) => error.into(),
        }
    }
}
