//! The peer in the same run: the 5-step no-op workflow on DBOS Transact's Rust SDK
//! (`integration-tests/peers/dbos-rust`, built by `make bench` only), against a fresh database of
//! the same PostgreSQL, and the ratios of Slate's figures to its.

use anyhow::Context;
use serde::Deserialize;
use slate_integration_tests::database::TestDatabase;

use crate::Report;

/// What a benchmark of the 5-step no-op workflow measured.
#[derive(Debug, Deserialize)]
pub struct Figures {
    pub runs_per_second: f64,
    pub burst_p50_ms: f64,
    pub burst_p99_ms: f64,
    pub lone_p50_ms: f64,
    pub lone_p99_ms: f64,
}

const DBOS_RUST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/peers/dbos-rust/target/release/dbos-peer-bench"
);

pub async fn compare(
    report: &mut Report,
    slate: &Figures,
    runs: usize,
    lone: usize,
) -> anyhow::Result<()> {
    if !std::path::Path::new(DBOS_RUST).exists() {
        report.line(format!(
            "DBOS Transact (Rust): not measured ({DBOS_RUST} is missing; `make bench` builds it)"
        ));
        return Ok(());
    }
    let db = TestDatabase::new().await;
    let out = tokio::process::Command::new(DBOS_RUST)
        .args([runs.to_string(), lone.to_string()])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "error")
        .output()
        .await
        .context("run the DBOS benchmark")?;
    anyhow::ensure!(
        out.status.success(),
        "the DBOS benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dbos: Figures = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .rfind(|line| line.starts_with(b"{"))
            .context("the DBOS benchmark's figures")?,
    )?;
    db.drop().await;
    report.line(format!(
        "DBOS Transact 0.5 (Rust SDK), same workflow and PostgreSQL: {:.0} runs/s ({runs} runs \
         started at once; each done p50 {:.0} ms, p99 {:.0} ms); lone run p50 {:.2} ms, p99 \
         {:.2} ms",
        dbos.runs_per_second,
        dbos.burst_p50_ms,
        dbos.burst_p99_ms,
        dbos.lone_p50_ms,
        dbos.lone_p99_ms
    ));
    report.line(format!(
        "Slate / DBOS (Rust), the starts included on both sides: throughput x{:.1}; lone run \
         latency p50 x{:.2}, p99 x{:.2}; latency under the burst p50 x{:.2}, p99 x{:.2} (below 1 \
         is faster)",
        slate.runs_per_second / dbos.runs_per_second,
        slate.lone_p50_ms / dbos.lone_p50_ms,
        slate.lone_p99_ms / dbos.lone_p99_ms,
        slate.burst_p50_ms / dbos.burst_p50_ms,
        slate.burst_p99_ms / dbos.burst_p99_ms
    ));
    Ok(())
}
