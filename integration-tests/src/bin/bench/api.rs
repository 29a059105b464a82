//! The HTTP facade under load: `slate serve` runs in a process of its own, with no workers (so
//! admitted videos only queue), and this process is the client. It measures GET /api/status
//! (64 connections), POST /api/generate admissions, and the server's resident memory; then both
//! again with client keys on, as a deployment for many clients runs.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use slate_activities::keys::{key_create, NewKey};
use slate_integration_tests::{database::TestDatabase, process::SlateServer};
use tokio::time::Instant;

use crate::{percentile, Report};

/// Connections of the status load.
const CONNECTIONS: usize = 64;
/// Connections of the admissions.
const ADMITTERS: usize = 16;

pub async fn measure(report: &mut Report, status_seconds: u64) -> anyhow::Result<()> {
    let db = TestDatabase::new().await;
    let media = tempfile::tempdir()?;
    let server = SlateServer::start(
        &db.url,
        media.path(),
        &[
            ("SLATE_WORKERS", "0"),
            ("SLATE_MAX_QUEUED", "1000000"),
            ("SLATE_MAX_ACTIVE_VIDEOS", "1000000"),
        ],
    )
    .await;
    let (pid, base) = (server.pid, server.base.clone());
    let idle = memory(pid, "VmRSS")?;

    let (admitted, seconds) = admissions(&base, None, Duration::from_secs(10)).await?;
    report.line(format!(
        "admissions: {:.0} videos/s (POST /api/generate, {ADMITTERS} connections, {admitted} in \
         {seconds:.1} s; each one a video row, a run and its first task in one transaction)",
        admitted as f64 / seconds
    ));

    let id: String = sqlx::query_scalar("SELECT id::text FROM videos LIMIT 1")
        .fetch_one(&db.pool)
        .await?;
    let (mut latencies, seconds) = status_load(&base, &id, None, status_seconds).await?;
    latencies.sort_by(f64::total_cmp);
    report.line(format!(
        "GET /api/status: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms ({CONNECTIONS} \
         connections for {seconds:.0} s from another process, {} requests, all 200)",
        latencies.len() as f64 / seconds,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.len()
    ));
    report.line(format!(
        "slate serve memory: {:.0} MiB resident when idle, {:.0} MiB at peak with {admitted} \
         queued videos",
        idle,
        memory(pid, "VmHWM")?
    ));

    server.stop().await;
    db.drop().await;
    with_keys(report, status_seconds).await
}

/// Admissions and status requests of one client key (whose monthly budget is checked), on a
/// server with keys on.
async fn with_keys(report: &mut Report, status_seconds: u64) -> anyhow::Result<()> {
    let db = TestDatabase::new().await;
    let media = tempfile::tempdir()?;
    let new = NewKey {
        name: "bench".into(),
        monthly_budget_usd: Some(1e9),
        max_active_videos: Some(1_000_000),
        expires_at: None,
    };
    let (_, secret) = key_create(&db.pool, &new).await?;
    let server = SlateServer::start(
        &db.url,
        media.path(),
        &[
            ("SLATE_WORKERS", "0"),
            ("SLATE_MAX_QUEUED", "1000000"),
            ("SLATE_AUTH", "keys"),
        ],
    )
    .await;
    let key = Some(secret.expose());
    let (admitted, seconds) = admissions(&server.base, key, Duration::from_secs(10)).await?;
    report.line(format!(
        "admissions with keys on: {:.0} videos/s ({ADMITTERS} connections of one key with a \
         monthly budget, {admitted} in {seconds:.1} s; each one also authenticates the key, locks \
         its row, counts its videos in the making and its month's spending, and takes the queue's \
         lock)",
        admitted as f64 / seconds
    ));
    let id: String = sqlx::query_scalar("SELECT id::text FROM videos LIMIT 1")
        .fetch_one(&db.pool)
        .await?;
    let (mut latencies, seconds) = status_load(&server.base, &id, key, status_seconds).await?;
    latencies.sort_by(f64::total_cmp);
    report.line(format!(
        "GET /api/status with keys on: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms (as above, \
         each request also authenticating its key)",
        latencies.len() as f64 / seconds,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    ));
    server.stop().await;
    db.drop().await;
    Ok(())
}

/// A client that sends `key`, if any, as its bearer.
fn client(key: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {key}").parse()?,
        );
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

/// Admits videos over `length` from [`ADMITTERS`] connections (sending `key`); returns how many,
/// and the seconds.
async fn admissions(
    base: &str,
    key: Option<&str>,
    length: Duration,
) -> anyhow::Result<(usize, f64)> {
    let began = Instant::now();
    let tasks: Vec<_> = (0..ADMITTERS)
        .map(|n| {
            let url = format!("{base}/api/generate");
            let http = client(key);
            tokio::spawn(async move {
                let http = http?;
                let mut count = 0usize;
                while began.elapsed() < length {
                    let body = json!({"prompt": format!("15s sneakers, take {n}.{count}")});
                    let answer = http.post(&url).json(&body).send().await?;
                    anyhow::ensure!(answer.status() == 200, "admission: {}", answer.status());
                    count += 1;
                }
                anyhow::Ok(count)
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += task.await??;
    }
    Ok((admitted, began.elapsed().as_secs_f64()))
}

/// GETs the video's status from [`CONNECTIONS`] connections (sending `key`) for `seconds`;
/// returns each request's latency in ms, and the seconds.
async fn status_load(
    base: &str,
    id: &str,
    key: Option<&str>,
    seconds: u64,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let length = Duration::from_secs(seconds);
    let began = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let url = format!("{base}/api/status/{id}");
            let http = client(key);
            tokio::spawn(async move {
                let http = http?;
                let mut latencies = Vec::new();
                while began.elapsed() < length {
                    let sent = Instant::now();
                    let answer = http.get(&url).send().await?;
                    anyhow::ensure!(answer.status() == 200, "status: {}", answer.status());
                    answer.bytes().await?;
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok((latencies, began.elapsed().as_secs_f64()))
}

/// A memory figure of /proc/<pid>/status (VmRSS now, VmHWM the peak), in MiB.
fn memory(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .with_context(|| format!("{field} in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}
