//! Each client key's webhook secrets (the `webhook_secrets` table): one current secret, made on
//! first use, and after a rotation the previous ones until their overlap ends. Events are signed
//! with every live one, so that a receiver can move to a new secret without missing an event.
//! They are kept as they are (a signature needs the secret itself), and shown only to their key.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::keys::secret::base62;

/// A key's current webhook secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookSecret {
    /// `whsec_` and 32 random base62 characters.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

fn generate() -> String {
    format!("whsec_{}", base62(32))
}

/// The key's current webhook secret, made now if it has none.
pub async fn webhook_secret(conn: &mut PgConnection, key: Uuid) -> sqlx::Result<WebhookSecret> {
    sqlx::query(
        "INSERT INTO webhook_secrets (key_id, secret) VALUES ($1, $2)
         ON CONFLICT (key_id) WHERE expires_at IS NULL DO NOTHING",
    )
    .bind(key)
    .bind(generate())
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(
        "SELECT secret, created_at FROM webhook_secrets WHERE key_id = $1 AND expires_at IS NULL",
    )
    .bind(key)
    .fetch_one(conn)
    .await
}

/// Makes a new current secret for the key; the previous one still signs events for `overlap`.
/// Rotations of one key are serialized by its row, locked first as an admission locks it.
pub async fn webhook_secret_rotate(
    conn: &mut PgConnection,
    key: Uuid,
    overlap: std::time::Duration,
) -> sqlx::Result<WebhookSecret> {
    sqlx::query("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE webhook_secrets SET expires_at = now() + $2 * interval '1 second'
         WHERE key_id = $1 AND expires_at IS NULL",
    )
    .bind(key)
    .bind(overlap.as_secs_f64())
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(
        "INSERT INTO webhook_secrets (key_id, secret) VALUES ($1, $2)
         RETURNING secret, created_at",
    )
    .bind(key)
    .bind(generate())
    .fetch_one(conn)
    .await
}

/// The secrets that sign the key's events now: the current one (made now if it has none) first,
/// then those whose overlap has not ended.
pub(super) async fn webhook_secrets_signing(
    conn: &mut PgConnection,
    key: Uuid,
) -> sqlx::Result<Vec<String>> {
    let current = webhook_secret(&mut *conn, key).await?;
    let previous: Vec<String> = sqlx::query_scalar(
        "SELECT secret FROM webhook_secrets
         WHERE key_id = $1 AND expires_at > now() ORDER BY created_at DESC",
    )
    .bind(key)
    .fetch_all(conn)
    .await?;
    Ok(std::iter::once(current.secret).chain(previous).collect())
}
