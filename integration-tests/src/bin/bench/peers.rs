//! The peers in the same run: the 5-step no-op workflow on DBOS Transact, with its Rust SDK
//! (`integration-tests/peers/dbos-rust`) and its Python SDK (`integration-tests/peers/dbos-python`,
//! in the git-ignored .venv), each against a fresh database of the same PostgreSQL. `make bench`
//! builds and installs both; `make test` never does.

use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;
use slate_integration_tests::database::TestDatabase;

use crate::percentile;

/// What a benchmark of the 5-step no-op workflow measured.
#[derive(Debug, Clone, Deserialize)]
pub struct Figures {
    pub runs_per_second: f64,
    pub burst_p50_ms: f64,
    pub burst_p99_ms: f64,
    pub lone_p50_ms: f64,
    pub lone_p99_ms: f64,
}

impl Figures {
    /// Each figure's median over `rounds`.
    pub fn median(rounds: &[Figures]) -> Figures {
        let of = |figure: fn(&Figures) -> f64| {
            let mut values: Vec<f64> = rounds.iter().map(figure).collect();
            values.sort_by(f64::total_cmp);
            percentile(&values, 0.5)
        };
        Figures {
            runs_per_second: of(|f| f.runs_per_second),
            burst_p50_ms: of(|f| f.burst_p50_ms),
            burst_p99_ms: of(|f| f.burst_p99_ms),
            lone_p50_ms: of(|f| f.lone_p50_ms),
            lone_p99_ms: of(|f| f.lone_p99_ms),
        }
    }
}

pub struct Peer {
    pub name: &'static str,
    program: PathBuf,
    /// Arguments before the counts of the burst's, the lone and the warm-up runs.
    args: Vec<String>,
}

pub fn dbos_rust() -> Peer {
    Peer {
        name: "DBOS Transact 0.5, Rust SDK",
        program: root().join("peers/dbos-rust/target/release/dbos-peer-bench"),
        args: Vec::new(),
    }
}

pub fn dbos_python() -> Peer {
    Peer {
        name: "DBOS Transact 3.4, Python SDK",
        program: root().join("../.venv/bin/python"),
        args: vec![root()
            .join("peers/dbos-python/bench.py")
            .to_string_lossy()
            .into_owned()],
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Peer {
    /// Why the peer cannot be measured here, if it cannot.
    pub fn missing(&self) -> Option<String> {
        (!self.program.exists()).then(|| {
            format!(
                "{}: not measured ({} is missing; `make bench` provides it)",
                self.name,
                self.program
                    .strip_prefix(root().join(".."))
                    .unwrap_or(&self.program)
                    .display()
            )
        })
    }

    /// One round of the peer's benchmark, with `counts` (the burst's, the lone and the warm-up
    /// runs), on a fresh database.
    pub async fn measure(&self, counts: [usize; 3]) -> anyhow::Result<Figures> {
        let args = counts.map(|count| count.to_string());
        Ok(serde_json::from_value(self.run(&args).await?)?)
    }

    /// The peer's program with `args` on a fresh database; returns the JSON line it printed
    /// last.
    pub async fn run(&self, args: &[String]) -> anyhow::Result<serde_json::Value> {
        let db = TestDatabase::new().await;
        let out = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "error")
            .output()
            .await
            .with_context(|| format!("run the {} benchmark", self.name))?;
        db.drop().await;
        anyhow::ensure!(
            out.status.success(),
            "the {} benchmark failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_slice(
            out.stdout
                .split(|b| *b == b'\n')
                .rfind(|line| line.starts_with(b"{"))
                .with_context(|| format!("the {} benchmark's figures", self.name))?,
        )?)
    }

    /// The report's lines on `rounds` of this peer: its figures (medians when several), and the
    /// ratios of `slate`'s to them.
    pub fn lines(&self, rounds: &[Figures], slate: &Figures, runs: usize) -> [String; 2] {
        let peer = Figures::median(rounds);
        let each = if rounds.len() > 1 {
            format!(
                "; medians of {} rounds, throughput in each {}",
                rounds.len(),
                per_round(rounds, |f| format!("{:.0}", f.runs_per_second))
            )
        } else {
            String::new()
        };
        [
            format!(
                "{}, same workflow and PostgreSQL: {:.0} runs/s ({runs} runs started at once; each \
                 done p50 {:.0} ms, p99 {:.0} ms); lone run p50 {:.2} ms, p99 {:.2} ms{each}",
                self.name,
                peer.runs_per_second,
                peer.burst_p50_ms,
                peer.burst_p99_ms,
                peer.lone_p50_ms,
                peer.lone_p99_ms
            ),
            format!(
                "Slate / {}, timed from the first start on both sides: throughput x{:.1}; lone \
                 run latency p50 x{:.2}, p99 x{:.2}; latency under the burst p50 x{:.2}, p99 \
                 x{:.2} (below 1 is faster)",
                self.name,
                slate.runs_per_second / peer.runs_per_second,
                slate.lone_p50_ms / peer.lone_p50_ms,
                slate.lone_p99_ms / peer.lone_p99_ms,
                slate.burst_p50_ms / peer.burst_p50_ms,
                slate.burst_p99_ms / peer.burst_p99_ms
            ),
        ]
    }
}

/// Each round's figure, as `a / b / c`.
pub fn per_round(rounds: &[Figures], figure: impl Fn(&Figures) -> String) -> String {
    rounds.iter().map(figure).collect::<Vec<_>>().join(" / ")
}
