//! A worker process for the tests and benchmarks: runs the probe, no-op, limited and fan-out
//! workflows (and, unless told not to, a scheduler) until SIGTERM or ctrl-c.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use clap::Parser;
use slate_activities::{
    pipeline::{self, Pipeline},
    storage::{MediaStore, ScratchSpace},
};
use slate_engine::{Engine, SchedulerConfig, WorkerConfig};
use slate_integration_tests::{predictions, probe};
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Workers in this process.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 30_000)]
    lease_ttl_ms: u64,
    #[arg(long, default_value_t = 1_000)]
    heartbeat_ms: u64,
    #[arg(long, default_value_t = 30_000)]
    step_timeout_ms: u64,
    #[arg(long, default_value_t = 100)]
    scheduler_tick_ms: u64,
    #[arg(long)]
    no_scheduler: bool,
    /// Attempts per step of the probe workflow.
    #[arg(long, default_value_t = 4)]
    probe_attempts: u32,
    /// Also run the predictions workflow against this API (its outputs go to --media-dir).
    #[arg(long)]
    predictions_url: Option<String>,
    /// Also run the video workflow, keeping media here.
    #[arg(long)]
    media_dir: Option<std::path::PathBuf>,
    /// Where the video workflow's tools work (the system's temporary folder by default).
    #[arg(long)]
    scratch_dir: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let pool = PgPoolOptions::new()
        .max_connections(8 + 2 * args.workers as u32)
        .connect(&args.database_url)
        .await?;
    let probe = probe::workflow_with_attempts(
        pool.clone(),
        Duration::from_millis(args.step_timeout_ms),
        args.probe_attempts,
    );
    let [limited_a, limited_b] = probe::limited(pool.clone());
    let mut engine = Engine::builder(pool.clone())
        .register(&probe)
        .register(&probe::noop())
        .register(&limited_a)
        .register(&limited_b)
        .register(&probe::fan(pool.clone()));
    if let Some(url) = &args.predictions_url {
        let media_dir = args
            .media_dir
            .clone()
            .context("--predictions-url needs --media-dir")?;
        engine = engine.register(&predictions::workflow(predictions::client(url), media_dir));
    }
    if let Some(media_dir) = &args.media_dir {
        let scratch = match &args.scratch_dir {
            Some(folder) => ScratchSpace::open(folder)?,
            None => ScratchSpace::in_temp_dir()?,
        };
        let pipeline = Pipeline::embedded(MediaStore::local(media_dir)?, scratch)?;
        engine = engine.register(&pipeline::workflow(Arc::new(pipeline)));
    }
    let engine = engine.build();
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.workers {
        let worker = engine.worker(WorkerConfig {
            concurrency: args.concurrency,
            lease_ttl: Duration::from_millis(args.lease_ttl_ms),
            heartbeat_interval: Duration::from_millis(args.heartbeat_ms),
            shutdown_grace: Duration::from_secs(5),
            ..WorkerConfig::default()
        });
        tasks.spawn(worker.run(shutdown.clone()));
    }
    if !args.no_scheduler {
        let scheduler = engine.scheduler(SchedulerConfig {
            tick: Duration::from_millis(args.scheduler_tick_ms),
            ..SchedulerConfig::default()
        });
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            scheduler.run(shutdown).await;
            Ok(())
        });
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    shutdown.cancel();
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
