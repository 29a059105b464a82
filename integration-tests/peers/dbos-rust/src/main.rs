//! The peer of Slate's engine benchmark on DBOS Transact (Rust SDK), against the database at
//! DATABASE_URL. Every mode prints one JSON line of figures on stdout.
//!
//! - `[burst [lone [warm_up]]]` (no mode word; defaults 2000, 1000 and 20): a workflow of five
//!   no-op steps, run alone (latency from start to result, after `warm_up` untimed runs) and in a
//!   burst (runs/s). Prints `runs_per_second`, `burst_runs`, `burst_p50_ms`, `burst_p99_ms`,
//!   `lone_p50_ms` and `lone_p99_ms`.
//! - `signal [N]` (default 1000): the latency of a message. A workflow publishes a readiness event
//!   and then blocks in `recv`; once it is known to be waiting there, the main task sends it a
//!   message, and the latency is from `send` returning to `recv` returning inside the workflow.
//!   N timed runs after 20 untimed ones. Prints `mode`, `runs`, `p50_ms` and `p99_ms`.
//! - `fork [N]` (default 100): a workflow of five no-op steps is run to completion and then forked
//!   at its 4th step, so steps 1-3 replay from the checkpoints copied to the fork and steps 4-5 run
//!   again. The latency is from just before the fork call to the fork's result. N timed samples
//!   after 20 untimed ones. Prints `mode`, `runs`, `p50_ms` and `p99_ms`. DBOS enqueues a fork on
//!   its internal queue and hands back a handle that polls for the outcome, so both polling
//!   intervals (DBOS's defaults, 1 s each) are part of the figure.
//! - `fanout [N]` (default 1000): a parent workflow enqueues N no-op children on a queue with no
//!   limits and takes all their results; the time is measured inside the parent, from just before
//!   its first enqueue to its last result in hand. One untimed warm-up with 10 children, then 3
//!   timed repetitions. Prints `mode`, `children`, `children_per_second` (the median of the 3) and
//!   `seconds` (each repetition's, in order).

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dbos::sysdb::types::step_names;
use dbos::{
    Config, EngineOnly, Enqueue, ForkFrom, QueueConflict, QueueOptions, SendOptions, StartOptions,
    WorkflowRef, DBOS,
};
use serde_json::{json, Value};

/// Untimed runs before the timed ones, in the `signal` and `fork` modes.
const WARM_UP: usize = 20;
/// The event a waiter publishes just before it calls `recv`.
const READY_KEY: &str = "ready";
/// The topic the `signal` mode's messages travel on.
const SIGNAL_TOPIC: &str = "signal";
/// How long a waiter waits for its message, and the main task for a waiter to get ready:
/// generous, since neither should come anywhere near it.
const PATIENCE: Duration = Duration::from_secs(60);
/// A pause, outside the timed window, between seeing a waiter's receive reach its wait and sending
/// to it: long enough for the receive's first look for a message to have finished, so that the
/// message is always delivered by waking the waiter rather than found by that first look.
const SETTLE: Duration = Duration::from_millis(5);
/// Where the `fork` mode's forks pick up. DBOS numbers a workflow's steps from zero (step 1 is
/// id 0) and a fork copies every step whose id is below this, so 3 carries steps 1-3 (ids 0-2)
/// across and runs steps 4 and 5 (ids 3 and 4) again.
const FORK_FROM_STEP: i32 = 3;
/// The queue the `fanout` mode's children are enqueued on.
const FANOUT_QUEUE: &str = "fanout";
/// Children in the `fanout` mode's untimed warm-up.
const FANOUT_WARM_UP_CHILDREN: u64 = 10;
/// Timed repetitions in the `fanout` mode.
const FANOUT_REPETITIONS: usize = 3;

/// When the last waiter's `recv` returned, stamped inside the workflow and read by the main task
/// once the workflow has finished. Only one waiter runs at a time.
static RECEIVED_AT: Mutex<Option<Instant>> = Mutex::new(None);
/// How many step bodies of `counted_five_steps` have run since the main task last reset it, which
/// is how the `fork` mode checks that a fork runs steps 4 and 5 and nothing else.
static STEP_BODIES_RUN: AtomicUsize = AtomicUsize::new(0);

async fn five_steps(n: u64) -> dbos::Result<u64> {
    let mut value = n;
    for name in ["one", "two", "three", "four", "five"] {
        value = dbos::step(name, move || async move { Ok::<u64, dbos::Error>(value) }).await?;
    }
    Ok(value)
}

/// `five_steps` with each step body counted in `STEP_BODIES_RUN`: the `fork` mode's workflow.
/// A separate workflow so that the default mode's stays exactly as it was.
async fn counted_five_steps(n: u64) -> dbos::Result<u64> {
    let mut value = n;
    for name in ["one", "two", "three", "four", "five"] {
        value = dbos::step(name, move || async move {
            STEP_BODIES_RUN.fetch_add(1, Ordering::SeqCst);
            Ok::<u64, dbos::Error>(value)
        })
        .await?;
    }
    Ok(value)
}

/// The `signal` mode's workflow: says it is ready, receives one message on `SIGNAL_TOPIC`, stamps
/// the moment `recv` returned in `RECEIVED_AT`, and returns the message (`None` on a timeout,
/// which stamps nothing).
async fn waiter(_: ()) -> dbos::Result<Option<u64>> {
    dbos::set_event::<_, EngineOnly>(READY_KEY, &true).await?;
    let message = dbos::recv::<u64, EngineOnly>(Some(SIGNAL_TOPIC), PATIENCE).await?;
    let received_at = Instant::now();
    if message.is_some() {
        *RECEIVED_AT.lock().expect("the receipt stamp is poisoned") = Some(received_at);
    }
    Ok(message)
}

/// The `fanout` mode's child: returns its input.
async fn fanout_child(n: u64) -> dbos::Result<u64> {
    Ok(n)
}

/// The `fanout` mode's parent: enqueues `n` children on `FANOUT_QUEUE`, waits until all of them
/// have finished, and takes each one's result. Returns the seconds that took and the sum of the
/// results.
///
/// The time is measured here, inside the parent, from just before the first enqueue to the last
/// result in hand. (A wall-clock reading in a workflow body would be wrong on a replay; nothing
/// replays here.) The enqueues are awaited one at a time, the plain fan-out the SDK documents at
/// `WorkflowRef::start_with`; `join_workflows` then waits for the whole set with one query per
/// polling interval, after which each `result` answers without waiting.
async fn fan_out(child: WorkflowRef<u64, u64>, n: u64) -> dbos::Result<(f64, u64)> {
    let began = Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        let options = StartOptions {
            queue: Some(Enqueue::new(FANOUT_QUEUE)),
            ..StartOptions::default()
        };
        handles.push(child.start_with(i, options).await?);
    }
    {
        let ids: Vec<&str> = handles.iter().map(|handle| handle.workflow_id()).collect();
        dbos::join_workflows::<EngineOnly>(&ids).await?;
    }
    let mut total = 0u64;
    for handle in handles {
        total += handle.result().await?;
    }
    Ok((began.elapsed().as_secs_f64(), total))
}

/// Every workflow this program runs, registered.
struct Workflows {
    five_steps: WorkflowRef<u64, u64>,
    counted_five_steps: WorkflowRef<u64, u64>,
    waiter: WorkflowRef<(), Option<u64>>,
    fanout_parent: WorkflowRef<u64, (f64, u64)>,
}

/// Registers every workflow, whatever the mode: registration has to precede `launch`, and
/// `launch` recovers whatever a previous run of this program left pending, which needs the
/// workflow it belongs to.
fn register(dbos: &DBOS) -> dbos::Result<Workflows> {
    let child = dbos.register_workflow("fanout_child", fanout_child)?;
    Ok(Workflows {
        five_steps: dbos.register_workflow("five_steps", five_steps)?,
        counted_five_steps: dbos.register_workflow("counted_five_steps", counted_five_steps)?,
        waiter: dbos.register_workflow("waiter", waiter)?,
        // The parent holds a reference to the child's registration to start it with, which the
        // SDK documents as keeping the instance alive for the life of the process: harmless here.
        fanout_parent: dbos
            .register_workflow("fanout_parent", move |n: u64| fan_out(child.clone(), n))?,
    })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The `signal` and `fork` modes' line: the mode, the number of samples, and their p50 and p99.
fn latency_figures(mode: &str, mut latencies: Vec<f64>) -> Value {
    latencies.sort_by(f64::total_cmp);
    json!({
        "mode": mode,
        "runs": latencies.len(),
        "p50_ms": percentile(&latencies, 0.5),
        "p99_ms": percentile(&latencies, 0.99),
    })
}

/// The default mode: the five-step workflow alone and in a burst.
async fn burst_and_lone(
    workflow: &WorkflowRef<u64, u64>,
    burst: usize,
    lone: usize,
    warm_up: usize,
) -> dbos::Result<Value> {
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
    Ok(json!({
        "runs_per_second": burst as f64 / elapsed,
        "burst_runs": burst,
        "burst_p50_ms": percentile(&burst_latencies, 0.5),
        "burst_p99_ms": percentile(&burst_latencies, 0.99),
        "lone_p50_ms": percentile(&latencies, 0.5),
        "lone_p99_ms": percentile(&latencies, 0.99),
    }))
}

/// Waits until the waiter `workflow_id` is blocked in `recv`.
///
/// First for the readiness event it publishes just before calling `recv`; then for the checkpoint
/// of the receive's deadline, a `DBOS.sleep` step, which `recv` writes after subscribing to its
/// wake-up and immediately before its first look for a message; then `SETTLE`, for that look to
/// finish.
async fn wait_until_receiving(dbos: &DBOS, workflow_id: &str) -> dbos::Result<()> {
    let ready = dbos
        .get_event::<bool>(workflow_id, READY_KEY, PATIENCE)
        .await?;
    assert_eq!(
        ready,
        Some(true),
        "the waiter {workflow_id} never got ready"
    );
    let deadline = Instant::now() + PATIENCE;
    while !dbos
        .list_workflow_steps(workflow_id)
        .await?
        .iter()
        .any(|step| step.step_name == step_names::SLEEP)
    {
        assert!(
            Instant::now() < deadline,
            "the waiter {workflow_id} never reached its receive"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(SETTLE).await;
    Ok(())
}

/// The `signal` mode: from `send` returning to `recv` returning inside a waiting workflow.
async fn signal(
    dbos: &DBOS,
    waiter: &WorkflowRef<(), Option<u64>>,
    runs: usize,
) -> dbos::Result<Value> {
    let mut latencies = Vec::with_capacity(runs);
    for run in 0..WARM_UP + runs {
        let handle = waiter.start(()).await?;
        let workflow_id = handle.workflow_id().to_owned();
        wait_until_receiving(dbos, &workflow_id).await?;

        let message = run as u64;
        let options = SendOptions {
            topic: Some(SIGNAL_TOPIC),
            ..SendOptions::default()
        };
        dbos.send_with(&workflow_id, &message, options).await?;
        let sent_at = Instant::now();

        // The waiter stamps its receipt before it returns, so it is there once the result is.
        let received = handle.result().await?;
        assert_eq!(
            received,
            Some(message),
            "the waiter {workflow_id} got the wrong message"
        );
        let received_at = RECEIVED_AT
            .lock()
            .expect("the receipt stamp is poisoned")
            .take()
            .expect("the waiter finished without stamping its receipt");
        if run >= WARM_UP {
            // Saturates at zero should the waiter's clock reading beat the main task's.
            let latency = received_at.saturating_duration_since(sent_at);
            latencies.push(latency.as_secs_f64() * 1000.0);
        }
    }
    Ok(latency_figures("signal", latencies))
}

/// The `fork` mode: a completed five-step run forked at its 4th step, from the call to the fork's
/// result.
async fn fork(dbos: &DBOS, workflow: &WorkflowRef<u64, u64>, runs: usize) -> dbos::Result<Value> {
    let mut latencies = Vec::with_capacity(runs);
    for sample in 0..WARM_UP + runs {
        let input = sample as u64;
        let source = workflow.start(input).await?;
        let source_id = source.workflow_id().to_owned();
        source.result().await?;

        STEP_BODIES_RUN.store(0, Ordering::SeqCst);
        let began = Instant::now();
        let forked = dbos
            .fork::<u64, EngineOnly>(&source_id, ForkFrom::Step(FORK_FROM_STEP))
            .await?;
        let output = forked.result().await?;
        let elapsed = began.elapsed();

        assert_eq!(
            output, input,
            "the fork of {source_id} returned the wrong value"
        );
        assert_eq!(
            STEP_BODIES_RUN.load(Ordering::SeqCst),
            2,
            "the fork of {source_id} should have run steps 4 and 5 and nothing else"
        );
        if sample >= WARM_UP {
            latencies.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    Ok(latency_figures("fork", latencies))
}

/// One run of the `fanout` mode's parent over `children` children, in the seconds the parent
/// measured.
async fn fan_out_once(parent: &WorkflowRef<u64, (f64, u64)>, children: u64) -> dbos::Result<f64> {
    let (seconds, total) = parent.run(children).await?;
    assert_eq!(
        total,
        children * children.saturating_sub(1) / 2,
        "the parent's children returned the wrong values"
    );
    Ok(seconds)
}

/// The `fanout` mode: a parent enqueueing `children` children and taking all their results.
async fn fanout(
    dbos: &DBOS,
    parent: &WorkflowRef<u64, (f64, u64)>,
    children: u64,
) -> dbos::Result<Value> {
    // A queue is a row rather than a registration, so it is declared after `launch`. The default
    // options set no concurrency or rate limit, so every waiting child may run at once; the
    // polling interval stays DBOS's default. The dequeue loop starts polling a new queue at its
    // next sweep, which the warm-up absorbs.
    dbos.register_queue(
        FANOUT_QUEUE,
        QueueOptions::default(),
        QueueConflict::AlwaysUpdate,
    )
    .await?;
    fan_out_once(parent, FANOUT_WARM_UP_CHILDREN).await?;

    let mut seconds = Vec::with_capacity(FANOUT_REPETITIONS);
    for _ in 0..FANOUT_REPETITIONS {
        seconds.push(fan_out_once(parent, children).await?);
    }
    let mut rates: Vec<f64> = seconds.iter().map(|s| children as f64 / s).collect();
    rates.sort_by(f64::total_cmp);
    Ok(json!({
        "mode": "fanout",
        "children": children,
        "children_per_second": percentile(&rates, 0.5),
        "seconds": seconds,
    }))
}

/// What the command line asked for.
enum Mode {
    Burst {
        burst: usize,
        lone: usize,
        warm_up: usize,
    },
    Signal {
        runs: usize,
    },
    Fork {
        runs: usize,
    },
    Fanout {
        children: u64,
    },
}

/// A count from the command line, or `default` when it is absent.
fn count<T>(arg: Option<String>, default: T, what: &str) -> T
where
    T: FromStr,
    T::Err: std::fmt::Debug,
{
    arg.map_or(default, |a| a.parse().expect(what))
}

fn parse_mode() -> Mode {
    let mut args = std::env::args().skip(1).peekable();
    let word = args.peek().cloned();
    match word.as_deref() {
        Some("signal") => {
            args.next();
            Mode::Signal {
                runs: count(args.next(), 1000, "signal runs"),
            }
        }
        Some("fork") => {
            args.next();
            Mode::Fork {
                runs: count(args.next(), 100, "fork runs"),
            }
        }
        Some("fanout") => {
            args.next();
            Mode::Fanout {
                children: count(args.next(), 1000, "fanout children"),
            }
        }
        // No mode word: the positional counts of the default mode, as they always were.
        _ => Mode::Burst {
            burst: count(args.next(), 2000, "runs"),
            lone: count(args.next(), 1000, "lone runs"),
            warm_up: count(args.next(), 20, "warm-up runs"),
        },
    }
}

#[tokio::main]
async fn main() -> dbos::Result<()> {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mode = parse_mode();
    let dbos = DBOS::new(Config {
        app_version: Some("1".into()),
        max_connections: 32,
        ..Config::new("slate-peer-bench", url)
    });
    let workflows = register(&dbos)?;
    dbos.launch().await?;

    let figures = match mode {
        Mode::Burst {
            burst,
            lone,
            warm_up,
        } => burst_and_lone(&workflows.five_steps, burst, lone, warm_up).await?,
        Mode::Signal { runs } => signal(&dbos, &workflows.waiter, runs).await?,
        Mode::Fork { runs } => fork(&dbos, &workflows.counted_five_steps, runs).await?,
        Mode::Fanout { children } => fanout(&dbos, &workflows.fanout_parent, children).await?,
    };
    println!("{figures}");
    dbos.shutdown().await;
    Ok(())
}
