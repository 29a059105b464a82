//! The engine across processes: runs/s of 5000 no-op runs on 1, 2 and 4 worker processes (with
//! PostgreSQL's commits per run), and how long a worker that is alive but silent (SIGSTOP) keeps
//! a step before another process takes it over.

use std::time::Duration;

use anyhow::Context;
use slate_engine::{Engine, StartOptions};
use slate_integration_tests::{
    database::TestDatabase,
    probe::{self, Behaviour, Probe},
    process::WorkerProcess,
    wait,
};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::Report;

fn worker_binary() -> anyhow::Result<String> {
    let binary = std::env::current_exe()?.with_file_name("test-worker");
    Ok(binary
        .to_str()
        .context("the worker binary's path")?
        .to_owned())
}

/// Committed transactions of the database so far.
async fn commits(pool: &PgPool) -> anyhow::Result<i64> {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(pool)
        .await?;
    Ok(sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

pub async fn throughput(report: &mut Report, runs: usize) -> anyhow::Result<()> {
    let binary = worker_binary()?;
    for processes in [1, 2, 4] {
        let db = TestDatabase::with_pool_size(8).await;
        let noop = probe::noop();
        let mut workers: Vec<WorkerProcess> = (0..processes)
            .map(|_| WorkerProcess::spawn(&binary, &db.url, &["--concurrency", "256"]))
            .collect();
        crate::active_workers(&db.pool, processes as i64).await;
        let before = commits(&db.pool).await?;
        let began = Instant::now();
        let mut tx = db.pool.begin().await?;
        for n in 0..runs {
            slate_engine::start_using(&mut tx, &noop, &(n as u64), StartOptions::default()).await?;
        }
        tx.commit().await?;
        let committed = Instant::now();
        wait::until(
            "the burst to complete",
            Duration::from_secs(600),
            || async {
                let left: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM runs WHERE state = 'running'")
                        .fetch_one(&db.pool)
                        .await
                        .ok()?;
                (left == 0).then_some(())
            },
        )
        .await;
        let elapsed = committed.elapsed();
        let per_run = (commits(&db.pool).await? - before) as f64 / runs as f64;
        report.line(format!(
            "throughput on {processes} worker process{}: {:.0} runs/s ({runs} runs of 5 no-op \
             steps in {:.2} s after a start of {:.0} ms; {per_run:.2} commits per run, the \
             workers' heartbeats and this benchmark's polling included)",
            if processes == 1 { "" } else { "es" },
            runs as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            (committed - began).as_secs_f64() * 1000.0
        ));
        for worker in &mut workers {
            worker.terminate().await;
        }
        db.drop().await;
    }
    Ok(())
}

/// Seconds from SIGSTOP of the worker running a step to that step running on another process,
/// with a lease TTL of `ttl`.
pub async fn takeover(report: &mut Report, ttl: Duration) -> anyhow::Result<()> {
    let binary = worker_binary()?;
    let db = TestDatabase::new().await;
    probe::create_tables(&db.pool).await?;
    let workflow = probe::workflow(db.pool.clone(), Duration::from_secs(60));
    let engine = Engine::builder(db.pool.clone()).register(&workflow).build();
    let ttl_ms = ttl.as_millis().to_string();
    let mut victim = WorkerProcess::spawn(
        &binary,
        &db.url,
        &["--no-scheduler", "--lease-ttl-ms", &ttl_ms],
    );
    crate::active_workers(&db.pool, 1).await;
    let run = engine
        .start(
            &workflow,
            &Probe::at("three", Behaviour::HangFirstAttempt),
            StartOptions::default(),
        )
        .await?
        .run_id;
    crate::step_three_runs(&db.pool, run, 1).await;
    let mut survivor = WorkerProcess::spawn(&binary, &db.url, &["--lease-ttl-ms", &ttl_ms]);
    crate::active_workers(&db.pool, 2).await;
    victim.pause();
    let paused_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&db.pool)
        .await?;
    let resumed_at = crate::step_three_runs(&db.pool, run, 2).await;
    let seconds = (resumed_at - paused_at).num_milliseconds() as f64 / 1000.0;
    report.line(format!(
        "takeover from a silent worker (SIGSTOP): {seconds:.2} s with a lease TTL of {:.0} s \
         (the lease lapses a TTL after the last heartbeat before the pause; a scheduler tick of 0.1 s follows)",
        ttl.as_secs_f64()
    ));
    victim.resume();
    engine.wait_for_end(run, Duration::from_secs(60)).await?;
    victim.kill().await;
    survivor.terminate().await;
    db.drop().await;
    Ok(())
}
