//! The commands of `slate` and their configuration (flags, or the environment variables named
//! in the README).

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use slate_activities::{
    cost::Prices,
    pipeline::{self, CloudModel, Pipeline, Providers},
    plan::Request,
    providers::{openai::OpenAiPlanner, replicate::Replicate, Secret},
};
use slate_api::app::{Application, Settings};
use slate_engine::{Engine, SchedulerConfig, WorkerConfig, Workflow};
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use crate::telemetry::LogFormat;

#[derive(Parser)]
#[command(
    name = "slate",
    version,
    about = "Durable video generation on PostgreSQL"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text or JSON.
    #[arg(
        long,
        env = "SLATE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API, workers and the scheduler until SIGTERM or ctrl-c.
    Serve(Box<ServeArgs>),
    /// Run workers and the scheduler until SIGTERM or ctrl-c.
    Worker(Box<WorkerArgs>),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
}

#[derive(Args)]
struct ServeArgs {
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
    /// The bearer token of the operators' API; without it that API is off.
    #[arg(long, env = "SLATE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

#[derive(Args)]
struct DatabaseArgs {
    /// The PostgreSQL database Slate keeps its state in.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
}

#[derive(Args)]
struct WorkerArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The most steps this process runs at once.
    #[arg(long, env = "SLATE_WORKERS", default_value_t = 16)]
    concurrency: usize,
    /// How long a worker's leases outlive its last heartbeat, in seconds.
    #[arg(long, env = "SLATE_LEASE_TTL_SECS", default_value_t = 30)]
    lease_ttl_secs: u64,
    /// How long the history of finished runs is kept, in days; forever when unset.
    #[arg(long, env = "SLATE_RETENTION_DAYS")]
    retention_days: Option<u64>,
    /// How long running steps may take to finish after SIGTERM, in seconds.
    #[arg(long, env = "SLATE_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    shutdown_grace_secs: u64,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

#[derive(Args)]
struct PipelineArgs {
    /// Where stills, clips and videos are kept.
    #[arg(long, env = "SLATE_MEDIA_DIR", default_value = "data/media")]
    media_dir: PathBuf,
    /// How many clips of one video render at once.
    #[arg(long, env = "SLATE_CHUNK_PARALLELISM", default_value_t = 2)]
    chunk_parallelism: usize,
    #[command(flatten)]
    cloud: CloudArgs,
}

/// The cloud providers: each phase whose model is named uses it; the others stay embedded.
#[derive(Args)]
struct CloudArgs {
    /// The chat model of an OpenAI-compatible API that plans videos.
    #[arg(long, env = "SLATE_PLANNER_MODEL")]
    planner_model: Option<String>,
    #[arg(
        long,
        env = "SLATE_PLANNER_URL",
        default_value = "https://api.openai.com/v1"
    )]
    planner_url: String,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    openai_api_key: Option<String>,
    /// The predictions API's model (`owner/name`) that draws the stills.
    #[arg(long, env = "SLATE_IMAGE_MODEL")]
    image_model: Option<String>,
    /// The model that turns a still into a 5 s clip.
    #[arg(long, env = "SLATE_VIDEO_MODEL")]
    video_model: Option<String>,
    /// The model that writes the soundtrack.
    #[arg(long, env = "SLATE_MUSIC_MODEL")]
    music_model: Option<String>,
    #[arg(
        long,
        env = "SLATE_REPLICATE_URL",
        default_value = "https://api.replicate.com"
    )]
    replicate_url: String,
    #[arg(long, env = "REPLICATE_API_TOKEN", hide_env_values = true)]
    replicate_api_token: Option<String>,
    /// USD per plan, image, 5 s clip and track of the cloud models.
    #[arg(long, env = "SLATE_PRICE_PLAN", default_value_t = Prices::REFERENCE_CLOUD.per_plan)]
    price_plan: f64,
    #[arg(long, env = "SLATE_PRICE_IMAGE", default_value_t = Prices::REFERENCE_CLOUD.per_image)]
    price_image: f64,
    #[arg(long, env = "SLATE_PRICE_CHUNK", default_value_t = Prices::REFERENCE_CLOUD.per_chunk)]
    price_chunk: f64,
    #[arg(long, env = "SLATE_PRICE_TRACK", default_value_t = Prices::REFERENCE_CLOUD.per_track)]
    price_track: f64,
}

impl CloudArgs {
    fn providers(&self) -> anyhow::Result<Providers> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()?;
        let planner = match &self.planner_model {
            None => None,
            Some(model) => Some(OpenAiPlanner {
                client: client.clone(),
                base_url: self.planner_url.clone(),
                model: model.clone(),
                api_key: Secret::new(
                    self.openai_api_key
                        .clone()
                        .context("SLATE_PLANNER_MODEL is set, so OPENAI_API_KEY must be too")?,
                ),
            }),
        };
        let models = [&self.image_model, &self.video_model, &self.music_model];
        let api = match (
            models.iter().any(|m| m.is_some()),
            &self.replicate_api_token,
        ) {
            (false, _) => None,
            (true, None) => {
                anyhow::bail!("a SLATE_*_MODEL is set, so REPLICATE_API_TOKEN must be too")
            }
            (true, Some(token)) => Some(Replicate {
                client,
                base_url: self.replicate_url.clone(),
                token: Secret::new(token.clone()),
                deadline: Duration::from_secs(300),
                poll_from: Duration::from_millis(500),
                poll_to: Duration::from_secs(5),
            }),
        };
        let cloud = |model: &Option<String>| {
            let api = api.clone()?;
            Some(CloudModel {
                api,
                model: model.clone()?,
            })
        };
        Ok(Providers {
            planner,
            images: cloud(&self.image_model),
            clips: cloud(&self.video_model),
            music: cloud(&self.music_model),
            prices: Some(Prices {
                per_plan: self.price_plan,
                per_image: self.price_image,
                per_chunk: self.price_chunk,
                per_track: self.price_track,
            }),
        })
    }
}

impl PipelineArgs {
    fn workflow(&self) -> anyhow::Result<Workflow<Request>> {
        let providers = self.cloud.providers()?;
        let pipeline = Pipeline::new(&self.media_dir, self.chunk_parallelism, providers)
            .map_err(|e| anyhow::anyhow!("the pipeline cannot start: {e}"))?;
        Ok(pipeline::workflow(Arc::new(pipeline)))
    }
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve(*args).await,
            Command::Worker(args) => worker(*args).await,
            Command::Migrate(args) => {
                connect(&args, &[]).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
        }
    }
}

/// Connects to the database and applies the migrations; the engine runs `workflows`.
async fn connect(args: &DatabaseArgs, workflows: &[Workflow<Request>]) -> anyhow::Result<Engine> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&args.database_url)
        .await
        .context("cannot reach PostgreSQL at DATABASE_URL")?;
    let engine = workflows
        .iter()
        .fold(Engine::builder(pool), |engine, w| engine.register(w))
        .build();
    engine.migrate().await.context("migrations failed")?;
    Ok(engine)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let workflow = args.worker.pipeline.workflow()?;
    let engine = connect(&args.worker.database, std::slice::from_ref(&workflow)).await?;
    let settings = Settings {
        host: args.host,
        port: args.port,
        public_url: args.public_url,
        media_dir: args.worker.pipeline.media_dir.clone(),
        max_queued: args.max_queued,
        admin_token: args.admin_token,
    };
    let app = Application::build(settings, engine.clone(), workflow)?;
    tracing::info!(port = app.port(), "serving the API");
    let server = app.handle();
    let api = tokio::spawn(app.run_until_stopped());
    run_engine(&engine, &args.worker, async move {
        wait_for_signal().await?;
        server.stop(true).await;
        Ok(())
    })
    .await?;
    api.await??;
    Ok(())
}

async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let engine = connect(&args.database, &[args.pipeline.workflow()?]).await?;
    run_engine(&engine, &args, wait_for_signal()).await
}

/// Runs a worker and the scheduler until `until` ends, then shuts them down gracefully.
async fn run_engine(
    engine: &Engine,
    args: &WorkerArgs,
    until: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let worker = engine.worker(WorkerConfig {
        concurrency: args.concurrency,
        lease_ttl: Duration::from_secs(args.lease_ttl_secs),
        heartbeat_interval: Duration::from_secs(args.lease_ttl_secs.div_ceil(10).max(1)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        ..WorkerConfig::default()
    });
    let scheduler = engine.scheduler(SchedulerConfig {
        retention: args
            .retention_days
            .map(|days| Duration::from_secs(days * 24 * 3600)),
        ..SchedulerConfig::default()
    });
    let worker = tokio::spawn(worker.run(shutdown.clone()));
    let scheduler = tokio::spawn(scheduler.run(shutdown.clone()));
    until.await?;
    tracing::info!("shutting down");
    shutdown.cancel();
    scheduler.await?;
    worker.await??;
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
