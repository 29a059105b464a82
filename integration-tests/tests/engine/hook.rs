use std::time::Duration;

use async_trait::async_trait;
use slate_engine::{
    Engine, Hook, HookError, RunState, StartOptions, Step, StepContext, Transition, TransitionKind,
    Workflow,
};
use slate_integration_tests::database::TestDatabase;
use sqlx::PgConnection;

use crate::harness::test_worker_config;

/// Writes each transition to `seen`, as the API writes its projection.
pub struct Recorder;

impl Recorder {
    /// Creates the `seen` table it writes to.
    pub async fn create_table(pool: &sqlx::PgPool) {
        sqlx::query("CREATE TABLE seen (id serial, run_id uuid, what text)")
            .execute(pool)
            .await
            .unwrap();
    }
}

#[async_trait]
impl Hook for Recorder {
    async fn on_transitions(
        &self,
        conn: &mut PgConnection,
        transitions: &[Transition<'_>],
    ) -> Result<(), HookError> {
        for t in transitions {
            let what = match &t.kind {
                TransitionKind::StepStarted { step, attempt, .. } => {
                    format!("started {step} {attempt}")
                }
                TransitionKind::StepCompleted { step, output, .. } => {
                    format!("completed {step} {output}")
                }
                TransitionKind::RunCompleted => "run completed".to_owned(),
                other => format!("{other:?}"),
            };
            sqlx::query("INSERT INTO seen (run_id, what) VALUES ($1, $2)")
                .bind(t.run_id)
                .bind(what)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_sees_every_transition_in_order_inside_the_engine_transactions() {
    let db = TestDatabase::new().await;
    Recorder::create_table(&db.pool).await;
    let double = |name| Step::new(name, |_: StepContext, n: u64| async move { Ok(n * 2) });
    let workflow: Workflow<u64> = Workflow::builder("doubler", 1)
        .step(double("first"))
        .step(double("second"))
        .hook(Recorder)
        .build();
    let engine = Engine::builder(db.pool.clone()).register(&workflow).build();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(engine.worker(test_worker_config()).run(shutdown.clone()));

    let run = engine
        .start(&workflow, &5, StartOptions::default())
        .await
        .unwrap()
        .run_id;
    let summary = engine
        .wait_for_end(run, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.state, RunState::Completed);

    let seen: Vec<String> =
        sqlx::query_scalar("SELECT what FROM seen WHERE run_id = $1 ORDER BY id")
            .bind(run)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        seen,
        vec![
            "started first 1",
            "completed first 10",
            "started second 1",
            "completed second 20",
            "run completed"
        ]
    );
    shutdown.cancel();
    worker.await.unwrap().unwrap();
    db.drop().await;
}
