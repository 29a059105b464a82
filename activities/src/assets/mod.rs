//! Clients' assets: the product photos and logos they upload for their videos. The `assets`
//! table (its schema in migrations/videos) says whose each one is and where its PNG is kept;
//! nothing else reads or writes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// What an asset is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AssetKind {
    /// A photo of the product, shown in the stills' product slot.
    Product,
    /// The brand's logo, shown on the end card.
    Logo,
}

impl AssetKind {
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "product" => Some(Self::Product),
            "logo" => Some(Self::Logo),
            _ => None,
        }
    }
}

/// An asset's row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Asset {
    pub id: Uuid,
    pub owner: Uuid,
    pub kind: AssetKind,
    /// Its PNG in the media store.
    pub media_key: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub created_at: DateTime<Utc>,
}

/// Where asset `id` of `owner` keeps its PNG.
pub fn asset_media_key(owner: Uuid, id: Uuid) -> String {
    format!("assets/{owner}/{id}.png")
}

const COLUMNS: &str = "id, owner, kind, media_key, width, height, bytes, created_at";

pub async fn asset_insert(pool: &PgPool, asset: &Asset) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO assets (id, owner, kind, media_key, width, height, bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(asset.id)
    .bind(asset.owner)
    .bind(asset.kind)
    .bind(&asset.media_key)
    .bind(asset.width)
    .bind(asset.height)
    .bind(asset.bytes)
    .execute(pool)
    .await?;
    Ok(())
}

/// `owner`'s asset `id`, unless deleted.
pub async fn asset_find(pool: &PgPool, id: Uuid, owner: Uuid) -> sqlx::Result<Option<Asset>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM assets WHERE id = $1 AND owner = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(pool)
    .await
}

/// Deletes `owner`'s asset `id`; the deleted one, if there was one.
pub async fn asset_delete(pool: &PgPool, id: Uuid, owner: Uuid) -> sqlx::Result<Option<Asset>> {
    sqlx::query_as(&format!(
        "UPDATE assets SET deleted_at = now()
         WHERE id = $1 AND owner = $2 AND deleted_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(pool)
    .await
}
