//! The probe workflow: five steps that record every execution in `probe_executions`, so tests
//! can count what ran, and that misbehave on purpose at one step (hang, fail, time out, finish
//! late, run memoized parts) as the run's input asks. Also the no-op workflow of the benchmarks,
//! and two workflows whose step is limited by key.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slate_engine::{Bucket, Limit, RetryPolicy, RunId, Step, StepContext, StepError, Workflow};
use sqlx::PgPool;

/// The probe's steps, in order.
pub const STEPS: [&str; 5] = ["one", "two", "three", "four", "five"];

/// The probe's input, passed on from step to step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Probe {
    /// The step that misbehaves, if any.
    pub at: Option<String>,
    pub behaviour: Behaviour,
    /// How long every step works, in milliseconds, after recording its execution.
    #[serde(default)]
    pub step_ms: u64,
}

impl Probe {
    pub fn at(step: &str, behaviour: Behaviour) -> Self {
        Self {
            at: Some(step.to_owned()),
            behaviour,
            step_ms: 0,
        }
    }
}

/// How the step named by [`Probe::at`] behaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    #[default]
    Plain,
    /// Never finishes its first attempt (the test kills the worker).
    HangFirstAttempt,
    /// Never finishes its attempts before attempt `until` (the test kills their workers).
    HangBeforeAttempt { until: u32 },
    /// Finishes its first attempt only once another attempt has checkpointed the step.
    FinishAfterTakeover,
    /// Runs `parts` memoized parts, each recorded; the first attempt hangs after `hang_after`.
    Parts { parts: u32, hang_after: Option<u32> },
    /// Fails with a retryable error on its first `times` executions (replays included).
    FailRetryable { times: u32 },
    /// Fails with a permanent error.
    FailPermanent,
    /// Runs past its timeout on the first attempt.
    TimeoutFirstAttempt,
    /// Waits until its run is cancelled.
    WaitForCancel,
    /// Finishes each attempt only once the test opens its gate ([`open_gate`]), even when told to
    /// stop: a step that does not heed cancellation.
    Gated,
    /// Never finishes its first attempt; fails the others with a permanent error.
    HangFirstAttemptThenFail,
}

/// Creates the tables the probe records executions in and reads its gates from.
pub async fn create_tables(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS probe_executions (
             run_id uuid NOT NULL,
             step text NOT NULL,
             attempt integer NOT NULL,
             part integer,
             pid integer NOT NULL,
             at timestamptz NOT NULL DEFAULT clock_timestamp()
         );
         CREATE TABLE IF NOT EXISTS probe_spans (
             run_id uuid NOT NULL,
             workflow text NOT NULL,
             started_at timestamptz NOT NULL,
             ended_at timestamptz NOT NULL
         );
         CREATE TABLE IF NOT EXISTS probe_gates (
             run_id uuid NOT NULL,
             step text NOT NULL,
             attempt integer NOT NULL,
             PRIMARY KEY (run_id, step, attempt)
         )",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Lets attempt `attempt` of a [`Behaviour::Gated`] step of `run` finish.
pub async fn open_gate(pool: &PgPool, run: RunId, step: &str, attempt: i32) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO probe_gates VALUES ($1, $2, $3)")
        .bind(run)
        .bind(step)
        .bind(attempt)
        .execute(pool)
        .await?;
    Ok(())
}

/// The probe workflow, whose steps time out after `timeout` and retry quickly, 4 attempts at most.
pub fn workflow(pool: PgPool, timeout: Duration) -> Workflow<Probe> {
    workflow_with_attempts(pool, timeout, 4)
}

/// The probe workflow with `max_attempts` per step.
pub fn workflow_with_attempts(
    pool: PgPool,
    timeout: Duration,
    max_attempts: u32,
) -> Workflow<Probe> {
    let retry = RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        multiplier: 2.0,
        jitter: true,
    };
    let step = |name: &'static str| {
        let pool = pool.clone();
        Step::new(name, move |ctx: StepContext, probe: Probe| {
            let pool = pool.clone();
            async move { run(&pool, &ctx, probe).await }
        })
        .timeout(timeout)
        .retry(retry.clone())
    };
    Workflow::builder("probe", 1)
        .step(step(STEPS[0]))
        .step(step(STEPS[1]))
        .step(step(STEPS[2]))
        .step(step(STEPS[3]))
        .step(step(STEPS[4]))
        .build()
}

async fn run(pool: &PgPool, ctx: &StepContext, probe: Probe) -> Result<Probe, StepError> {
    record(pool, ctx, None).await?;
    tokio::time::sleep(Duration::from_millis(probe.step_ms)).await;
    if probe.at.as_deref() != Some(ctx.step()) {
        return Ok(probe);
    }
    let first = ctx.attempt() == 1;
    match &probe.behaviour {
        Behaviour::HangFirstAttempt | Behaviour::TimeoutFirstAttempt if first => {
            std::future::pending::<()>().await;
        }
        Behaviour::HangBeforeAttempt { until } if ctx.attempt() < *until => {
            std::future::pending::<()>().await;
        }
        Behaviour::FinishAfterTakeover if first => loop {
            if ctx.checkpoint::<Value>(ctx.step()).await?.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        },
        Behaviour::Parts { parts, hang_after } => {
            for part in 1..=*parts {
                let key = format!("part-{part}");
                ctx.memo(&key, async { record(pool, ctx, Some(part)).await })
                    .await?;
                if first && *hang_after == Some(part) {
                    std::future::pending::<()>().await;
                }
            }
        }
        Behaviour::FailRetryable { times } if executions(pool, ctx).await? <= i64::from(*times) => {
            return Err(StepError::retryable("flaky", "failing on purpose"));
        }
        Behaviour::FailPermanent => {
            return Err(StepError::permanent(
                "refused",
                "failing for good on purpose",
            ));
        }
        Behaviour::WaitForCancel => {
            ctx.cancelled().await;
            return Err(StepError::retryable("stopped", "the run was cancelled"));
        }
        Behaviour::Gated => {
            while !gate_open(pool, ctx).await? {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Behaviour::HangFirstAttemptThenFail if first => {
            std::future::pending::<()>().await;
        }
        Behaviour::HangFirstAttemptThenFail => {
            return Err(StepError::permanent(
                "refused",
                "failing for good on purpose",
            ));
        }
        _ => {}
    }
    Ok(probe)
}

async fn record(pool: &PgPool, ctx: &StepContext, part: Option<u32>) -> Result<(), StepError> {
    sqlx::query("INSERT INTO probe_executions (run_id, step, attempt, part, pid) VALUES ($1, $2, $3, $4, $5)")
        .bind(ctx.run_id())
        .bind(ctx.step())
        .bind(ctx.attempt() as i32)
        .bind(part.map(|p| p as i32))
        .bind(std::process::id() as i32)
        .execute(pool)
        .await
        .map(drop)
        .map_err(|e| StepError::retryable("database", e.to_string()))
}

async fn gate_open(pool: &PgPool, ctx: &StepContext) -> Result<bool, StepError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM probe_gates WHERE run_id = $1 AND step = $2 AND attempt = $3)",
    )
    .bind(ctx.run_id())
    .bind(ctx.step())
    .bind(ctx.attempt() as i32)
    .fetch_one(pool)
    .await
    .map_err(|e| StepError::retryable("database", e.to_string()))
}

async fn executions(pool: &PgPool, ctx: &StepContext) -> Result<i64, StepError> {
    sqlx::query_scalar(
        "SELECT count(*) FROM probe_executions WHERE run_id = $1 AND step = $2 AND part IS NULL",
    )
    .bind(ctx.run_id())
    .bind(ctx.step())
    .fetch_one(pool)
    .await
    .map_err(|e| StepError::retryable("database", e.to_string()))
}

/// Five steps that do nothing but pass their input on: the engine's own cost, measured.
pub fn noop() -> Workflow<u64> {
    let step = |name| Step::new(name, |_ctx: StepContext, n: u64| async move { Ok(n) });
    Workflow::builder("noop", 1)
        .step(step(STEPS[0]))
        .step(step(STEPS[1]))
        .step(step(STEPS[2]))
        .step(step(STEPS[3]))
        .step(step(STEPS[4]))
        .build()
}

/// The workflows whose one step is limited, for the tests of limits: each takes as long as its
/// input says (in milliseconds) and records when it ran in `probe_spans`. `limited-a` runs at
/// most 2 at once; `limited-b` at most 3 at once and 10 per second (2 at once from a full
/// bucket).
pub fn limited(pool: PgPool) -> [Workflow<u64>; 2] {
    let workflow = |name: &'static str, limit: Limit| {
        let pool = pool.clone();
        let step = Step::new("call", move |ctx: StepContext, ms: u64| {
            let pool = pool.clone();
            async move {
                span(&pool, &ctx, name, ms).await?;
                Ok(ms)
            }
        });
        Workflow::builder(name, 1).step(step.limit(limit)).build()
    };
    let rate = Bucket {
        capacity: 2.0,
        per_second: 10.0,
    };
    [
        workflow("limited-a", Limit::new("provider:a").concurrency(2)),
        workflow(
            "limited-b",
            Limit::new("provider:b").concurrency(3).rate(rate),
        ),
    ]
}

/// How the `fan` workflow's step fans out: `children` children of `square`, each working `ms`
/// milliseconds; child `fail` fails for good; with `settled`, the step waits for every child
/// and counts the failures instead of failing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fan {
    pub children: u64,
    pub ms: u64,
    pub fail: Option<u64>,
    pub settled: bool,
}

/// The most `square` children that run at once, across all processes.
pub const FAN_CONCURRENCY: u32 = 8;

/// What the `fan` workflow's step made of its children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fanned {
    pub sum: u64,
    pub failed: usize,
}

/// The fan-out workflow: step `spread` starts its children (`square`, recorded in
/// `probe_executions` as step `square`, part = the child's number, and in `probe_spans`; at most
/// [`FAN_CONCURRENCY`] at once) and sums their squares; step `done` passes that on. Every
/// execution of `spread` is recorded too.
pub fn fan(pool: PgPool) -> Workflow<Fan> {
    let square_pool = pool.clone();
    let square = Step::new(
        "square",
        move |ctx: StepContext, (i, ms, fail): (u64, u64, bool)| {
            let pool = square_pool.clone();
            async move {
                record(&pool, &ctx, Some(i as u32)).await?;
                span(&pool, &ctx, "square", ms).await?;
                if fail {
                    return Err(StepError::permanent(
                        "refused",
                        format!("child {i} fails on purpose"),
                    ));
                }
                Ok(i * i)
            }
        },
    )
    .retry(RetryPolicy {
        initial_backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    })
    .limit(Limit::new("probe:square").concurrency(FAN_CONCURRENCY));
    let spread = Step::new("spread", move |ctx: StepContext, fan: Fan| {
        let pool = pool.clone();
        async move {
            record(&pool, &ctx, None).await?;
            let children: Vec<(String, (u64, u64, bool))> = (0..fan.children)
                .map(|i| (format!("c{i}"), (i, fan.ms, fan.fail == Some(i))))
                .collect();
            if fan.settled {
                let results: Vec<Result<u64, StepError>> =
                    ctx.fan_out_settled("square", children).await?;
                let sum = results.iter().filter_map(|r| r.as_ref().ok()).sum();
                let failed = results.iter().filter(|r| r.is_err()).count();
                return Ok(Fanned { sum, failed });
            }
            let squares: Vec<u64> = ctx.fan_out("square", children).await?;
            Ok(Fanned {
                sum: squares.iter().sum(),
                failed: 0,
            })
        }
    });
    let done = Step::new("done", |_: StepContext, fanned: Fanned| async move {
        Ok::<_, StepError>(fanned)
    });
    Workflow::builder("fan", 1)
        .child(square)
        .max_children(100)
        .step(spread)
        .step(done)
        .build()
}

/// Works `ms` milliseconds, and records in `probe_spans` when, by the database's clock.
async fn span(pool: &PgPool, ctx: &StepContext, name: &str, ms: u64) -> Result<(), StepError> {
    let database = |e: sqlx::Error| StepError::retryable("database", e.to_string());
    let started_at: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await
        .map_err(database)?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    sqlx::query("INSERT INTO probe_spans VALUES ($1, $2, $3, clock_timestamp())")
        .bind(ctx.run_id())
        .bind(name)
        .bind(started_at)
        .execute(pool)
        .await
        .map_err(database)?;
    Ok(())
}
