//! The OpenAPI document of the HTTP API, served at /api/openapi.json. Each handler describes
//! itself with `#[utoipa::path]`; this lists them and declares the operators' bearer token.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::routes::{admin, events, generate, health, metrics, status, video};

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
        admin::runs,
        admin::history,
        admin::replay,
        admin::cancel,
        health::healthz,
        health::readyz,
        metrics::metrics,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "videos", description = "Admitting videos and following them"),
        (name = "operators", description = "Runs, their history, replay and cancel (bearer token)"),
        (name = "health", description = "Liveness, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
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
