//! A client's images: POST /api/assets (a product photo or a logo, multipart), GET and DELETE
//! /api/assets/{asset_id}. Every image, uploaded here or as a still, passes the same checks
//! (`slate_activities::uploads`) and is kept as a PNG without metadata.

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use slate_activities::{
    assets::{asset_delete, asset_find, asset_insert, asset_media_key, Asset, AssetKind},
    uploads::{self, Accepted, ImageType, Refused, MAX_UPLOAD_BYTES},
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    media_urls::MediaUrls,
    state::AppState,
};

/// An asset, as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetView {
    pub asset_id: Uuid,
    /// `product` or `logo`.
    pub kind: String,
    pub width: i32,
    pub height: i32,
    /// The size of the PNG kept.
    pub bytes: i64,
    /// Always `image/png`: every image is kept re-encoded, without its metadata.
    pub content_type: &'static str,
    /// The PNG (absolute and signed).
    pub url: String,
    pub created_at: DateTime<Utc>,
}

impl AssetView {
    fn new(asset: &Asset, urls: &MediaUrls) -> Self {
        Self {
            asset_id: asset.id,
            kind: match asset.kind {
                AssetKind::Product => "product".into(),
                AssetKind::Logo => "logo".into(),
            },
            width: asset.width,
            height: asset.height,
            bytes: asset.bytes,
            content_type: "image/png",
            url: urls.url(&asset.media_key),
            created_at: asset.created_at,
        }
    }
}

/// The answer to a delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetDeleted {
    pub asset_id: Uuid,
    /// Always `deleted`.
    pub status: &'static str,
}

/// What POST /api/assets takes, as `multipart/form-data`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AssetUpload {
    /// `product` or `logo`.
    kind: String,
    /// The image: PNG or JPEG, at most 10 MiB, 8192 pixels a side and 40 megapixels.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// The client's error for an image refused by the checks, the field at fault named.
pub fn refused(field: &'static str, refusal: Refused) -> ApiError {
    match refusal {
        Refused::TooLarge => ApiError::UploadTooLarge,
        other => ApiError::Invalid {
            field: Some(field.into()),
            code: "invalid_image",
            message: other.to_string(),
        },
    }
}

/// Checks an image off the async runtime.
pub async fn accept(bytes: Vec<u8>, declared: ImageType) -> Result<Accepted, Refused> {
    web::block(move || uploads::accept(&bytes, declared))
        .await
        .unwrap_or_else(|e| Err(Refused::Undecodable(e.to_string())))
}

#[utoipa::path(post, path = "/api/assets", tag = "steering", security(("client" = []), ()),
    request_body(content = AssetUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = AssetView),
        (status = 400, description = "The body is not multipart/form-data as described", body = ErrorBody),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 413, description = "The image is over 10 MiB", body = ErrorBody),
        (status = 415, description = "The body is not multipart/form-data, or the file not PNG or JPEG", body = ErrorBody),
        (status = 422, description = "`kind` is missing or unknown, or the image is undecodable, too large in pixels or not of its type", body = ErrorBody)))]
pub async fn upload(
    caller: Caller,
    state: web::Data<AppState>,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let (mut kind, mut file) = (None, None);
    while let Some(part) = form.next().await {
        let mut part = part.map_err(multipart_error)?;
        let name = part
            .content_disposition()
            .and_then(|d| d.get_name())
            .map(str::to_owned);
        match name.as_deref() {
            Some("kind") => {
                let text = read(&mut part, 64).await?;
                kind = Some(String::from_utf8_lossy(&text).trim().to_owned());
            }
            Some("file") => {
                let declared = part.content_type().map(|m| m.essence_str().to_owned());
                let declared = declared
                    .as_deref()
                    .and_then(ImageType::of_content_type)
                    .ok_or_else(|| {
                        ApiError::UnsupportedType("the file must be image/png or image/jpeg".into())
                    })?;
                file = Some((declared, read(&mut part, MAX_UPLOAD_BYTES).await?));
            }
            _ => {
                read(&mut part, MAX_UPLOAD_BYTES).await?;
            }
        }
    }
    let kind = kind
        .as_deref()
        .and_then(AssetKind::named)
        .ok_or_else(|| ApiError::invalid("kind", "kind must be \"product\" or \"logo\""))?;
    let (declared, bytes) =
        file.ok_or_else(|| ApiError::invalid("file", "the form needs a file part: the image"))?;
    let accepted = accept(bytes, declared)
        .await
        .map_err(|e| refused("file", e))?;
    let png = accepted.png();
    let id = Uuid::now_v7();
    let asset = Asset {
        id,
        owner: caller.key_id,
        kind,
        media_key: asset_media_key(caller.key_id, id),
        width: accepted.width as i32,
        height: accepted.height as i32,
        bytes: png.len() as i64,
        created_at: Utc::now(),
    };
    state
        .media
        .put(&asset.media_key, png)
        .await
        .map_err(|_| ApiError::MediaUnavailable)?;
    asset_insert(&state.pool, &asset).await?;
    Ok(HttpResponse::Created().json(AssetView::new(&asset, &state.urls)))
}

/// The bytes of a body or a part, refused with `too_large` past `limit`; a stream's error is
/// the client's as `unreadable` says.
pub async fn read_limited<E>(
    mut stream: impl futures::Stream<Item = Result<web::Bytes, E>> + Unpin,
    limit: usize,
    too_large: ApiError,
    unreadable: impl Fn(E) -> ApiError,
) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(&unreadable)?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A part's bytes, refused past `limit`.
async fn read(part: &mut actix_multipart::Field, limit: usize) -> Result<Vec<u8>, ApiError> {
    read_limited(part, limit, ApiError::UploadTooLarge, multipart_error).await
}

fn multipart_error(error: actix_multipart::MultipartError) -> ApiError {
    use actix_multipart::MultipartError as E;
    match error {
        E::ContentTypeMissing | E::ContentTypeParse | E::ContentTypeIncompatible => {
            ApiError::UnsupportedType("send the image as multipart/form-data".into())
        }
        other => ApiError::BadJson(format!("the form could not be read: {other}")),
    }
}

/// The caller's asset the path names; another key's is as unknown as a missing one.
async fn find(state: &AppState, caller: Caller, raw: &str) -> Result<Asset, ApiError> {
    let missing = || ApiError::NotFound(format!("asset {raw}"));
    let id = Uuid::parse_str(raw).map_err(|_| missing())?;
    asset_find(&state.pool, id, caller.key_id)
        .await?
        .ok_or_else(missing)
}

#[utoipa::path(get, path = "/api/assets/{asset_id}", tag = "steering", security(("client" = []), ()),
    params(("asset_id" = String, Path, description = "The asset's id")),
    responses((status = 200, body = AssetView),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 404, description = "Unknown, malformed or deleted id, or another key's asset", body = ErrorBody)))]
pub async fn asset(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asset = find(&state, caller, &path).await?;
    Ok(HttpResponse::Ok().json(AssetView::new(&asset, &state.urls)))
}

#[utoipa::path(delete, path = "/api/assets/{asset_id}", tag = "steering", security(("client" = []), ()),
    params(("asset_id" = String, Path, description = "The asset's id")),
    responses((status = 200, body = AssetDeleted),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 404, description = "Unknown, malformed or deleted id, or another key's asset", body = ErrorBody)))]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asset = find(&state, caller, &path).await?;
    if asset_delete(&state.pool, asset.id, caller.key_id)
        .await?
        .is_some()
    {
        if let Err(error) = state.media.delete(&asset.media_key).await {
            tracing::warn!(%error, asset_id = %asset.id, "a deleted asset's file was left");
        }
    }
    Ok(HttpResponse::Ok().json(AssetDeleted {
        asset_id: asset.id,
        status: "deleted",
    }))
}
