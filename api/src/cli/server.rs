//! `slate serve`, `slate worker` and `slate migrate`: their configuration (flags, or the
//! environment variables named in the README) and how they run until SIGTERM or ctrl-c.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use slate_activities::{
    cost::Prices,
    outbound::Outbound,
    pipeline::{self, Pipeline},
    plan::Request,
    storage::{Cleaner, MediaStore, ScratchSpace},
    webhooks::{webhook_workflow, Deliverer, Delivery, WebhookConfig},
};
use slate_api::{
    app::{Application, Settings},
    auth::AuthSetting,
};
use slate_engine::{Bucket, Engine, SchedulerConfig, WorkerConfig, Workflow};
use sqlx::{postgres::PgPoolOptions, PgPool};
use tokio_util::sync::CancellationToken;

use super::{providers::CloudArgs, store::StoreArgs};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    worker: WorkerArgs,
    #[arg(long, env = "SLATE_HOST", default_value = "127.0.0.1")]
    host: String,
    #[arg(long, env = "SLATE_PORT", default_value_t = 8080)]
    port: u16,
    /// The origin of media URLs (for example https://slate.example.com); http://host:port by default.
    #[arg(long, env = "SLATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// How many videos may wait for their first step before admissions get 429.
    #[arg(long, env = "SLATE_MAX_QUEUED", default_value_t = 100)]
    max_queued: i64,
    /// Generate requests admitted per second for each key, across every process on the database
    /// (a token bucket); unlimited when unset.
    #[arg(long, env = "SLATE_GENERATE_PER_SECOND")]
    generate_per_second: Option<f64>,
    /// How many generate requests may come at once before the rate applies (the bucket's size).
    #[arg(long, env = "SLATE_GENERATE_BURST", default_value_t = 20.0)]
    generate_burst: f64,
    /// How many events streams (GET /api/status/{id}/events) this process holds open at most.
    #[arg(long, env = "SLATE_MAX_EVENT_STREAMS", default_value_t = 1000)]
    max_event_streams: usize,
    /// How many of those one key may hold open.
    #[arg(long, env = "SLATE_MAX_EVENT_STREAMS_PER_KEY", default_value_t = 20)]
    max_event_streams_per_key: usize,
    /// How many videos a key may have in the making at once, unless the key sets its own limit.
    #[arg(long, env = "SLATE_MAX_ACTIVE_VIDEOS", default_value_t = 10)]
    max_active_videos: i64,
    /// Whether clients need API keys: auto (not on a loopback address, and a refusal to start on
    /// any other), keys, or none.
    #[arg(long, env = "SLATE_AUTH", value_enum, default_value = "auto")]
    auth: AuthSetting,
    /// How long a media URL works, in seconds (up to 15 minutes more, to keep URLs stable).
    #[arg(long, env = "SLATE_MEDIA_URL_SECONDS", default_value_t = 3600)]
    media_url_seconds: u64,
    /// The most a client may let one video cost, in USD: a larger `max_cost_usd` gets 422.
    #[arg(long, env = "SLATE_MAX_COST_PER_VIDEO_USD", default_value_t = 10.0)]
    max_cost_per_video_usd: f64,
    /// The bearer token of the operators' API; without it that API is off.
    /// How many versions a video may have (its first included).
    #[arg(long, env = "SLATE_MAX_VERSIONS", default_value_t = 20)]
    max_versions: i64,
    #[arg(long, env = "SLATE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The origins whose web pages may call the API (CORS), comma-separated, or `*` for any.
    #[arg(long, env = "SLATE_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
}

#[derive(Args)]
pub struct DatabaseArgs {
    /// The PostgreSQL database Slate keeps its state in.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The connections of the pool the API's handlers share (the engine's workers and scheduler
    /// have connections of their own besides).
    #[arg(long, env = "SLATE_DB_CONNECTIONS", default_value_t = 16)]
    db_connections: u32,
}

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The most steps this process runs at once; 0 runs none (an API-only server).
    #[arg(long, env = "SLATE_WORKERS", default_value_t = 16)]
    concurrency: usize,
    /// How long a worker's leases outlive its last heartbeat, in seconds.
    #[arg(long, env = "SLATE_LEASE_TTL_SECS", default_value_t = 30)]
    lease_ttl_secs: u64,
    /// How long the history of finished runs is kept, in days; forever when unset.
    #[arg(long, env = "SLATE_RETENTION_DAYS")]
    retention_days: Option<u64>,
    /// The steps (and child functions) this process's worker takes, comma-separated, for
    /// example `generating_chunks,render_beat` on machines made for rendering; all when unset.
    #[arg(long, env = "SLATE_STEPS", value_delimiter = ',')]
    steps: Vec<String>,
    /// How often unnamed artifacts are looked for and removed, in seconds; 0 turns the cleaner
    /// off in this process.
    #[arg(long, env = "SLATE_CLEAN_EVERY_SECS", default_value_t = 600)]
    clean_every_secs: u64,
    /// How long running steps may take to finish after SIGTERM, in seconds.
    #[arg(long, env = "SLATE_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    shutdown_grace_secs: u64,
    /// The connections of the worker's own pool for its steps' memos and reads.
    #[arg(long, env = "SLATE_STEP_CONNECTIONS", default_value_t = 4)]
    step_connections: u32,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

#[derive(Args)]
pub struct WorkerCommandArgs {
    #[command(flatten)]
    worker: WorkerArgs,
    /// Where to serve this process's own metrics (GET /metrics), for example 0.0.0.0:9100; off
    /// when unset.
    #[arg(long, env = "SLATE_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
}

#[derive(Args)]
struct PipelineArgs {
    /// How long a video waits at a review gate for its client's approval before it expires.
    #[arg(long, env = "SLATE_REVIEW_SECS", default_value_t = 3 * 24 * 3600)]
    review_secs: u64,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    cloud: CloudArgs,
    #[command(flatten)]
    webhooks: WebhookArgs,
}

/// How webhook events are delivered.
#[derive(Args)]
struct WebhookArgs {
    /// Hosts that webhook URLs may name over plain http and at non-public addresses (comma
    /// separated; none by default: events go over https to public addresses only).
    #[arg(long, env = "SLATE_TRUSTED_WEBHOOK_HOSTS", value_delimiter = ',')]
    trusted_webhook_hosts: Vec<String>,
    /// Attempts to deliver an event, the first included.
    #[arg(long, env = "SLATE_WEBHOOK_ATTEMPTS", default_value_t = WebhookConfig::default().attempts)]
    webhook_attempts: u32,
    /// Seconds before an event's second attempt; each later wait is three times the one before,
    /// at most 2160 times this one.
    #[arg(long, env = "SLATE_WEBHOOK_FIRST_RETRY_SECS", default_value_t = 10.0)]
    webhook_first_retry_secs: f64,
}

/// The video workflow and the workflow that delivers its webhook events.
struct Workflows {
    video: Workflow<Request>,
    webhooks: Workflow<Delivery>,
}

impl Workflows {
    /// An engine on `pool` that runs both.
    fn engine(&self, pool: PgPool) -> Engine {
        Engine::builder(pool)
            .register(&self.video)
            .register(&self.webhooks)
            .build()
    }
}

impl PipelineArgs {
    /// The video workflow keeping media in `store` (working in `scratch`), its spending reserved
    /// in `pool`, and what its providers charge.
    fn workflows(
        &self,
        pool: &PgPool,
        store: MediaStore,
        scratch: ScratchSpace,
    ) -> anyhow::Result<(Workflows, Prices)> {
        let providers = self.cloud.providers()?;
        let prices = providers.prices();
        let webhooks = &self.webhooks;
        let first_retry = Duration::try_from_secs_f64(webhooks.webhook_first_retry_secs)
            .context("SLATE_WEBHOOK_FIRST_RETRY_SECS must be a number of seconds")?;
        let config = WebhookConfig {
            attempts: webhooks.webhook_attempts,
            first_retry,
        };
        let outbound = Outbound::new(webhooks.trusted_webhook_hosts.clone());
        let deliverer = Deliverer::new(pool.clone(), outbound);
        let webhooks = webhook_workflow(Arc::new(deliverer), &config);
        let pipeline = Pipeline::new(store, scratch, providers)
            .with_ledger(pool.clone())
            .with_review_time(Duration::from_secs(self.review_secs))
            .with_webhooks(webhooks.clone());
        let video = pipeline::workflow(Arc::new(pipeline));
        Ok((Workflows { video, webhooks }, prices))
    }
}

/// Connects to the database and applies the migrations (the engine's, then the video's).
pub async fn connect(args: &DatabaseArgs) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(args.db_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect(&args.database_url)
        .await
        .context("cannot reach PostgreSQL at DATABASE_URL")?;
    slate_engine::migrate(&pool)
        .await
        .context("the engine's migrations failed")?;
    slate_activities::video::migrate(&pool)
        .await
        .context("the video's migrations failed")?;
    Ok(pool)
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let auth = args.auth.resolve(&args.host).map_err(anyhow::Error::msg)?;
    let pool = connect(&args.worker.database).await?;
    let (media, scratch) = args.worker.pipeline.store.open()?;
    let (workflows, prices) = args
        .worker
        .pipeline
        .workflows(&pool, media.clone(), scratch)?;
    let engine = workflows.engine(pool);
    let cleaner = media.clone();
    let settings = Settings {
        host: args.host,
        port: args.port,
        public_url: args.public_url,
        media,
        media_url_lifetime: Duration::from_secs(args.media_url_seconds),
        auth,
        prices,
        max_queued: args.max_queued,
        generate_limit: args.generate_per_second.map(|per_second| Bucket {
            capacity: args.generate_burst.max(1.0),
            per_second,
        }),
        max_active_videos: Some(args.max_active_videos.max(1)),
        max_event_streams: args.max_event_streams,
        max_event_streams_per_key: args.max_event_streams_per_key,
        max_cost_per_video: args.max_cost_per_video_usd,
        max_versions: args.max_versions.max(1),
        models: args.worker.pipeline.cloud.models(),
        webhook_hosts: args.worker.pipeline.webhooks.trusted_webhook_hosts.clone(),
        admin_token: args.admin_token,
        cors_origins: args.cors_origins,
    };
    let app = Application::build(settings, engine.clone(), workflows.video).await?;
    tracing::info!(?auth, "client keys");
    tracing::info!(port = app.port(), "serving the API");
    let server = app.handle();
    let api = tokio::spawn(app.run_until_stopped());
    run_engine(&engine, &args.worker, cleaner, async move {
        wait_for_signal().await?;
        server.stop(true).await;
        Ok(())
    })
    .await?;
    api.await??;
    Ok(())
}

pub async fn worker(args: WorkerCommandArgs) -> anyhow::Result<()> {
    let WorkerCommandArgs {
        worker,
        metrics_addr,
    } = args;
    let pool = connect(&worker.database).await?;
    let (media, scratch) = worker.pipeline.store.open()?;
    let (workflows, _) = worker.pipeline.workflows(&pool, media.clone(), scratch)?;
    let engine = workflows.engine(pool);
    let Some(addr) = metrics_addr else {
        return run_engine(&engine, &worker, media, wait_for_signal()).await;
    };
    let metrics = slate_api::routes::metrics::worker_server(engine.clone(), addr)
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    tracing::info!(%addr, "serving this worker's metrics");
    let handle = metrics.handle();
    let served = tokio::spawn(metrics);
    run_engine(&engine, &worker, media, wait_for_signal()).await?;
    handle.stop(true).await;
    served.await??;
    Ok(())
}

/// Runs a worker, the scheduler and the cleaner of `media` until `until` ends, then shuts them
/// down gracefully.
async fn run_engine(
    engine: &Engine,
    args: &WorkerArgs,
    media: MediaStore,
    until: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let lease_ttl = Duration::from_secs(args.lease_ttl_secs);
    let worker = engine.worker(WorkerConfig {
        concurrency: args.concurrency,
        lease_ttl,
        heartbeat_interval: Duration::from_secs(args.lease_ttl_secs.div_ceil(10).max(1)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        step_connections: args.step_connections,
        steps: (!args.steps.is_empty()).then(|| args.steps.clone()),
        ..WorkerConfig::default()
    });
    if args.clean_every_secs > 0 {
        let cleaner = Cleaner::new(media, engine.clone(), engine.artifact_grace(lease_ttl));
        let every = Duration::from_secs(args.clean_every_secs);
        tokio::spawn(cleaner.run(every, shutdown.clone()));
    }
    let scheduler = engine.scheduler(SchedulerConfig {
        retention: args
            .retention_days
            .map(|days| Duration::from_secs(days * 24 * 3600)),
        ..SchedulerConfig::default()
    });
    let worker = (args.concurrency > 0).then(|| tokio::spawn(worker.run(shutdown.clone())));
    let scheduler = tokio::spawn(scheduler.run(shutdown.clone()));
    until.await?;
    tracing::info!("shutting down");
    shutdown.cancel();
    scheduler.await?;
    if let Some(worker) = worker {
        worker.await??;
    }
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
