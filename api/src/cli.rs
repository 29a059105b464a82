//! The commands of `slate` and their configuration (flags, or the environment variables named
//! in the README).

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use slate_activities::{
    pipeline::{self, Pipeline},
    plan::Request,
};
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
    /// Run workers and the scheduler until SIGTERM or ctrl-c.
    Worker(WorkerArgs),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
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
}

impl PipelineArgs {
    fn workflow(&self) -> anyhow::Result<Workflow<Request>> {
        let pipeline = Pipeline::embedded(&self.media_dir, self.chunk_parallelism)
            .map_err(|e| anyhow::anyhow!("the embedded providers cannot start: {e}"))?;
        Ok(pipeline::workflow(Arc::new(pipeline)))
    }
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Worker(args) => worker(args).await,
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

async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let engine = connect(&args.database, &[args.pipeline.workflow()?]).await?;
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
    wait_for_signal().await?;
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
