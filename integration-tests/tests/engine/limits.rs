//! Limits by key across worker processes: the history shows that no key ever had more attempts
//! at once, or started more per second, than its limit, and that one key's backlog starved no
//! other.

use slate_engine::{EventKind, RunState, StartOptions};
use slate_integration_tests::probe;

use crate::harness::{most_at_once, Harness};

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
