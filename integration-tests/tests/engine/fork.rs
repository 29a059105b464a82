//! Forks: a new run from a step of another, sharing the steps before it by reference, with
//! overridden outputs and inherited memos; runs form trees; history trimming keeps what forks
//! share.

use std::time::Duration;

use slate_engine::{Engine, Error, ForkOptions, RunId, RunState};
use slate_integration_tests::probe::{self, Behaviour, Probe};

use crate::harness::{test_worker_config, Harness};

/// The fork's checkpoints: (step, the run it shares it from).
async fn shared(h: &Harness, run: RunId) -> Vec<(String, Option<RunId>)> {
    let checkpoints = h.engine.checkpoints(run).await.expect("checkpoints");
    checkpoints
        .into_iter()
        .filter(|c| c.superseded_at.is_none())
        .map(|c| (c.step, c.shared_from))
        .collect()
}

/// How many checkpoint rows of `run` hold an output of their own.
async fn outputs_stored(h: &Harness, run: RunId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM checkpoints WHERE run_id = $1 AND output IS NOT NULL")
        .bind(run)
        .fetch_one(&h.db.pool)
        .await
        .expect("count outputs")
}

/// How many times each memoized part of `run` was made.
async fn parts_made(h: &Harness, run: RunId) -> Vec<(i32, i64)> {
    sqlx::query_as(
        "SELECT part, count(*) FROM probe_executions
         WHERE run_id = $1 AND part IS NOT NULL GROUP BY part ORDER BY part",
    )
    .bind(run)
    .fetch_all(&h.db.pool)
    .await
    .expect("parts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_at_step_four_runs_four_and_five_and_shares_one_to_three_without_copies() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let parent = h.start(Probe::default()).await;
    assert_eq!(h.wait_end(parent).await.state, RunState::Completed);

    let fork = h
        .engine
        .fork(parent, "four", ForkOptions::default())
        .await
        .unwrap();
    assert!(fork.created);
    let fork = fork.run_id;
    let summary = h.wait_end(fork).await;
    assert_eq!(summary.state, RunState::Completed);
    assert_eq!(
        (summary.parent_run_id, summary.fork_step_index),
        (Some(parent), Some(3))
    );
    for (step, times) in [
        ("one", 0),
        ("two", 0),
        ("three", 0),
        ("four", 1),
        ("five", 1),
    ] {
        assert_eq!(h.executions(fork, step).await, times, "{step}");
    }
    let from_parent = Some(parent);
    assert_eq!(
        shared(&h, fork).await,
        vec![
            ("one".into(), from_parent),
            ("two".into(), from_parent),
            ("three".into(), from_parent),
            ("four".into(), None),
            ("five".into(), None)
        ]
    );
    assert_eq!(
        outputs_stored(&h, fork).await,
        2,
        "only four and five store outputs"
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_runs_on_from_an_overridden_output_of_an_earlier_step() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let parent = h.start(Probe::default()).await;
    h.wait_end(parent).await;

    let edited = Probe {
        step_ms: 7,
        ..Probe::default()
    };
    let options = ForkOptions::default()
        .override_output("three", &edited)
        .unwrap();
    let fork = h.engine.fork(parent, "four", options).await.unwrap().run_id;
    assert_eq!(h.wait_end(fork).await.state, RunState::Completed);

    let checkpoints = h.engine.checkpoints(fork).await.unwrap();
    let output = |step: &str| {
        let c = checkpoints
            .iter()
            .find(|c| c.step == step)
            .expect("checkpoint");
        (c.output["step_ms"].as_u64(), c.shared_from)
    };
    assert_eq!(output("two"), (Some(0), Some(parent)));
    assert_eq!(
        output("three"),
        (Some(7), None),
        "the override, the fork's own"
    );
    assert_eq!(
        output("five"),
        (Some(7), None),
        "four and five ran on from it"
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_inherits_the_memos_of_its_fork_point_but_those_it_drops() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let parts = Behaviour::Parts {
        parts: 3,
        hang_after: None,
    };
    let parent = h.start(Probe::at("four", parts)).await;
    h.wait_end(parent).await;

    let options = ForkOptions::default().drop_memo("four", "part-2");
    let fork = h.engine.fork(parent, "four", options).await.unwrap().run_id;
    assert_eq!(h.wait_end(fork).await.state, RunState::Completed);
    assert_eq!(h.executions(fork, "four").await, 1);
    assert_eq!(
        parts_made(&h, fork).await,
        vec![(2, 1)],
        "only the dropped part is made again"
    );

    let options = ForkOptions::default().afresh();
    let fresh = h.engine.fork(parent, "four", options).await.unwrap().run_id;
    assert_eq!(h.wait_end(fresh).await.state, RunState::Completed);
    assert_eq!(
        parts_made(&h, fresh).await,
        vec![(1, 1), (2, 1), (3, 1)],
        "afresh: every part is made again"
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_run_forks_only_from_a_step_whose_predecessors_are_checkpointed() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let parent = h.start(Probe::at("three", Behaviour::Gated)).await;
    h.wait_executions(parent, "three", 1).await;

    let refused = h.engine.fork(parent, "four", ForkOptions::default()).await;
    assert!(
        matches!(&refused, Err(Error::NotCheckpointed { step, state: RunState::Running, .. }) if step == "three"),
        "{refused:?}"
    );
    let early = ForkOptions::default()
        .override_output("four", &Probe::default())
        .unwrap();
    let refused = h.engine.fork(parent, "four", early).await;
    assert!(matches!(refused, Err(Error::InvalidFork(_))), "{refused:?}");

    let fork = h
        .engine
        .fork(parent, "three", ForkOptions::default())
        .await
        .unwrap()
        .run_id;
    h.wait_executions(fork, "three", 1).await;
    probe::open_gate(&h.db.pool, fork, "three", 1)
        .await
        .unwrap();
    probe::open_gate(&h.db.pool, parent, "three", 1)
        .await
        .unwrap();
    assert_eq!(h.wait_end(fork).await.state, RunState::Completed);
    assert_eq!(h.wait_end(parent).await.state, RunState::Completed);
    assert_eq!(h.executions(fork, "two").await, 0);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forking_a_run_whose_workflow_version_is_not_registered_is_refused() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let parent = h.start(Probe::default()).await;
    h.wait_end(parent).await;

    let other = Engine::builder(h.db.pool.clone()).build();
    let refused = other.fork(parent, "four", ForkOptions::default()).await;
    assert!(
        matches!(&refused, Err(Error::UnknownWorkflow { name, version: 1 }) if name == "probe"),
        "{refused:?}"
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_of_forks_form_a_tree_read_alike_from_any_node_and_share_the_originals() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let root = h.start(Probe::default()).await;
    h.wait_end(root).await;
    let child = h
        .engine
        .fork(root, "five", ForkOptions::default())
        .await
        .unwrap()
        .run_id;
    h.wait_end(child).await;
    let sibling = h
        .engine
        .fork(root, "two", ForkOptions::default())
        .await
        .unwrap()
        .run_id;
    h.wait_end(sibling).await;
    let grandchild = h
        .engine
        .fork(child, "three", ForkOptions::default())
        .await
        .unwrap()
        .run_id;
    h.wait_end(grandchild).await;

    let from_leaf = h.engine.tree(grandchild).await.unwrap();
    let nodes: Vec<(RunId, Option<RunId>)> =
        from_leaf.iter().map(|r| (r.id, r.parent_run_id)).collect();
    assert_eq!(
        nodes,
        vec![
            (root, None),
            (child, Some(root)),
            (sibling, Some(root)),
            (grandchild, Some(child))
        ]
    );
    let from_root: Vec<RunId> = h
        .engine
        .tree(root)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(from_root, nodes.iter().map(|n| n.0).collect::<Vec<_>>());
    assert_eq!(
        shared(&h, grandchild).await[..2],
        [("one".into(), Some(root)), ("two".into(), Some(root))],
        "a fork of a fork shares the root's originals"
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_keeps_the_superseded_checkpoints_a_fork_shares() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let parent = h.start(Probe::default()).await;
    h.wait_end(parent).await;
    let fork = h
        .engine
        .fork(parent, "four", ForkOptions::default())
        .await
        .unwrap()
        .run_id;
    h.wait_end(fork).await;
    h.engine.replay(parent, "one").await.unwrap();
    h.wait_end(parent).await;

    let mut scheduler = h.engine.scheduler(Default::default());
    scheduler.trim(Duration::ZERO).await.unwrap();
    let superseded: Vec<String> = sqlx::query_scalar(
        "SELECT step FROM checkpoints WHERE run_id = $1 AND superseded_at IS NOT NULL
         ORDER BY step_index",
    )
    .bind(parent)
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        superseded,
        ["one", "two", "three"],
        "four and five were shared by no one"
    );
    let outputs = h.engine.checkpoints(fork).await.unwrap();
    assert!(outputs
        .iter()
        .all(|c| c.output["behaviour"]["kind"] == "plain"));
    h.db.drop().await;
}
