//! What a key is: its row, its secrets as operators see them, and the changes operators make.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The built-in key that owns the videos made while keys are off.
pub const LOCAL_KEY: Uuid = Uuid::nil();

/// A key: who owns videos, and their limits.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The most the key's videos may cost in a calendar month (UTC), in USD; no cap when null.
    pub monthly_budget_usd: Option<f64>,
    /// How many of the key's videos may be in the making at once; the server's default when
    /// null.
    pub max_active_videos: Option<i32>,
    pub created_at: DateTime<Utc>,
    /// When every secret of the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A secret of a key, as operators see it: never the secret itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SecretInfo {
    /// The characters after `slate_` up to the next `_`: how to tell which secret leaked.
    pub lookup: String,
    pub created_at: DateTime<Utc>,
    /// The end of a rotation's overlap.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key and its secrets, newest first.
#[derive(Debug, Clone)]
pub struct KeyListing {
    pub key: ApiKey,
    pub secrets: Vec<SecretInfo>,
}

/// What a new key is.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub name: String,
    pub monthly_budget_usd: Option<f64>,
    pub max_active_videos: Option<i32>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What changes in a key: `None` keeps a field; `Some(None)` clears a limit or an expiry.
#[derive(Debug, Clone, Default)]
pub struct KeyChange {
    pub name: Option<String>,
    pub monthly_budget_usd: Option<Option<f64>>,
    pub max_active_videos: Option<Option<i32>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

/// Why a key cannot be changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no key {0}")]
    NotFound(Uuid),
    #[error("the local key has no secrets and cannot be revoked")]
    Local,
    #[error("the key is revoked")]
    Revoked,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
