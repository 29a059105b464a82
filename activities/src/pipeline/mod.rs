//! The video workflow: the five phases as durable steps of the engine. Each step reads the
//! production so far (the previous step's checkpoint), checks the budget before spending, does its
//! work with the configured provider (embedded unless a cloud one is configured), and returns the
//! production with its part added, keeping what a new version keeps of the one it was made from.
//! After planning and storyboarding the run may wait at a review gate for its client's approval.
//! generating_chunks fans out: each beat's clips render in a child (`render_beat`) on any worker.

use std::{future::Future, sync::Arc};

use slate_engine::{Step, StepContext, StepError, Workflow};

use self::phases::{
    adding_music, generating_chunks, planning, render_beat, stitching, storyboarding, RENDER_BEAT,
};
use crate::{phase::Phase, plan::Request, production::Production, review::Gate, video::Projection};

mod phases;
mod shared;

pub use shared::Pipeline;

/// The workflow's durable name and version.
pub const WORKFLOW: &str = "video";
pub const VERSION: i32 = 1;

/// The video workflow, its projection kept by its hook.
pub fn workflow(pipeline: Arc<Pipeline>) -> Workflow<Request> {
    let (planner, renderer) = (pipeline.clone(), pipeline.clone());
    let planning = Step::new(Phase::Planning.name(), move |ctx, request| {
        let pipeline = planner.clone();
        async move { planning(&ctx, &pipeline, request).await }
    });
    Workflow::builder(WORKFLOW, VERSION)
        .signal(Gate::Planning.signal())
        .signal(Gate::Storyboarding.signal())
        .step(planning.timeout(Phase::Planning.timeout()))
        .step(phase_step(Phase::Storyboarding, &pipeline, storyboarding))
        .step(phase_step(
            Phase::GeneratingChunks,
            &pipeline,
            generating_chunks,
        ))
        .step(phase_step(Phase::Stitching, &pipeline, stitching))
        .step(phase_step(Phase::AddingMusic, &pipeline, adding_music))
        .child(
            Step::new(RENDER_BEAT, move |ctx, beat| {
                render_beat(ctx, renderer.clone(), beat)
            })
            .timeout(Phase::GeneratingChunks.timeout()),
        )
        .hook(Projection {
            webhooks: pipeline.webhooks.clone(),
        })
        .build()
}

/// A step of `phase` that runs `work` with the pipeline, under the phase's timeout.
fn phase_step<F, Fut>(
    phase: Phase,
    pipeline: &Arc<Pipeline>,
    work: F,
) -> Step<Production, Production>
where
    F: Fn(StepContext, Arc<Pipeline>, Production) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Production, StepError>> + Send + 'static,
{
    let pipeline = pipeline.clone();
    Step::new(phase.name(), move |ctx, production| {
        work(ctx, pipeline.clone(), production)
    })
    .timeout(phase.timeout())
}
