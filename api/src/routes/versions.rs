//! A video's versions: GET /api/video/{video_id}/versions, and the requests that make the next
//! one: PATCH /api/video/{video_id}/spec, PUT /api/video/{video_id}/stills/{beat} and
//! POST /api/video/{video_id}/beats/{beat}/regenerate.
//! A new version is a fork of the newest complete one (see `slate_activities::steering`),
//! admitted under the same limits as a new video, one at a time per video.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use slate_activities::{
    assets::asset_find,
    phase::Phase,
    plan::Request,
    production::Production,
    spec::Spec,
    steering::{self, edit_spec, Change},
    uploads::{ImageType, MAX_UPLOAD_BYTES},
    video::{
        video_admit, video_edit_waiting_plan, video_versions_locked, Admission, VersionOf, Video,
        VideoStatus,
    },
};
use slate_engine::{Artifact, ForkOptions, RunId, ARTIFACTS_PREFIX};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    routes::{
        assets, find_video,
        generate::{rate_limited, refused},
        video_id, MAX_BODY,
    },
    state::AppState,
};

/// One version of a video.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// From 1.
    pub version: i32,
    /// The version it was made from; null for the first.
    pub parent_version: Option<i32>,
    /// What it changed: `{"kind": "edit", "fields": [...]}` or `{"kind": "regenerate", "beat":
    /// n, "prompt": "..."}`; null for the first.
    #[schema(value_type = Option<Object>)]
    pub change: Option<Value>,
    #[schema(value_type = String)]
    pub status: VideoStatus,
    /// What making this version cost (what it kept of its parent is not paid again).
    pub cost_usd: f64,
    pub final_video_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A video's versions, the first first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    pub video_id: Uuid,
    pub versions: Vec<VersionView>,
}

/// The answer to a request that makes a version (or edits the plan of one waiting at the
/// planning gate).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionQueued {
    pub video_id: Uuid,
    pub version: i32,
    /// `queued` for a new version; `awaiting_review` for an edit at the planning gate.
    #[schema(value_type = String)]
    pub status: VideoStatus,
}

#[utoipa::path(get, path = "/api/video/{video_id}/versions", tag = "steering",
    security(("client" = []), ()), params(("video_id" = String, Path, description = "The video's id")),
    responses((status = 200, body = VersionList),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 404, description = "Unknown or malformed id, or another key's video", body = ErrorBody)))]
pub async fn versions(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let versions = find_video(&state.pool, caller, &path).await?;
    let list = VersionList {
        video_id: versions.newest().video_id,
        versions: versions
            .all()
            .iter()
            .map(|v| VersionView {
                version: v.version,
                parent_version: v.parent_version,
                change: v.change.clone(),
                status: v.status,
                cost_usd: v.cost_usd(),
                final_video_url: v.final_video_key().map(|k| state.urls.url(k)),
                created_at: v.created_at,
                completed_at: v.completed_at,
            })
            .collect(),
    };
    Ok(HttpResponse::Ok().json(list))
}

/// Edits the plan: at the planning gate, of the version waiting there; after completion, as a
/// new version forked after planning.
#[utoipa::path(patch, path = "/api/video/{video_id}/spec", tag = "steering",
    security(("client" = []), ()),
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "A JSON merge patch of the spec (RFC 7396; arrays are replaced whole): `beats` (each `{id, duration?, prompt?, headline?, voiceover?}`), `product`, `style`, `copy`, `voiceover`, `captions`"),
    params(("video_id" = String, Path, description = "The video's id")),
    responses((status = 200, body = VersionQueued),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 402, description = "The version could take the key past its monthly budget", body = ErrorBody),
        (status = 404, description = "Unknown or malformed id, or another key's video", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 409, description = "`invalid_state` while a phase runs or at the storyboarding gate; `version_in_progress`; `too_many_versions`", body = ErrorBody),
        (status = 422, description = "The edit is invalid: the field at fault is named, and nothing changes", body = ErrorBody),
        (status = 429, description = "Too many requests or videos in the making (see Retry-After)", body = ErrorBody)))]
pub async fn edit(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    patch: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let versions = find_video(&state.pool, caller, &path).await?;
    let newest = versions.newest();
    let invalid = |e: steering::EditError| ApiError::Invalid {
        field: e.field,
        code: "invalid_field",
        message: e.message,
    };
    if newest.status == VideoStatus::AwaitingReview
        && newest.current_phase == Some(Phase::Storyboarding)
    {
        let spec = spec_of(newest)?;
        let (edited, _) = edit_spec(&spec, &patch).map_err(invalid)?;
        if video_edit_waiting_plan(&state.pool, newest.id, &edited).await? {
            return Ok(HttpResponse::Ok().json(VersionQueued {
                video_id: newest.video_id,
                version: newest.version,
                status: VideoStatus::AwaitingReview,
            }));
        }
    }
    if !newest.status.is_finished() {
        return Err(ApiError::not_now(
            "invalid_state",
            format!(
                "version {} is {}: the plan can be edited at the planning gate or once the \
                 version is finished",
                newest.version, newest.status
            ),
        ));
    }
    let queued = next_version(&state, caller, &path, |base| {
        let (spec, fields) = edit_spec(&base.spec, &patch).map_err(invalid)?;
        Ok((spec, Change::Edit { fields }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(queued))
}

/// Makes one beat again (with a new prompt when the body gives one) as a new version.
#[utoipa::path(post, path = "/api/video/{video_id}/beats/{beat}/regenerate", tag = "steering",
    security(("client" = []), ()),
    request_body(content = Option<Object>, description = "Optional: `{\"prompt\": \"...\"}`, the beat's new prompt (at most 1000 characters)"),
    params(("video_id" = String, Path, description = "The video's id"),
        ("beat" = String, Path, description = "The beat's position in the spec, from 1")),
    responses((status = 200, body = VersionQueued),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 402, description = "The version could take the key past its monthly budget", body = ErrorBody),
        (status = 404, description = "Unknown or malformed id, another key's video, or `beat_not_found`", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 409, description = "`invalid_state` before a version is complete; `version_in_progress`; `too_many_versions`", body = ErrorBody),
        (status = 422, description = "The prompt is invalid", body = ErrorBody),
        (status = 429, description = "Too many requests or videos in the making (see Retry-After)", body = ErrorBody)))]
pub async fn regenerate(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (video, beat) = path.into_inner();
    let prompt = beat_prompt(&read_body(body, MAX_BODY, ApiError::TooLarge).await?)?;
    let queued = next_version(&state, caller, &video, |base| {
        let beat = beat_index(&beat, base.spec.beats.len())? + 1;
        let spec = steering::retake(&base.spec, beat, prompt.as_deref());
        Ok((spec, Change::Regenerate { beat, prompt }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(queued))
}

/// A body of at most `limit` bytes (`too_large` past it), which may be empty.
async fn read_body(
    body: web::Payload,
    limit: usize,
    too_large: ApiError,
) -> Result<Vec<u8>, ApiError> {
    let unreadable = |e: actix_web::error::PayloadError| {
        ApiError::BadJson(format!("the body could not be read: {e}"))
    };
    assets::read_limited(body, limit, too_large, unreadable).await
}

/// Replaces one beat's still with the client's image, as a new version.
#[utoipa::path(put, path = "/api/video/{video_id}/stills/{beat}", tag = "steering",
    security(("client" = []), ()),
    request_body(description = "The image (`image/png` or `image/jpeg`, at most 10 MiB, 8192 pixels a side and 40 megapixels), or `{\"asset_id\": \"...\"}` naming an uploaded asset",
        content((String = "image/png"), (String = "image/jpeg"), (Object = "application/json"))),
    params(("video_id" = String, Path, description = "The video's id"),
        ("beat" = String, Path, description = "The beat's position in the spec, from 1")),
    responses((status = 200, body = VersionQueued),
        (status = 400, description = "The JSON body is not JSON", body = ErrorBody),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 402, description = "The version could take the key past its monthly budget", body = ErrorBody),
        (status = 404, description = "Unknown or malformed id, another key's video, or `beat_not_found`", body = ErrorBody),
        (status = 409, description = "`invalid_state` before a version is complete; `version_in_progress`; `too_many_versions`", body = ErrorBody),
        (status = 413, description = "The image is over 10 MiB", body = ErrorBody),
        (status = 415, description = "The body is neither PNG, JPEG nor JSON", body = ErrorBody),
        (status = 422, description = "The image is undecodable, too large in pixels or not of its type; or the asset is unknown", body = ErrorBody),
        (status = 429, description = "Too many requests or videos in the making (see Retry-After)", body = ErrorBody)))]
pub async fn replace_still(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (video, beat) = path.into_inner();
    let versions = find_video(&state.pool, caller, &video).await?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let accepted = if let Some(declared) = ImageType::of_content_type(content_type) {
        let bytes = read_body(body, MAX_UPLOAD_BYTES, ApiError::UploadTooLarge).await?;
        assets::accept(bytes, declared)
            .await
            .map_err(|e| assets::refused("body", e))?
    } else if content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim() == "application/json")
    {
        let bytes = read_body(body, MAX_BODY, ApiError::TooLarge).await?;
        let named: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadJson(format!("the body is not valid JSON: {e}")))?;
        let png = asset_png(&state, caller, &named).await?;
        assets::accept(png, ImageType::Png)
            .await
            .map_err(|e| assets::refused("asset_id", e))?
    } else {
        return Err(ApiError::UnsupportedType(
            "send the still as image/png or image/jpeg, or {\"asset_id\": ...} as application/json"
                .into(),
        ));
    };
    let spec = spec_of(versions.shown())?;
    let index = beat_index(&beat, spec.beats.len())?;
    let fork_id = RunId(Uuid::now_v7());
    let key = format!(
        "{ARTIFACTS_PREFIX}{}/stills/beat-{:02}.png",
        fork_id.0,
        index + 1
    );
    let size = spec.size();
    let png = web::block(move || accepted.fitted_png(size))
        .await
        .map_err(|_| ApiError::MediaUnavailable)?;
    state
        .media
        .put(&key, png)
        .await
        .map_err(|_| ApiError::MediaUnavailable)?;
    let queued = next_version_as(&state, caller, &video, fork_id, |base| {
        let beat = beat_index(&beat, base.spec.beats.len())? + 1;
        let still = Some(Artifact::from_key(key));
        Ok((base.spec.clone(), Change::Still { beat, still }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(queued))
}

/// The PNG of the caller's asset a body `{"asset_id": ...}` names.
async fn asset_png(state: &AppState, caller: Caller, named: &Value) -> Result<Vec<u8>, ApiError> {
    let unknown = || ApiError::invalid("asset_id", "asset_id must name one of your assets");
    let id = named
        .get("asset_id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(unknown)?;
    let asset = asset_find(&state.pool, id, caller.key_id)
        .await?
        .ok_or_else(unknown)?;
    let png = state
        .media
        .get(&asset.media_key)
        .await
        .map_err(|_| ApiError::MediaUnavailable)?;
    Ok(png.to_vec())
}

/// The 0-based index of beat `raw` (1-based) of a plan of `beats` beats.
fn beat_index(raw: &str, beats: usize) -> Result<usize, ApiError> {
    raw.parse::<usize>()
        .ok()
        .filter(|b| (1..=beats).contains(b))
        .map(|b| b - 1)
        .ok_or_else(|| ApiError::Missing {
            code: "beat_not_found",
            message: format!("beat {raw} not found: the plan's beats are 1 to {beats}"),
        })
}

/// The new prompt a regenerate body may give.
fn beat_prompt(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadJson(format!("the body is not valid JSON: {e}")))?;
    let refused = || ApiError::invalid("prompt", "prompt must be 1 to 1000 characters of text");
    match value.get("prompt") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(prompt)) => {
            let prompt = prompt.trim();
            let fits = !prompt.is_empty() && prompt.chars().count() <= 1000;
            fits.then(|| Some(prompt.to_owned())).ok_or_else(refused)
        }
        Some(_) => Err(refused()),
    }
}

/// Makes the next version of the caller's video `raw`: from its newest complete version, with
/// the plan and change `change` makes of that version's production.
async fn next_version(
    state: &AppState,
    caller: Caller,
    raw: &str,
    change: impl FnOnce(&Production) -> Result<(Spec, Change), ApiError>,
) -> Result<VersionQueued, ApiError> {
    next_version_as(state, caller, raw, RunId(Uuid::now_v7()), change).await
}

/// [`next_version`], whose run is `fork_id`.
async fn next_version_as(
    state: &AppState,
    caller: Caller,
    raw: &str,
    fork_id: RunId,
    change: impl FnOnce(&Production) -> Result<(Spec, Change), ApiError>,
) -> Result<VersionQueued, ApiError> {
    let id = video_id(raw)?;
    let mut tx = state.pool.begin().await?;
    let versions = video_versions_locked(&mut tx, id, caller.key_id).await?;
    let Some(newest) = versions.last() else {
        return Err(ApiError::NotFound(format!("video {id}")));
    };
    if !newest.status.is_finished() {
        return Err(ApiError::not_now(
            match newest.status {
                VideoStatus::AwaitingReview => "invalid_state",
                _ => "version_in_progress",
            },
            format!(
                "version {} is {}: approve it, or wait until it is finished",
                newest.version, newest.status
            ),
        ));
    }
    if versions.len() as i64 >= state.max_versions {
        return Err(ApiError::not_now(
            "too_many_versions",
            format!(
                "this video has {} versions, the most it may have",
                versions.len()
            ),
        ));
    }
    let Some(base) = versions
        .iter()
        .rev()
        .find(|v| v.status == VideoStatus::Complete)
    else {
        return Err(ApiError::not_now(
            "invalid_state",
            "this video has no complete version to change yet",
        ));
    };
    let made = final_production(state, base).await?;
    let (spec, change) = change(&made)?;
    let production = steering::next_version(&made, spec.clone(), &change);
    if let Some(retry_after) = rate_limited(state, caller, &mut tx).await? {
        return Err(ApiError::RateLimited {
            retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u64,
        });
    }
    let mut options = ForkOptions::default().afresh();
    options.run_id = Some(fork_id);
    let options = options
        .override_output(Phase::Planning.name(), &production)
        .map_err(ApiError::from)?;
    let run = RunId(base.id);
    let fork = state
        .engine
        .fork_using(&mut tx, run, steering::FORK_AT.name(), options)
        .await?;
    let request: Request = serde_json::from_value(base.request.clone())
        .map_err(|_| ApiError::not_now("invalid_state", "this video's request is unreadable"))?;
    let reserve_usd = Phase::ALL[steering::FORK_AT.index()..]
        .iter()
        .map(|p| state.prices.phase_for(*p, &production))
        .sum();
    let admission = Admission {
        run_id: fork.run_id,
        request: &request,
        owner: caller.key_id,
        reserve_usd,
        max_queued: state.max_queued,
        max_active: state.max_active_videos,
        version: Some(VersionOf {
            video_id: id,
            parent_version: base.version,
            change: change.to_json(),
            spec,
        }),
        webhook_url: None,
    };
    if let Err(refusal) = video_admit(&mut tx, &admission).await? {
        return Err(refused(refusal, reserve_usd));
    }
    tx.commit().await?;
    Ok(VersionQueued {
        video_id: id,
        version: newest.version + 1,
        status: VideoStatus::Queued,
    })
}

/// What a complete version made: its last checkpoint.
async fn final_production(state: &AppState, version: &Video) -> Result<Production, ApiError> {
    let checkpoints = state.engine.checkpoints(RunId(version.id)).await?;
    let last = checkpoints
        .into_iter()
        .filter(|c| c.superseded_at.is_none())
        .max_by_key(|c| c.step_index);
    last.and_then(|c| serde_json::from_value(c.output).ok())
        .ok_or_else(|| {
            ApiError::not_now(
                "invalid_state",
                "this version's history was trimmed: it can no longer be changed",
            )
        })
}

/// The plan of `video`.
fn spec_of(video: &Video) -> Result<Spec, ApiError> {
    video
        .spec
        .clone()
        .and_then(|s| serde_json::from_value(s).ok())
        .ok_or_else(|| ApiError::not_now("invalid_state", "this version has no plan yet"))
}
