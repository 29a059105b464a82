//! Every statement on `api_keys` and `api_key_secrets`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{types::Json, PgPool};
use uuid::Uuid;

use super::{
    key::{ApiKey, KeyChange, KeyError, KeyListing, NewKey, SecretInfo, LOCAL_KEY},
    secret::Secret,
};

const COLUMNS: &str =
    "k.id, k.name, k.monthly_budget_usd, k.max_active_videos, k.created_at, k.expires_at, k.revoked_at";

/// Creates a key with one secret, returned only here.
pub async fn key_create(pool: &PgPool, new: &NewKey) -> sqlx::Result<(ApiKey, Secret)> {
    let secret = Secret::generate();
    let mut tx = pool.begin().await?;
    let key: ApiKey = sqlx::query_as(&format!(
        "INSERT INTO api_keys AS k (id, name, monthly_budget_usd, max_active_videos, expires_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&new.name)
    .bind(new.monthly_budget_usd)
    .bind(new.max_active_videos)
    .bind(new.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    secret_insert(&mut tx, key.id, &secret).await?;
    tx.commit().await?;
    Ok((key, secret))
}

async fn secret_insert(
    conn: &mut sqlx::PgConnection,
    key: Uuid,
    secret: &Secret,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO api_key_secrets (lookup, key_id, sha256) VALUES ($1, $2, $3)")
        .bind(secret.lookup())
        .bind(key)
        .bind(secret.sha256())
        .execute(conn)
        .await?;
    Ok(())
}

/// The key `secret` belongs to, if the secret is known and neither it nor its key has ended.
pub async fn key_authenticate(pool: &PgPool, secret: &Secret) -> sqlx::Result<Option<ApiKey>> {
    #[derive(sqlx::FromRow)]
    struct Found {
        #[sqlx(flatten)]
        key: ApiKey,
        sha256: Vec<u8>,
    }
    let found: Option<Found> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, s.sha256 FROM api_key_secrets s JOIN api_keys k ON k.id = s.key_id
         WHERE s.lookup = $1 AND k.revoked_at IS NULL
           AND (k.expires_at IS NULL OR k.expires_at > now())
           AND (s.expires_at IS NULL OR s.expires_at > now())"
    ))
    .bind(secret.lookup())
    .fetch_optional(pool)
    .await?;
    Ok(found.filter(|f| secret.matches(&f.sha256)).map(|f| f.key))
}

pub async fn key_find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<ApiKey>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys k WHERE k.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Every key with its secrets, oldest key first.
pub async fn key_list(pool: &PgPool) -> sqlx::Result<Vec<KeyListing>> {
    listings(pool, None).await
}

/// One key with its secrets.
pub async fn key_listing(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<KeyListing>> {
    Ok(listings(pool, Some(id)).await?.pop())
}

/// The keys (only `only`, when given) with their secrets, oldest key first.
async fn listings(pool: &PgPool, only: Option<Uuid>) -> sqlx::Result<Vec<KeyListing>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        key: ApiKey,
        secrets: Json<Vec<SecretInfo>>,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, coalesce((
             SELECT json_agg(json_build_object('lookup', s.lookup, 'created_at', s.created_at,
                                               'expires_at', s.expires_at)
                             ORDER BY s.created_at DESC)
             FROM api_key_secrets s WHERE s.key_id = k.id), '[]') AS secrets
         FROM api_keys k WHERE $1::uuid IS NULL OR k.id = $1 ORDER BY k.created_at, k.id"
    ))
    .bind(only)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| KeyListing {
            key: r.key,
            secrets: r.secrets.0,
        })
        .collect())
}

/// Changes a key's name, limits or expiry.
pub async fn key_update(pool: &PgPool, id: Uuid, change: &KeyChange) -> Result<ApiKey, KeyError> {
    let (budget_set, budget) = unzip(change.monthly_budget_usd);
    let (active_set, active) = unzip(change.max_active_videos);
    let (expiry_set, expiry) = unzip(change.expires_at);
    if expiry_set && id == LOCAL_KEY {
        return Err(KeyError::Local);
    }
    sqlx::query_as(&format!(
        "UPDATE api_keys AS k SET name = coalesce($2, name),
             monthly_budget_usd = CASE WHEN $3 THEN $4 ELSE monthly_budget_usd END,
             max_active_videos = CASE WHEN $5 THEN $6 ELSE max_active_videos END,
             expires_at = CASE WHEN $7 THEN $8 ELSE expires_at END
         WHERE k.id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&change.name)
    .bind(budget_set)
    .bind(budget)
    .bind(active_set)
    .bind(active)
    .bind(expiry_set)
    .bind(expiry)
    .fetch_optional(pool)
    .await?
    .ok_or(KeyError::NotFound(id))
}

fn unzip<T>(change: Option<Option<T>>) -> (bool, Option<T>) {
    match change {
        Some(value) => (true, value),
        None => (false, None),
    }
}

/// Revokes a key: its secrets stop working at once, on every process. Revoking twice keeps the
/// first time.
pub async fn key_revoke(pool: &PgPool, id: Uuid) -> Result<ApiKey, KeyError> {
    if id == LOCAL_KEY {
        return Err(KeyError::Local);
    }
    sqlx::query_as(&format!(
        "UPDATE api_keys AS k SET revoked_at = coalesce(revoked_at, now())
         WHERE k.id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(KeyError::NotFound(id))
}

/// Gives a key a new secret; its other secrets keep working for `overlap` more (or less, if they
/// were to end sooner). Returns the new secret and when the old ones end.
pub async fn key_rotate(
    pool: &PgPool,
    id: Uuid,
    overlap: Duration,
) -> Result<(Secret, DateTime<Utc>), KeyError> {
    if id == LOCAL_KEY {
        return Err(KeyError::Local);
    }
    let mut tx = pool.begin().await?;
    let key = sqlx::query_as::<_, ApiKey>(&format!(
        "SELECT {COLUMNS} FROM api_keys k WHERE k.id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(KeyError::NotFound(id))?;
    if key.revoked_at.is_some() {
        return Err(KeyError::Revoked);
    }
    let old_end: DateTime<Utc> = sqlx::query_scalar("SELECT now() + make_interval(secs => $1)")
        .bind(overlap.as_secs_f64())
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE api_key_secrets SET expires_at = least(coalesce(expires_at, $2), $2)
         WHERE key_id = $1",
    )
    .bind(id)
    .bind(old_end)
    .execute(&mut *tx)
    .await?;
    let secret = Secret::generate();
    secret_insert(&mut tx, id, &secret).await?;
    tx.commit().await?;
    Ok((secret, old_end))
}
