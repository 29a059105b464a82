//! GET /media/{key}: a media file, for a signed URL that has not expired (see
//! [`crate::media_urls`]); ranges and conditional requests are served as for any file.

use actix_files::NamedFile;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde::Deserialize;

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
    let missing = || ApiError::NotFound("this media".into());
    let path = state.media.path(&key).map_err(|_| missing())?;
    let file = NamedFile::open_async(path).await.map_err(|_| missing())?;
    let mut response = file.into_response(&request);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=900"),
    );
    Ok(response)
}
