//! Clips in parallel across processes: a 30 s video with the embedded providers, made by 1 and by
//! 2 `slate worker` processes, each pinned to a core of its own (`taskset`), on one database and
//! one media folder. generating_chunks fans out a child per beat, which any worker renders; the
//! figure is that phase's wall time (from its first start to its checkpoint) and the whole
//! video's, the median of a few rounds, each on a fresh database.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use slate_activities::{
    pipeline::{self, Pipeline},
    plan::Request,
    storage::{MediaStore, ScratchSpace},
};
use slate_engine::{Engine, Event, EventKind, RunState, StartOptions};
use slate_integration_tests::{database::TestDatabase, process::WorkerProcess};

use crate::{percentile, Report};

/// The steps one process runs at once: one per core it is pinned to. With more, a process that
/// claims two beats at once may take the two longest, and leave the other core idle.
const SLOTS: &str = "1";

/// The wall times of one video: (generating_chunks, whole video), in seconds.
async fn video(processes: usize) -> anyhow::Result<(f64, f64)> {
    let db = TestDatabase::with_pool_size(8).await;
    let media = tempfile::tempdir()?;
    let env = [
        (
            "SLATE_MEDIA_DIR",
            media.path().to_str().context("a path")?.to_owned(),
        ),
        ("SLATE_WORKERS", SLOTS.to_owned()),
        ("SLATE_CLEAN_EVERY_SECS", "0".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let mut workers: Vec<WorkerProcess> = (0..processes)
        .map(|core| WorkerProcess::pinned_slate_worker(core, &db.url, &env))
        .collect();
    crate::active_workers(&db.pool, processes as i64).await;
    let store = MediaStore::local(media.path())?;
    let pipeline = Pipeline::embedded(store, ScratchSpace::in_temp_dir()?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let workflow = pipeline::workflow(Arc::new(pipeline));
    let engine = Engine::builder(db.pool.clone()).register(&workflow).build();
    let request = Request {
        duration: Some(30),
        ..Request::new("an ad for a bakery's sourdough, warm morning light")
    };
    let run = engine
        .start(&workflow, &request, StartOptions::default())
        .await?
        .run_id;
    let summary = engine
        .wait_for_end(run, Duration::from_secs(900))
        .await?
        .context("the video")?;
    anyhow::ensure!(
        summary.state == RunState::Completed,
        "the video failed: {:?}",
        summary.error
    );
    let events = engine.events(run, None).await?;
    let chunks = phase_seconds(&events, "generating_chunks").context("generating_chunks")?;
    let whole = (summary.finished_at.context("a finish")? - summary.created_at).num_milliseconds()
        as f64
        / 1000.0;
    for worker in &mut workers {
        worker.terminate().await;
    }
    db.drop().await;
    Ok((chunks, whole))
}

/// How long `step` took, from its first attempt's start to its completion (a step that fans out
/// runs again once its children are done), in seconds.
pub fn phase_seconds(events: &[Event], step: &str) -> Option<f64> {
    let of = |kind| {
        events
            .iter()
            .filter(move |e| e.kind == kind && e.step.as_deref() == Some(step))
    };
    let began = of(EventKind::StepStarted).next()?.at;
    let ended = of(EventKind::StepCompleted).next_back()?.at;
    Some((ended - began).num_milliseconds() as f64 / 1000.0)
}

pub async fn measure(report: &mut Report, rounds: usize) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        report.line("clips across processes: not measured (one core)".into());
        return Ok(());
    }
    let mut figures = Vec::new();
    for processes in [1, 2] {
        let (mut chunks, mut whole) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (c, w) = video(processes).await?;
            chunks.push(c);
            whole.push(w);
        }
        chunks.sort_by(f64::total_cmp);
        whole.sort_by(f64::total_cmp);
        figures.push((percentile(&chunks, 0.5), percentile(&whole, 0.5)));
    }
    let [(one_chunks, one_whole), (two_chunks, two_whole)] = figures[..] else {
        unreachable!("two configurations")
    };
    report.line(format!(
        "clips across processes (a 30 s video, embedded providers, one media folder; each \
         `slate worker` pinned to a core of its own with taskset, {SLOTS} step at a time; median \
         of {rounds} rounds): generating_chunks {one_chunks:.1} s on 1 process, {two_chunks:.1} \
         s on 2 ({:.2}x); the whole video {one_whole:.1} s on 1, {two_whole:.1} s on 2 ({:.2}x)",
        two_chunks / one_chunks,
        two_whole / one_whole
    ));
    Ok(())
}
