//! The application: its settings, and the server bound to its port.

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use actix_cors::Cors;
use actix_web::{
    dev::{Server, Service},
    error::JsonPayloadError,
    http::header,
    middleware::Condition,
    web, App, HttpServer,
};
use slate_activities::{cost::Prices, outbound::Outbound, plan::Request, storage::MediaStore};
use slate_engine::{Bucket, Engine, Workflow};

use crate::{
    auth::Auth,
    error::ApiError,
    eta::PhaseLengthsCache,
    feed::Feed,
    media_urls::{shared_secret, MediaUrls},
    openapi, routes,
    state::AppState,
    streams::StreamSlots,
};

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// The origin media URLs start with; `http://host:port` when unset.
    pub public_url: Option<String>,
    /// Where media are kept.
    pub media: MediaStore,
    /// How long a media URL works, at least (15 minutes more at most).
    pub media_url_lifetime: Duration,
    /// Whether clients need keys.
    pub auth: Auth,
    /// What the configured providers charge, for admission's reservation.
    pub prices: Prices,
    /// How many videos may wait for their first step before admissions are refused (429).
    pub max_queued: i64,
    /// Each key's rate of generate requests, shared by every process; unlimited when none.
    pub generate_limit: Option<Bucket>,
    /// How many videos a key may have in the making at once, unless the key says otherwise.
    pub max_active_videos: Option<i64>,
    /// How many events streams this process holds open at most, in all and per key.
    pub max_event_streams: usize,
    pub max_event_streams_per_key: usize,
    /// The most a client may let one video cost (USD).
    pub max_cost_per_video: f64,
    /// How many versions a video may have.
    pub max_versions: i64,
    /// The names a generate's `model` may give.
    pub models: Vec<String>,
    /// Hosts a `webhook_url` may name over plain http or at a non-public address (as the
    /// workers' SLATE_TRUSTED_WEBHOOK_HOSTS say).
    pub webhook_hosts: Vec<String>,
    /// The operators' bearer token; without one the admin API is off.
    pub admin_token: Option<String>,
    /// The origins whose pages may call the API from a browser (CORS); `*` for any.
    pub cors_origins: Vec<String>,
}

pub struct Application {
    server: Server,
    port: u16,
}

impl Application {
    /// Binds the port and builds the server; it runs once awaited ([`Self::run_until_stopped`]).
    pub async fn build(
        settings: Settings,
        engine: Engine,
        workflow: Workflow<Request>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
        let port = listener.local_addr()?.port();
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{port}", settings.host));
        let secret = shared_secret(engine.pool()).await.map_err(|e| {
            std::io::Error::other(format!("cannot read the media URLs' secret: {e}"))
        })?;
        let feed = Feed::start(engine.pool());
        let state = web::Data::new(AppState {
            pool: engine.pool().clone(),
            engine,
            workflow,
            urls: MediaUrls::new(public_url, secret, settings.media_url_lifetime),
            media: settings.media,
            auth: settings.auth,
            prices: settings.prices,
            max_queued: settings.max_queued,
            generate_limit: settings.generate_limit,
            max_active_videos: settings.max_active_videos,
            max_cost_per_video: settings.max_cost_per_video,
            max_versions: settings.max_versions,
            models: settings.models,
            webhooks: Outbound::new(settings.webhook_hosts),
            streams: StreamSlots::new(
                settings.max_event_streams,
                settings.max_event_streams_per_key,
            ),
            admin_token: settings.admin_token.clone().filter(|t| !t.is_empty()),
            feed,
            phase_lengths: PhaseLengthsCache::default(),
        });
        let origins = cors_origins(&settings.cors_origins)?;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(Condition::new(origins.is_some(), cors(origins.as_deref())))
                .app_data(state.clone())
                .app_data(json_config())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::invalid("query", format!("the query string is not valid: {e}")).into()
                }))
                .wrap_fn(|request, service| {
                    let began = Instant::now();
                    let (method, path) = (request.method().clone(), request.path().to_owned());
                    let id = request_id(request.headers());
                    let response = service.call(request);
                    async move {
                        let mut response = response.await?;
                        tracing::info!(request.id = %id.to_str().unwrap_or_default(), %method, %path,
                            status = response.status().as_u16(),
                            latency_ms = began.elapsed().as_secs_f64() * 1000.0, "request");
                        response.headers_mut().insert(REQUEST_ID, id);
                        Ok(response)
                    }
                })
                .route("/api/openapi.json", web::get().to(openapi::document))
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self { server, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server gracefully when called.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The caller's X-Request-Id when it is a short visible string (a proxy's), else a new one.
fn request_id(headers: &header::HeaderMap) -> header::HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| {
            let v = v.as_bytes();
            !v.is_empty() && v.len() <= 64 && v.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            header::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .expect("a UUID is a valid header value")
        })
}

/// The configured origins, each checked and written as a browser sends it; `Some(vec![])` for any
/// origin, `None` when CORS is off.
fn cors_origins(configured: &[String]) -> std::io::Result<Option<Vec<String>>> {
    let configured: Vec<&str> = configured
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if configured.is_empty() {
        return Ok(None);
    }
    if configured.contains(&"*") {
        return Ok(Some(Vec::new()));
    }
    configured
        .into_iter()
        .map(|origin| {
            url::Url::parse(origin)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.path() == "/")
                .map(|url| url.origin().ascii_serialization())
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("SLATE_CORS_ORIGINS: {origin:?} is not an origin like https://app.example.com"),
                    )
                })
        })
        .collect::<std::io::Result<_>>()
        .map(Some)
}

/// Cross-origin access for `origins` (any origin when empty): the API's methods and headers, and
/// Retry-After readable by scripts. Requests from other origins are served without CORS headers,
/// so browsers keep them from reading the answer.
fn cors(origins: Option<&[String]>) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    match origins {
        Some([]) => cors.allow_any_origin(),
        Some(list) => list
            .iter()
            .fold(cors, |cors, origin| cors.allowed_origin(origin)),
        None => cors,
    }
}

/// JSON bodies: 64 KiB at most; every failure answered with the API's error body.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(routes::MAX_BODY)
        .error_handler(|error, _| {
            let error = match error {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::TooLarge,
                JsonPayloadError::ContentType => ApiError::BadJson(
                    "send the body as JSON, with Content-Type: application/json".into(),
                ),
                other => ApiError::BadJson(format!("the body is not valid JSON: {other}")),
            };
            error.into()
        })
}
