//! Limits by key across worker processes: the history shows that no key ever had more attempts
//! at once, or started more per second, than its limit, and that one key's backlog starved no
//! other.

use slate_engine::{EventKind, RunState, StartOptions};
use slate_integration_tests::probe;

use crate::harness::{most_at_once, test_worker_config, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_never_exceed_a_keys_concurrency_or_rate_and_starve_no_key() {
    let mut limited = None;
    let h = Harness::with(|pool, engine| {
        let [a, b] = probe::limited(pool.clone());
        let engine = engine.register(&a).register(&b);
        limited = Some([a, b]);
        engine
    })
    .await;
    let [a, b] = limited.expect("registered");
    let _workers: Vec<_> = (0..3).map(|_| h.spawn_worker(&[])).collect();
    h.wait_active_workers(3).await;

    let mut runs = Vec::new();
    for i in 0..60 {
        let (workflow, ms) = if i % 3 == 2 { (&b, 50) } else { (&a, 150) };
        let started = h.engine.start(workflow, &ms, StartOptions::default()).await;
        runs.push((workflow.name(), started.expect("start").run_id));
    }
    for (_, run) in &runs {
        assert_eq!(h.wait_end(*run).await.state, RunState::Completed);
    }

    assert_eq!(
        most_at_once(&h, "limited-a").await,
        2,
        "a's concurrency, reached"
    );
    assert!(most_at_once(&h, "limited-b").await <= 3, "b's concurrency");
    let mut b_starts = Vec::new();
    let (mut last_a_start, mut last_b_end) = (None, None);
    for (workflow, run) in &runs {
        let started = h.events(*run, EventKind::StepStarted).await[0].at;
        let ended = h.events(*run, EventKind::RunCompleted).await[0].at;
        if *workflow == "limited-b" {
            b_starts.push(started);
            last_b_end = last_b_end.max(Some(ended));
        } else {
            last_a_start = last_a_start.max(Some(started));
        }
    }
    b_starts.sort();
    for (i, from) in b_starts.iter().enumerate() {
        let within_a_second = b_starts[i..]
            .iter()
            .take_while(|at| **at - *from <= chrono::Duration::seconds(1))
            .count();
        assert!(
            within_a_second <= 12,
            "b's rate: 10 a second and 2 at once, {within_a_second} from {from}"
        );
    }
    assert!(
        last_b_end < last_a_start,
        "b's runs all ended while a's backlog was still being served"
    );
    h.db.drop().await;
}

/// Two claims on one key, driven by hand: while another transaction holds the key's lock (a
/// claim serving it), a worker's claim passes the key over and leases none of its tasks, though
/// it has room; once that transaction commits a lease of its own, the worker's claims count it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_passes_over_a_key_another_holds_and_then_counts_the_lease_it_committed() {
    let mut limited = None;
    let h = Harness::with(|pool, engine| {
        let [a, b] = probe::limited(pool.clone());
        let engine = engine.register(&a).register(&b);
        limited = Some(a);
        engine
    })
    .await;
    let a = limited.expect("registered");
    let mut runs = Vec::new();
    for _ in 0..3 {
        let started = h.engine.start(&a, &50, StartOptions::default()).await;
        runs.push(started.expect("start").run_id);
    }

    let mut other = h.db.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('slate-limit:provider:a', 0))")
        .execute(&mut *other)
        .await
        .unwrap();
    let _worker = h.worker_alone(test_worker_config());
    let probe_run = h
        .start(slate_integration_tests::probe::Probe::default())
        .await;
    h.wait_end(probe_run).await;
    let leased: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks WHERE limit_key = 'provider:a' AND lease_owner IS NOT NULL",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(leased, 0, "the worker's claims passed the held key over");

    // The other claim leases one task to a worker that never runs it, and commits.
    sqlx::query(
        "UPDATE tasks SET lease_owner = gen_random_uuid(), attempt = 1, leased_at = now()
         WHERE run_id = $1",
    )
    .bind(runs[0])
    .execute(&mut *other)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('slate_tasks', '')")
        .execute(&mut *other)
        .await
        .unwrap();
    other.commit().await.unwrap();

    for run in &runs[1..] {
        assert_eq!(h.wait_end(*run).await.state, RunState::Completed);
    }
    assert_eq!(
        most_at_once(&h, "limited-a").await,
        1,
        "with one of its 2 taken by the committed lease, the key ran one at a time"
    );
    h.db.drop().await;
}
