//! The video workflow: the five phases as durable steps of the engine. Each step reads the
//! production so far (the previous step's checkpoint), checks the budget before spending, does its
//! work with the configured provider (embedded unless a cloud one is configured), and returns the
//! production with its part added.

use std::{future::Future, sync::Arc};

use ab_glyph::FontArc;
use slate_engine::{Step, StepContext, StepError, Workflow};

use self::phases::{adding_music, generating_chunks, planning, stitching, storyboarding};
use crate::{
    cost::Prices,
    media::storyboard,
    phase::Phase,
    plan::Request,
    production::Production,
    projection::Projection,
    providers::{openai::OpenAiPlanner, replicate::Replicate},
    storage::MediaStore,
};

mod media;
mod phases;

/// The workflow's durable name and version.
pub const WORKFLOW: &str = "video";
pub const VERSION: i32 = 1;

/// What the steps share: where media go, which providers make what, what things cost, how many
/// clips render at once.
pub struct Pipeline {
    pub store: MediaStore,
    pub parallel_chunks: usize,
    pub font: FontArc,
    pub providers: Providers,
}

/// The cloud providers configured; a phase without one uses its embedded provider.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    pub planner: Option<OpenAiPlanner>,
    pub images: Option<CloudModel>,
    pub clips: Option<CloudModel>,
    pub music: Option<CloudModel>,
    /// The cloud providers' prices (the embedded ones cost nothing); the reference ones when unset.
    pub prices: Option<Prices>,
}

/// A model of the predictions API.
#[derive(Debug, Clone)]
pub struct CloudModel {
    pub api: Replicate,
    /// `owner/name`.
    pub model: String,
}

impl Providers {
    /// What each phase costs with these providers.
    pub fn prices(&self) -> Prices {
        let cloud = self.prices.unwrap_or(Prices::REFERENCE_CLOUD);
        let price = |configured: bool, price: f64| if configured { price } else { 0.0 };
        Prices {
            per_plan: price(self.planner.is_some(), cloud.per_plan),
            per_image: price(self.images.is_some(), cloud.per_image),
            per_chunk: price(self.clips.is_some(), cloud.per_chunk),
            per_track: price(self.music.is_some(), cloud.per_track),
        }
    }
}

impl Pipeline {
    /// A pipeline keeping media under `media_dir`, with `providers` (embedded where none).
    pub fn new(
        media_dir: impl Into<std::path::PathBuf>,
        parallel_chunks: usize,
        providers: Providers,
    ) -> Result<Self, StepError> {
        Ok(Self {
            store: MediaStore::new(media_dir),
            parallel_chunks,
            font: storyboard::load_font()?,
            providers,
        })
    }

    /// The embedded providers only: free and offline.
    pub fn embedded(
        media_dir: impl Into<std::path::PathBuf>,
        parallel_chunks: usize,
    ) -> Result<Self, StepError> {
        Self::new(media_dir, parallel_chunks, Providers::default())
    }
}

/// The video workflow, its projection kept by its hook.
pub fn workflow(pipeline: Arc<Pipeline>) -> Workflow<Request> {
    let planner = pipeline.clone();
    let planning = Step::new(Phase::Planning.name(), move |ctx, request| {
        let pipeline = planner.clone();
        async move { planning(&ctx, &pipeline, request).await }
    });
    Workflow::builder(WORKFLOW, VERSION)
        .step(planning.timeout(Phase::Planning.timeout()))
        .step(phase_step(Phase::Storyboarding, &pipeline, storyboarding))
        .step(phase_step(
            Phase::GeneratingChunks,
            &pipeline,
            generating_chunks,
        ))
        .step(phase_step(Phase::Stitching, &pipeline, stitching))
        .step(phase_step(Phase::AddingMusic, &pipeline, adding_music))
        .hook(Projection)
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
