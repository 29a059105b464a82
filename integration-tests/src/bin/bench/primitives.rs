//! The engine's primitives against DBOS Transact's Rust SDK, on the same PostgreSQL: a signal,
//! from `signal()` returning to the next step starting (DBOS: from `send()` returning to `recv()`
//! returning); a fork of a completed 5-step no-op run at its 4th step, from the call to the
//! fork's completion (DBOS: `fork` at the same step, to its result); and a fan-out of 1000 no-op
//! children, from the fan-out to the step resuming with their results (DBOS: a parent that
//! enqueues 1000 child workflows on a queue and awaits them).

use std::time::Duration;

use serde_json::Value;
use slate_engine::{
    Engine, ForkOptions, RunId, RunState, StartOptions, Step, StepContext, StepError, Wait,
    WorkerConfig, Workflow,
};
use slate_integration_tests::{database::TestDatabase, probe};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{listen, peers::Peer, percentile, wide_worker, Report};

/// Untimed runs before the timed ones, on every side.
const WARM_UP: usize = 20;
/// Forks timed on DBOS, each of which takes about a second there.
const DBOS_FORKS: usize = 30;
/// Children of each timed fan-out.
const FAN_OUT: usize = 1000;

pub async fn measure(report: &mut Report, samples: usize, dbos: &Peer) -> anyhow::Result<()> {
    let signal = signal_latencies(samples).await?;
    let fork = fork_latencies(samples).await?;
    let peer = |mode: &str, samples: usize| {
        let args = [mode.to_owned(), samples.to_string()];
        async move {
            match dbos.missing() {
                Some(missing) => Ok(Err(missing)),
                None => dbos.run(&args).await.map(Ok),
            }
        }
    };
    let against = |figures: Result<Value, String>, ours: f64| match figures {
        Ok(f) => {
            let (p50, p99) = (f["p50_ms"].as_f64(), f["p99_ms"].as_f64());
            let (p50, p99) = (p50.unwrap_or(f64::NAN), p99.unwrap_or(f64::NAN));
            format!(
                "; {}: p50 {p50:.2} ms, p99 {p99:.2} ms (Slate's p50 x{:.3})",
                dbos.name,
                ours / p50
            )
        }
        Err(missing) => format!("; {missing}"),
    };
    let (p50, p99) = (percentile(&signal, 0.5), percentile(&signal, 0.99));
    let dbos_signal = against(peer("signal", samples).await?, p50);
    report.line(format!(
        "signal: p50 {p50:.2} ms, p99 {p99:.2} ms ({samples} signals to waiting runs, from \
         `signal()` returning to the next step starting, on a worker in the same process){dbos_signal}"
    ));
    let (p50, p99) = (percentile(&fork, 0.5), percentile(&fork, 0.99));
    let fanned = fan_out_rates(FAN_OUT).await?;
    let dbos_fork = against(peer("fork", DBOS_FORKS).await?, p50);
    report.line(format!(
        "fork: p50 {p50:.2} ms, p99 {p99:.2} ms ({samples} forks of a completed 5-step no-op run \
         at its 4th step: steps 1-3 shared, 4-5 run; from the call to the fork's \
         completion){dbos_fork} ({DBOS_FORKS} forks: DBOS queues a fork and polls for its \
         outcome, each once a second by default, which its figure shows)"
    ));
    let rate = percentile(&fanned, 0.5);
    let dbos_fan_out = match dbos.missing() {
        Some(missing) => format!("; {missing}"),
        None => {
            let figures = dbos
                .run(&["fanout".to_owned(), FAN_OUT.to_string()])
                .await?;
            let theirs = figures["children_per_second"].as_f64().unwrap_or(f64::NAN);
            format!(
                "; {}: {theirs:.0} children/s (its parent enqueues them on a queue and awaits \
                 them; Slate x{:.1})",
                dbos.name,
                rate / theirs
            )
        }
    };
    report.line(format!(
        "fan-out: {rate:.0} children/s (median of {} fan-outs of {FAN_OUT} no-op children, each \
         {}; from the step's fan-out to its resuming with every result, on one worker of 512 \
         slots){dbos_fan_out}",
        fanned.len(),
        fanned
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    ));
    Ok(())
}

/// Milliseconds from `signal()` returning to the step after the wait starting, in `samples`
/// runs that each wait for one signal.
async fn signal_latencies(samples: usize) -> anyhow::Result<Vec<f64>> {
    let (resumed, mut resumptions) = mpsc::unbounded_channel();
    let flow = Workflow::builder("bench-signal", 1)
        .signal("go")
        .step(Step::new("park", |ctx: StepContext, n: u64| async move {
            ctx.wait_for(Wait::for_signal("go"));
            Ok::<_, StepError>(n)
        }))
        .step(Step::new("act", move |_: StepContext, n: u64| {
            let _ = resumed.send(Instant::now());
            async move { Ok::<_, StepError>(n) }
        }))
        .build();
    let db = TestDatabase::with_pool_size(32).await;
    let engine = Engine::builder(db.pool.clone()).register(&flow).build();
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(engine.worker(WorkerConfig::default()).run(shutdown.clone()));
    let mut latencies = Vec::with_capacity(samples);
    for n in 0..WARM_UP + samples {
        let run = engine
            .start(&flow, &(n as u64), StartOptions::default())
            .await?;
        until_state(&engine, run.run_id, RunState::Waiting).await?;
        engine.signal(run.run_id, "go", &n, None).await?;
        let sent = Instant::now();
        let started = resumptions.recv().await.expect("the worker runs");
        if n >= WARM_UP {
            latencies.push((started - sent).as_secs_f64() * 1000.0);
        }
    }
    shutdown.cancel();
    worker.await??;
    db.drop().await;
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Milliseconds from the call that forks a completed 5-step no-op run at its 4th step to the
/// fork's completion, in `samples` forks.
async fn fork_latencies(samples: usize) -> anyhow::Result<Vec<f64>> {
    let noop = probe::noop();
    let db = TestDatabase::with_pool_size(32).await;
    let engine = Engine::builder(db.pool.clone()).register(&noop).build();
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(engine.worker(WorkerConfig::default()).run(shutdown.clone()));
    let mut finished = listen(engine.pool()).await?;
    let mut latencies = Vec::with_capacity(samples);
    for n in 0..WARM_UP + samples {
        let parent = engine
            .start(&noop, &(n as u64), StartOptions::default())
            .await?;
        let wanted = parent.run_id.to_string();
        while finished.recv().await?.payload() != wanted {}
        let called = Instant::now();
        let fork = engine
            .fork(parent.run_id, probe::STEPS[3], ForkOptions::default())
            .await?;
        let wanted = fork.run_id.to_string();
        while finished.recv().await?.payload() != wanted {}
        if n >= WARM_UP {
            latencies.push(called.elapsed().as_secs_f64() * 1000.0);
        }
    }
    shutdown.cancel();
    worker.await??;
    db.drop().await;
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Children per second of three fan-outs of `children` no-op children (after an untimed one of
/// 10): `children` over the time from the step's fan-out to its resuming.
async fn fan_out_rates(children: usize) -> anyhow::Result<Vec<f64>> {
    let (ran, mut runs) = mpsc::unbounded_channel();
    let flow = Workflow::builder("bench-fan", 1)
        .child(Step::new("noop", |_: StepContext, n: u64| async move {
            Ok::<_, StepError>(n)
        }))
        .step(Step::new("spread", move |ctx: StepContext, n: u64| {
            let _ = ran.send(Instant::now());
            async move {
                let children = (0..n).map(|i| (i.to_string(), i)).collect();
                let results: Vec<u64> = ctx.fan_out("noop", children).await?;
                Ok::<_, StepError>(results.len() as u64)
            }
        }))
        .build();
    let db = TestDatabase::with_pool_size(32).await;
    let engine = Engine::builder(db.pool.clone()).register(&flow).build();
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(engine.worker(wide_worker()).run(shutdown.clone()));
    let mut finished = listen(engine.pool()).await?;
    let mut rates = Vec::new();
    for n in [10, children, children, children] {
        let run = engine
            .start(&flow, &(n as u64), StartOptions::default())
            .await?;
        let wanted = run.run_id.to_string();
        while finished.recv().await?.payload() != wanted {}
        let fanned_out = runs.recv().await.expect("the step ran");
        let resumed = runs.recv().await.expect("the step ran again");
        if n == children {
            rates.push(n as f64 / (resumed - fanned_out).as_secs_f64());
        }
    }
    shutdown.cancel();
    worker.await??;
    db.drop().await;
    rates.sort_by(f64::total_cmp);
    Ok(rates)
}

async fn until_state(engine: &Engine, run: RunId, state: RunState) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let summary = engine.run(run).await?;
        if summary.is_some_and(|s| s.state == state) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "run {run} never became {state}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
