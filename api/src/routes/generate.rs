//! POST /api/generate: checks the request, then writes the video's row, its run and its first
//! task in one transaction, after the key's rate, its videos in the making, its monthly budget and
//! the queue allow it. An Idempotency-Key (scoped to the caller's key) makes a repeated request
//! return the first answer, whatever the limits say by then.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use slate_activities::{
    assets::asset_find,
    library::archetypes,
    plan::Request,
    production::Assets,
    review::Gate,
    spec::{valid_duration, AspectRatio},
    video::{video_admit, video_find, Admission, Refusal},
};
use slate_engine::{take_token_using, RunId, StartOptions, Taken};

use serde::Serialize;
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    state::AppState,
};

const MAX_PROMPT_CHARS: usize = 1000;
const MAX_KEY_CHARS: usize = 200;
const MAX_WEBHOOK_URL: usize = 2048;

/// What POST /api/generate accepts. The handler reads the body field by field, so that each
/// fault is named; this type documents it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GenerateRequest {
    /// What the advertisement is about; at most 1000 characters, not blank, and no control
    /// characters other than whitespace.
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    prompt: String,
    /// From 0.0 (the archetype's template as it is) to 1.0 (free variation); 0.5 when unset.
    #[schema(minimum = 0.0, maximum = 1.0)]
    creativity_level: Option<f64>,
    /// Seconds, a multiple of 5 from 5 to 60; read from the prompt when unset.
    #[schema(minimum = 5, maximum = 60, multiple_of = 5)]
    duration: Option<u32>,
    /// energetic_lifestyle, luxury_showcase, minimalist_reveal, emotional_storytelling or
    /// feature_demo; chosen from the prompt when unset.
    archetype: Option<String>,
    /// The same prompt, creativity and seed give the same plan.
    seed: Option<u64>,
    /// The most the video may cost, in USD; $0.50 per 30 s when unset. At most the server's
    /// limit per video (`SLATE_MAX_COST_PER_VIDEO_USD`, $10 by default).
    #[schema(exclusive_minimum = 0.0)]
    max_cost_usd: Option<f64>,
    /// The shape of the video: `16:9` (1280x720, the default), `9:16` (720x1280) or `1:1`
    /// (1080x1080).
    #[schema(pattern = "^(16:9|9:16|1:1)$")]
    aspect_ratio: Option<String>,
    /// Whether a voice reads the ad's lines; true when unset.
    voiceover: Option<bool>,
    /// Whether the lines are burned in as captions; true when unset.
    captions: Option<bool>,
    /// The phases after which the video waits for the client's approval (POST
    /// /api/video/{video_id}/approve): `planning` (review the plan), `storyboarding` (review the
    /// stills). None when unset.
    #[schema(value_type = Option<Vec<String>>)]
    review: Option<Vec<String>>,
    /// The `asset_id` of one of your assets (POST /api/assets): the product photo, shown in the
    /// stills' product slot.
    product_image: Option<Uuid>,
    /// The `asset_id` of one of your assets: the logo, shown on the end card.
    logo: Option<Uuid>,
    /// The product's name (at most 100 characters), when it is given apart from the prompt.
    title: Option<String>,
    /// More about the ad (at most 2000 characters), read after the prompt.
    description: Option<String>,
    /// Asset ids of your assets; the first is the product photo unless `product_image` is set.
    reference_assets: Option<Vec<Uuid>>,
    /// One of this server's models (refused with 422 otherwise); the configured providers make
    /// the video.
    model: Option<String>,
    /// An https URL (at most 2048 characters, of a public host) that is POSTed a signed event at
    /// each review gate and when the video ends; its later versions keep it. See "Webhooks" in
    /// docs/api.md.
    webhook_url: Option<String>,
}

/// The answer to an admission.
#[derive(Serialize, ToSchema)]
pub struct Admitted {
    pub video_id: Uuid,
    /// Always `queued`.
    pub status: &'static str,
    pub message: &'static str,
}

#[utoipa::path(post, path = "/api/generate", tag = "videos", request_body = GenerateRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The same key with the same body returns the first answer")),
    security(("client" = []), ()),
    responses((status = 200, body = Admitted),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 402, description = "The video could take the key past its monthly budget",
            body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = ErrorBody),
        (status = 429, description = "Too many requests, too many of the key's videos in the \
            making, or too many videos queued (see Retry-After)", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody)))]
pub async fn generate(
    caller: Caller,
    state: web::Data<AppState>,
    http: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let mut request = parse(&body, &state)?;
    request.assets = assets_of(&state, caller, &body).await?;
    let webhook_url = webhook_url(&body, &state)?;
    let key = idempotency_key(&http)?;
    let mut tx = state.pool.begin().await?;
    let options = StartOptions {
        idempotency_key: key.map(|key| format!("{}/{key}", caller.key_id)),
        ..StartOptions::default()
    };
    // A repeat of a keyed request is answered before any limit is looked at: it costs nothing.
    let started = slate_engine::start_using(&mut tx, &state.workflow, &request, options).await?;
    if !started.created {
        tx.rollback().await?;
        same_request_or_refuse(&state, caller, started.run_id, &request).await?;
    } else if let Some(retry_after) = rate_limited(&state, caller, &mut tx).await? {
        tx.rollback().await?;
        return Err(ApiError::RateLimited {
            retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u64,
        });
    } else {
        let reserve_usd = state.prices.reservation(&request);
        let admission = Admission {
            run_id: started.run_id,
            request: &request,
            owner: caller.key_id,
            reserve_usd,
            max_queued: state.max_queued,
            max_active: state.max_active_videos,
            version: None,
            webhook_url: webhook_url.as_deref(),
        };
        if let Err(refusal) = video_admit(&mut tx, &admission).await? {
            tx.rollback().await?;
            return Err(refused(refusal, reserve_usd));
        }
        tx.commit().await?;
    }
    Ok(HttpResponse::Ok().json(Admitted {
        video_id: started.run_id.0,
        status: "queued",
        message: "Video generation started",
    }))
}

/// The body's `webhook_url`, if any: a URL the outbound rules let deliveries reach.
fn webhook_url(body: &Value, state: &AppState) -> Result<Option<String>, ApiError> {
    let invalid = |why: String| ApiError::invalid("webhook_url", format!("webhook_url {why}"));
    let url = match body.get("webhook_url") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(url)) if url.len() <= MAX_WEBHOOK_URL => url,
        Some(Value::String(_)) => return Err(invalid("must be at most 2048 characters".into())),
        Some(_) => return Err(invalid("must be a string".into())),
    };
    let parsed = Url::parse(url).map_err(|e| invalid(format!("is not a URL: {e}")))?;
    state
        .webhooks
        .check(&parsed)
        .map_err(|why| invalid(format!("must be https and name a public host ({why})")))?;
    Ok(Some(parsed.into()))
}

/// The client's images the body names by asset id: `product_image`, shown in the stills'
/// product slot, and `logo`, shown on the end card; each must be one of the caller's assets.
async fn assets_of(state: &AppState, caller: Caller, body: &Value) -> Result<Assets, ApiError> {
    let mut assets = Assets::default();
    for (field, slot) in [
        ("product_image", &mut assets.product_image),
        ("logo", &mut assets.logo),
    ] {
        let unknown = || {
            ApiError::invalid(
                field,
                format!("{field} must be the asset_id of one of your assets (POST /api/assets)"),
            )
        };
        let id = match body.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::String(id)) => Uuid::parse_str(id).map_err(|_| unknown())?,
            Some(_) => return Err(unknown()),
        };
        let asset = asset_find(&state.pool, id, caller.key_id).await?;
        *slot = Some(asset.ok_or_else(unknown)?.media_key);
    }
    // The Python pipeline's clients send their product image as the first reference asset.
    if let Some(listed) = body.get("reference_assets").filter(|v| !v.is_null()) {
        let refused = || {
            ApiError::invalid(
                "reference_assets",
                "reference_assets must list asset_ids of your assets (POST /api/assets)",
            )
        };
        let listed = listed
            .as_array()
            .filter(|l| l.len() <= 10)
            .ok_or_else(refused)?;
        let mut keys = Vec::with_capacity(listed.len());
        for id in listed {
            let id = id
                .as_str()
                .and_then(|i| Uuid::parse_str(i).ok())
                .ok_or_else(refused)?;
            let asset = asset_find(&state.pool, id, caller.key_id).await?;
            keys.push(asset.ok_or_else(refused)?.media_key);
        }
        if assets.product_image.is_none() {
            assets.product_image = keys.into_iter().next();
        }
    }
    Ok(assets)
}

/// The client's error for an admission `refusal` of a video reserving `reserve_usd`.
pub fn refused(refusal: Refusal, reserve_usd: f64) -> ApiError {
    match refusal {
        Refusal::QueueFull => ApiError::Busy {
            retry_after_secs: 10,
        },
        Refusal::TooManyActive { limit } => ApiError::TooManyActive { limit },
        Refusal::MonthlyBudget { budget, committed } => ApiError::MonthlyBudget {
            reserve_usd,
            committed_usd: committed,
            budget_usd: budget,
        },
    }
}

/// How long to wait when the key's generate rate is spent. The token is taken in the admission's
/// transaction, so an admission refused later gives it back.
pub async fn rate_limited(
    state: &AppState,
    caller: Caller,
    tx: &mut sqlx::PgConnection,
) -> Result<Option<std::time::Duration>, ApiError> {
    let Some(bucket) = state.generate_limit else {
        return Ok(None);
    };
    let key = format!("generate:{}", caller.key_id);
    Ok(match take_token_using(tx, &key, bucket).await? {
        Taken::Granted => None,
        Taken::Refused { retry_after } => Some(retry_after),
    })
}

/// A repeated key must come with the same request (and the same client key, which the engine's
/// idempotency key is scoped by).
async fn same_request_or_refuse(
    state: &AppState,
    caller: Caller,
    run: RunId,
    request: &Request,
) -> Result<(), ApiError> {
    let first = video_find(&state.pool, run.0).await?;
    let same = first.is_some_and(|v| {
        v.owner == caller.key_id
            && serde_json::from_value::<Request>(v.request).ok().as_ref() == Some(request)
    });
    if same {
        return Ok(());
    }
    Err(ApiError::Invalid {
        field: None,
        code: "idempotency_key_reused",
        message: "this Idempotency-Key was used with another request".into(),
    })
}

fn idempotency_key(http: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = http.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.chars().count() <= MAX_KEY_CHARS)
        .ok_or_else(|| {
            ApiError::invalid(
                "idempotency_key",
                "Idempotency-Key must be 1 to 200 visible characters",
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// The request the body describes, or the first field at fault; `max_cost_usd` may not exceed
/// the server's ceiling, and `model` must name a configured model.
pub fn parse(body: &Value, state: &AppState) -> Result<Request, ApiError> {
    let ceiling = state.max_cost_per_video;
    let fields = body.as_object().ok_or_else(|| ApiError::Invalid {
        field: None,
        code: "invalid_body",
        message: "the body must be a JSON object".into(),
    })?;
    let prompt = match fields.get("prompt") {
        None | Some(Value::Null) => return Err(ApiError::invalid("prompt", "prompt is required")),
        Some(Value::String(prompt)) => prompt.trim(),
        Some(_) => return Err(ApiError::invalid("prompt", "prompt must be a string")),
    };
    if prompt.is_empty() {
        return Err(ApiError::invalid("prompt", "prompt must not be empty"));
    }
    if prompt.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(ApiError::invalid(
            "prompt",
            "prompt must not contain control characters (U+0000 to U+001F, U+007F to U+009F) \
             other than whitespace",
        ));
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(ApiError::invalid(
            "prompt",
            "prompt must be at most 1000 characters",
        ));
    }
    let prompt = match text(fields, "description", 2000)? {
        None => prompt.to_owned(),
        Some(more) if prompt.ends_with(['.', '!', '?']) => format!("{prompt} {more}"),
        Some(more) => format!("{prompt}. {more}"),
    };
    let title = text(fields, "title", 100)?;
    if let Some(model) = text(fields, "model", 200)? {
        if !state.models.contains(&model) {
            return Err(ApiError::invalid(
                "model",
                format!(
                    "model must be one of this server's models: {}",
                    state.models.join(", ")
                ),
            ));
        }
    }
    let creativity = number(fields, "creativity_level")?.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&creativity) {
        return Err(ApiError::invalid(
            "creativity_level",
            "creativity_level must be from 0.0 to 1.0",
        ));
    }
    let duration =
        match fields.get("duration") {
            None | Some(Value::Null) => None,
            Some(value) => {
                let seconds = value.as_u64().filter(|s| *s <= 60).map(|s| s as u32);
                match seconds.filter(|s| valid_duration(*s)) {
                    Some(seconds) => Some(seconds),
                    None => return Err(ApiError::invalid(
                        "duration",
                        "duration must be a whole number of seconds, a multiple of 5 from 5 to 60",
                    )),
                }
            }
        };
    let archetype = match fields.get("archetype") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if archetypes::find(id).is_some() => Some(id.clone()),
        Some(_) => {
            let known: Vec<&str> = archetypes::ARCHETYPES.iter().map(|a| a.id).collect();
            return Err(ApiError::invalid(
                "archetype",
                format!("archetype must be one of {}", known.join(", ")),
            ));
        }
    };
    let seed = match fields.get("seed") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .ok_or_else(|| ApiError::invalid("seed", "seed must be a non-negative integer"))?,
        ),
    };
    let max_cost_usd = number(fields, "max_cost_usd")?;
    if max_cost_usd.is_some_and(|c| c <= 0.0) {
        return Err(ApiError::invalid(
            "max_cost_usd",
            "max_cost_usd must be more than 0",
        ));
    }
    if max_cost_usd.is_some_and(|c| c > ceiling) {
        return Err(ApiError::invalid(
            "max_cost_usd",
            format!("max_cost_usd must be at most {ceiling} (this server's limit per video)"),
        ));
    }
    let aspect_ratio = match fields.get("aspect_ratio") {
        None | Some(Value::Null) => AspectRatio::default(),
        Some(value) => value.as_str().and_then(AspectRatio::parse).ok_or_else(|| {
            ApiError::invalid(
                "aspect_ratio",
                "aspect_ratio must be \"16:9\", \"9:16\" or \"1:1\"",
            )
        })?,
    };
    Ok(Request {
        prompt,
        creativity,
        duration,
        archetype,
        seed,
        max_cost_usd,
        aspect_ratio,
        voiceover: switch(fields, "voiceover")?,
        captions: switch(fields, "captions")?,
        assets: Assets::default(),
        review: review(fields)?,
        title,
    })
}

/// An optional text field: trimmed, not blank, at most `max` characters, no control characters
/// other than whitespace.
fn text(
    fields: &Map<String, Value>,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let refused = || {
        ApiError::invalid(
            name,
            format!("{name} must be text of 1 to {max} characters, without control characters"),
        )
    };
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            let text = text.trim();
            let control = text.chars().any(|c| c.is_control() && !c.is_whitespace());
            let fits = !text.is_empty() && text.chars().count() <= max && !control;
            fits.then(|| Some(text.to_owned())).ok_or_else(refused)
        }
        Some(_) => Err(refused()),
    }
}

/// The review gates asked for: a list of "planning" and "storyboarding".
fn review(fields: &Map<String, Value>) -> Result<Vec<Gate>, ApiError> {
    let refused = || {
        ApiError::invalid(
            "review",
            "review must be a list of the phases to review after: \"planning\", \"storyboarding\"",
        )
    };
    let listed = match fields.get("review") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(listed)) => listed,
        Some(_) => return Err(refused()),
    };
    let mut gates = listed
        .iter()
        .map(|name| name.as_str().and_then(Gate::named).ok_or_else(refused))
        .collect::<Result<Vec<_>, _>>()?;
    gates.sort();
    gates.dedup();
    Ok(gates)
}

/// A switch that is on unless the body turns it off.
fn switch(fields: &Map<String, Value>, name: &'static str) -> Result<bool, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(on)) => Ok(*on),
        Some(_) => Err(ApiError::invalid(
            name,
            format!("{name} must be true or false"),
        )),
    }
}

fn number(fields: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| ApiError::invalid(name, format!("{name} must be a number"))),
    }
}
