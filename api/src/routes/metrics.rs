//! GET /metrics: Prometheus text, for operators (their bearer token). The whole database's figures (runs and videos by status, the
//! queue's depth and its oldest due task, live workers), read at scrape time, and what this
//! process's workers measured (step attempt durations, retries). A `slate worker` process serves
//! only the latter, on a listener of its own ([`worker_server`]).

use std::net::SocketAddr;

use actix_web::{dev::Server, web, App, HttpResponse, HttpServer};
use prometheus_client::{
    encoding::text::encode,
    metrics::{family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};
use slate_activities::video::video_count_by_status;
use slate_engine::Engine;

use crate::{
    error::{ApiError, ErrorBody},
    routes::admin::Operator,
    state::AppState,
};

type ByStatus = Family<Vec<(&'static str, String)>, Gauge>;

#[utoipa::path(get, path = "/metrics", tag = "health", security(("operator" = [])),
    responses((status = 200, content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "The operators' bearer token is missing or wrong", body = ErrorBody),
        (status = 404, description = "No operators' token is configured", body = ErrorBody)))]
pub async fn metrics(_: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut registry = Registry::default();
    state.engine.metrics().register(&mut registry);
    database(&state, &mut registry).await?;
    Ok(openmetrics(&registry))
}

/// The metrics listener of a `slate worker` process at `addr`: GET /metrics with what its own
/// workers measured. The database's figures come from `slate serve`, so that a scrape of every
/// process counts them once.
pub fn worker_server(engine: Engine, addr: SocketAddr) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(engine.clone()))
            .route("/metrics", web::get().to(worker_metrics))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?
    .run();
    Ok(server)
}

async fn worker_metrics(engine: web::Data<Engine>) -> HttpResponse {
    let mut registry = Registry::default();
    engine.metrics().register(&mut registry);
    openmetrics(&registry)
}

fn openmetrics(registry: &Registry) -> HttpResponse {
    let mut text = String::new();
    encode(&mut text, registry).expect("writing to a String cannot fail");
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text)
}

async fn database(state: &AppState, registry: &mut Registry) -> Result<(), ApiError> {
    let stats = state.engine.stats().await?;
    let runs = stats
        .runs
        .iter()
        .map(|(run_state, count)| (run_state.as_str().to_owned(), *count))
        .collect();
    let runs = by_status("state", runs);
    registry.register("slate_runs", "Runs by state", runs);
    let videos = video_count_by_status(&state.pool)
        .await?
        .into_iter()
        .map(|(status, count)| (status.as_str().to_owned(), count))
        .collect();
    let videos = by_status("status", videos);
    registry.register("slate_videos", "Videos by status", videos);

    let gauge = |value: i64| {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        gauge
    };
    registry.register(
        "slate_tasks_due",
        "Steps due to run that no worker has claimed yet (the queue's depth)",
        gauge(stats.tasks_due),
    );
    registry.register(
        "slate_tasks_leased",
        "Steps leased to a worker",
        gauge(stats.tasks_leased),
    );
    let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    age.set(stats.oldest_due_seconds);
    registry.register_with_unit(
        "slate_oldest_due_task_age",
        "How long the oldest unclaimed due step has waited",
        Unit::Seconds,
        age,
    );
    registry.register(
        "slate_workers_active",
        "Registered live workers",
        gauge(stats.workers_active),
    );
    Ok(())
}

fn by_status(label: &'static str, counts: Vec<(String, i64)>) -> ByStatus {
    let family = ByStatus::default();
    for (status, count) in counts {
        family.get_or_create(&vec![(label, status)]).set(count);
    }
    family
}
