//! The peer of Slate's engine benchmark on DBOS Transact (Rust SDK): a workflow of five no-op
//! steps, run alone (latency from start to result, after untimed warm-up runs) and in a burst
//! (runs/s), against the database at DATABASE_URL. Prints one JSON line with the figures.

use std::time::Instant;

use dbos::{Config, DBOS};

async fn five_steps(n: u64) -> dbos::Result<u64> {
    let mut value = n;
    for name in ["one", "two", "three", "four", "five"] {
        value = dbos::step(name, move || async move { Ok::<u64, dbos::Error>(value) }).await?;
    }
    Ok(value)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() -> dbos::Result<()> {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut args = std::env::args().skip(1);
    let burst: usize = args.next().map_or(2000, |a| a.parse().expect("runs"));
    let lone: usize = args.next().map_or(1000, |a| a.parse().expect("lone runs"));
    let warm_up: usize = args.next().map_or(20, |a| a.parse().expect("warm-up runs"));
    let dbos = DBOS::new(Config {
        app_version: Some("1".into()),
        max_connections: 32,
        ..Config::new("slate-peer-bench", url)
    });
    let workflow = dbos.register_workflow("five_steps", five_steps)?;
    dbos.launch().await?;

    for n in 0..warm_up {
        workflow.run(n as u64).await?;
    }
    let mut latencies = Vec::with_capacity(lone);
    for n in 0..lone {
        let began = Instant::now();
        workflow.run(n as u64).await?;
        latencies.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);

    let began = Instant::now();
    let runs: Vec<_> = (0..burst)
        .map(|n| {
            let workflow = workflow.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                workflow.run(n as u64).await.map(|_| started.elapsed())
            })
        })
        .collect();
    let mut burst_latencies = Vec::with_capacity(burst);
    for run in runs {
        burst_latencies.push(run.await.expect("a run's task")?.as_secs_f64() * 1000.0);
    }
    let elapsed = began.elapsed().as_secs_f64();
    burst_latencies.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "runs_per_second": burst as f64 / elapsed,
            "burst_runs": burst,
            "burst_p50_ms": percentile(&burst_latencies, 0.5),
            "burst_p99_ms": percentile(&burst_latencies, 0.99),
            "lone_p50_ms": percentile(&latencies, 0.5),
            "lone_p99_ms": percentile(&latencies, 0.99),
        })
    );
    dbos.shutdown().await;
    Ok(())
}
