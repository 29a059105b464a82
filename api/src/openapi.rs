//! The OpenAPI document of the HTTP API, served at /api/openapi.json. Each handler describes
//! itself with `#[utoipa::path]`; this lists them and declares the two bearer schemes: clients'
//! keys and the operators' token.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::routes::{
    admin, assets, estimate, events, generate, health, keys, metrics, review, status, usage,
    versions, video, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Slate",
        description = "Turns a text prompt into an advertisement video, durably: each phase is \
            checkpointed in PostgreSQL, resumed after any crash and replayable by operators. \
            Every error body is {\"error\": {\"code\", \"message\", \"field\"}}."
    ),
    paths(
        generate::generate,
        status::status,
        events::events,
        video::video,
        video::list,
        video::cancel,
        video::delete,
        estimate::estimate,
        versions::versions,
        review::approve,
        versions::edit,
        versions::regenerate,
        versions::replace_still,
        assets::upload,
        assets::asset,
        assets::delete,
        usage::usage,
        webhooks::secret,
        webhooks::rotate,
        admin::runs,
        admin::history,
        admin::replay,
        admin::cancel,
        admin::videos,
        keys::create,
        keys::list,
        keys::update,
        keys::revoke,
        keys::rotate,
        health::healthz,
        health::readyz,
        metrics::metrics,
    ),
    modifiers(&BearerSchemes),
    tags(
        (name = "videos", description = "Admitting videos and following them"),
        (name = "steering", description = "Review gates, plan edits, regenerated beats and the \
            versions they make"),
        (name = "webhooks", description = "The secret that signs the events POSTed to a \
            video's webhook_url"),
        (name = "operators", description = "Runs, their history, replay and cancel; every key's \
            videos; clients' keys (the operators' bearer token)"),
        (name = "health", description = "Liveness, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// Two bearer schemes: a client's key (`slate_...`, when the server has keys on) and the
/// operators' token.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "client",
            scheme("A client's API key (slate_...), needed when the server runs with keys on"),
        );
        components.add_security_scheme(
            "operator",
            scheme("The operators' token (SLATE_ADMIN_TOKEN)"),
        );
    }
}

/// GET /api/openapi.json
pub async fn document() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let json = DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serializes")
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json.as_str())
}
