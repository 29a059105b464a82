//! GET /media/{key}: a media file, for a signed URL that has not expired (see
//! [`crate::media_urls`]), streamed from the media store through this process, whatever the
//! store (a local folder or an S3-compatible bucket): the signed URL is the only link clients
//! see, so it works the same behind any store, and the store needs no public access.
//!
//! One byte range (`Range: bytes=a-b`, `a-` or `-n`) is answered with 206, which is what video
//! players ask for; several ranges get the whole file (RFC 9110 lets a server ignore `Range`).
//! An artifact never changes, so its entity tag answers `If-None-Match` with 304.

use std::ops::Range;

use actix_web::{
    http::{header, StatusCode},
    web, HttpRequest, HttpResponse,
};
use futures::TryStreamExt;
use serde::Deserialize;
use slate_activities::storage::StoreError;

use crate::{error::ApiError, media_urls::Refusal, state::AppState};

#[derive(Deserialize)]
pub struct Signed {
    expires: Option<String>,
    signature: Option<String>,
}

pub async fn media(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Signed>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = path.into_inner();
    let (Some(expires), Some(signature)) = (&query.expires, &query.signature) else {
        return Err(ApiError::MediaLink(Refusal::Invalid));
    };
    state
        .urls
        .verify(&key, expires, signature)
        .map_err(ApiError::MediaLink)?;
    let (size, e_tag) = state.media.size(&key).await.map_err(store_error)?;
    let e_tag = e_tag.map(|tag| format!("\"{}\"", tag.trim_matches('"')));
    if let (Some(tag), Some(asked)) = (&e_tag, request.headers().get(header::IF_NONE_MATCH)) {
        let asked = asked.to_str().unwrap_or_default();
        if asked == "*" || asked.split(',').any(|t| t.trim() == tag) {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, tag.as_str()))
                .finish());
        }
    }
    let range = match request.headers().get(header::RANGE) {
        Some(asked) => byte_range(asked.to_str().unwrap_or_default(), size)?,
        None => None,
    };
    let object = state
        .media
        .open_range(&key, range.clone())
        .await
        .map_err(store_error)?;
    let mut response = HttpResponse::build(match range {
        Some(_) => StatusCode::PARTIAL_CONTENT,
        None => StatusCode::OK,
    });
    if range.is_some() {
        let Range { start, end } = object.range;
        response.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", end - 1),
        ));
    }
    if let Some(tag) = e_tag {
        response.insert_header((header::ETAG, tag));
    }
    let body = object
        .body
        .map_err(|e| std::io::Error::other(e.to_string()));
    Ok(response
        .insert_header((header::CONTENT_TYPE, content_type(&key)))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=900"))
        .insert_header(header::LastModified(
            std::time::SystemTime::from(object.last_modified).into(),
        ))
        .no_chunking(object.range.end - object.range.start)
        .streaming(body))
}

/// The bytes a `Range` header asks for of a file of `size` bytes: `None` to serve it whole
/// (no single range of bytes asked for), an error when no byte asked for exists.
fn byte_range(header: &str, size: u64) -> Result<Option<Range<u64>>, ApiError> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let unsatisfiable = ApiError::RangeNotSatisfiable { size };
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(first), Ok(last)) if first <= last => first..(last + 1).min(size),
        (Ok(first), Err(_)) if last.is_empty() => first..size,
        (Err(_), Ok(suffix)) if first.is_empty() => size.saturating_sub(suffix)..size,
        _ => return Ok(None),
    };
    if range.start >= size || range.is_empty() {
        return Err(unsatisfiable);
    }
    Ok(Some(range))
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(_) | StoreError::BadKey(_) => ApiError::NotFound("this media".into()),
        error => {
            tracing::error!(%error, "the media store failed to serve");
            ApiError::MediaUnavailable
        }
    }
}

/// The media type of a key, by its extension.
fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("mp4") => "video/mp4",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_range_is_read_as_rfc_9110_says_and_the_rest_serve_the_whole_file() {
        let range = |h| byte_range(h, 1000).ok().flatten();
        assert_eq!(range("bytes=0-99"), Some(0..100));
        assert_eq!(range("bytes=900-"), Some(900..1000));
        assert_eq!(range("bytes=-100"), Some(900..1000));
        assert_eq!(range("bytes=-5000"), Some(0..1000));
        assert_eq!(range("bytes=990-5000"), Some(990..1000));
        for whole in [
            "bytes=0-1,5-9",
            "items=0-9",
            "bytes=9-1",
            "bytes=x-y",
            "bytes=-",
        ] {
            assert_eq!(range(whole), None, "{whole}");
        }
        for outside in ["bytes=1000-", "bytes=1000-1200", "bytes=-0"] {
            assert!(
                matches!(
                    byte_range(outside, 1000),
                    Err(ApiError::RangeNotSatisfiable { size: 1000 })
                ),
                "{outside}"
            );
        }
    }
}
