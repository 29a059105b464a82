//! The peers in the same run: the 5-step no-op workflow on DBOS Transact, with its Rust SDK
//! (`integration-tests/peers/dbos-rust`) and its Python SDK (`integration-tests/peers/dbos-python`,
//! in the git-ignored .venv), each against a fresh database of the same PostgreSQL, and the ratios
//! of Slate's figures to theirs. `make bench` builds and installs both; `make test` never does.

use std::path::PathBuf;

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

struct Peer {
    name: &'static str,
    program: PathBuf,
    /// Arguments before the counts of the burst's, the lone and the warm-up runs.
    args: Vec<String>,
}

fn peers() -> [Peer; 2] {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        Peer {
            name: "DBOS Transact 0.5, Rust SDK",
            program: root.join("peers/dbos-rust/target/release/dbos-peer-bench"),
            args: Vec::new(),
        },
        Peer {
            name: "DBOS Transact 3.4, Python SDK",
            program: root.join("../.venv/bin/python"),
            args: vec![root
                .join("peers/dbos-python/bench.py")
                .to_string_lossy()
                .into_owned()],
        },
    ]
}

pub async fn compare(
    report: &mut Report,
    slate: &Figures,
    counts: [usize; 3],
) -> anyhow::Result<()> {
    for peer in peers() {
        if !peer.program.exists() {
            report.line(format!(
                "{}: not measured ({} is missing; `make bench` provides it)",
                peer.name,
                peer.program.display()
            ));
            continue;
        }
        let db = TestDatabase::new().await;
        let out = tokio::process::Command::new(&peer.program)
            .args(&peer.args)
            .args(counts.map(|count| count.to_string()))
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "error")
            .output()
            .await
            .with_context(|| format!("run the {} benchmark", peer.name))?;
        db.drop().await;
        anyhow::ensure!(
            out.status.success(),
            "the {} benchmark failed: {}",
            peer.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let peer_figures: Figures = serde_json::from_slice(
            out.stdout
                .split(|b| *b == b'\n')
                .rfind(|line| line.starts_with(b"{"))
                .with_context(|| format!("the {} benchmark's figures", peer.name))?,
        )?;
        report.line(format!(
            "{}, same workflow and PostgreSQL: {:.0} runs/s ({} runs started at once; each \
             done p50 {:.0} ms, p99 {:.0} ms); lone run p50 {:.2} ms, p99 {:.2} ms",
            peer.name,
            peer_figures.runs_per_second,
            counts[0],
            peer_figures.burst_p50_ms,
            peer_figures.burst_p99_ms,
            peer_figures.lone_p50_ms,
            peer_figures.lone_p99_ms
        ));
        report.line(format!(
            "Slate / {}, timed from the first start on both sides: throughput x{:.1}; lone run \
             latency p50 x{:.2}, p99 x{:.2}; latency under the burst p50 x{:.2}, p99 x{:.2} \
             (below 1 is faster)",
            peer.name,
            slate.runs_per_second / peer_figures.runs_per_second,
            slate.lone_p50_ms / peer_figures.lone_p50_ms,
            slate.lone_p99_ms / peer_figures.lone_p99_ms,
            slate.burst_p50_ms / peer_figures.burst_p50_ms,
            slate.burst_p99_ms / peer_figures.burst_p99_ms
        ));
    }
    Ok(())
}
