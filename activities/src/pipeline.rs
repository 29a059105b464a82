//! The video workflow: the five phases as durable steps of the engine. Each step reads the
//! production so far (the previous step's checkpoint), checks the budget before spending, does its
//! work with the embedded providers, and returns the production with its part added.

use std::{collections::BTreeMap, future::Future, sync::Arc};

use ab_glyph::FontArc;
use futures::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use slate_engine::{Step, StepContext, StepError, Workflow};

use crate::{
    beats, chunks,
    chunks::storage_error,
    cost::{default_budget, Prices},
    music,
    phase::Phase,
    plan::{self, Request},
    projection::Projection,
    spec::{Spec, CHUNK_SECONDS},
    stitch,
    storage::MediaStore,
    storyboard,
};

/// The workflow's durable name and version.
pub const WORKFLOW: &str = "video";
pub const VERSION: i32 = 1;

/// What the steps share: where media go, what things cost, how many clips render at once.
pub struct Pipeline {
    pub store: MediaStore,
    pub prices: Prices,
    pub parallel_chunks: usize,
    pub font: FontArc,
}

impl Pipeline {
    /// The embedded providers (free, offline), keeping media under `media_dir`.
    pub fn embedded(
        media_dir: impl Into<std::path::PathBuf>,
        parallel_chunks: usize,
    ) -> Result<Self, StepError> {
        Ok(Self {
            store: MediaStore::new(media_dir),
            prices: Prices::EMBEDDED,
            parallel_chunks,
            font: storyboard::load_font()?,
        })
    }
}

/// The video as it is made: each step's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Production {
    pub spec: Spec,
    pub budget_usd: f64,
    /// USD per phase done so far.
    pub costs: BTreeMap<String, f64>,
    /// Media keys of the stills, one per beat.
    #[serde(default)]
    pub stills: Vec<String>,
    /// Media keys of the clips, in order.
    #[serde(default)]
    pub chunks: Vec<String>,
    #[serde(default)]
    pub stitched: Option<String>,
    #[serde(default)]
    pub final_video: Option<String>,
}

impl Production {
    fn spent(&self) -> f64 {
        self.costs.values().sum()
    }

    /// Fails before spending if `phase` would take the video past its budget.
    fn afford(&self, phase: Phase, prices: &Prices) -> Result<f64, StepError> {
        let cost = prices.phase(phase, Some(&self.spec));
        afford(self.spent(), cost, self.budget_usd, phase)?;
        Ok(cost)
    }

    fn paid(mut self, ctx: &StepContext, phase: Phase, cost: f64) -> Self {
        ctx.add_cost(cost);
        self.costs.insert(phase.name().to_owned(), cost);
        self
    }
}

fn afford(spent: f64, cost: f64, budget: f64, phase: Phase) -> Result<(), StepError> {
    if spent + cost > budget + 1e-9 {
        return Err(StepError::permanent(
            "budget_exceeded",
            format!(
                "{} would cost ${cost:.4} on top of ${spent:.4} spent, over the budget of ${budget:.4}",
                phase.name()
            ),
        ));
    }
    Ok(())
}

/// The video workflow, its projection kept by its hook.
pub fn workflow(pipeline: Arc<Pipeline>) -> Workflow<Request> {
    let prices = pipeline.prices;
    let planning = Step::new(Phase::Planning.name(), move |ctx, request| async move {
        planning(&ctx, &prices, request)
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

fn planning(ctx: &StepContext, prices: &Prices, request: Request) -> Result<Production, StepError> {
    let duration = request.duration.unwrap_or(plan::DEFAULT_DURATION);
    let budget = request
        .max_cost_usd
        .unwrap_or_else(|| default_budget(duration));
    let cost = prices.phase(Phase::Planning, None);
    afford(0.0, cost, budget, Phase::Planning)?;
    let spec = plan::embedded(&request);
    spec.validate()
        .map_err(|e| StepError::permanent("invalid_plan", e.to_string()))?;
    let budget = request
        .max_cost_usd
        .unwrap_or_else(|| default_budget(spec.duration));
    let production = Production {
        spec,
        budget_usd: budget,
        costs: BTreeMap::new(),
        stills: Vec::new(),
        chunks: Vec::new(),
        stitched: None,
        final_video: None,
    };
    Ok(production.paid(ctx, Phase::Planning, cost))
}

fn media_key(ctx: &StepContext, name: &str) -> String {
    format!("videos/{}/{name}", ctx.run_id())
}

async fn storyboarding(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let cost = production.afford(Phase::Storyboarding, &pipeline.prices)?;
    let mut stills = Vec::with_capacity(production.spec.beats.len());
    for index in 0..production.spec.beats.len() {
        let key = media_key(ctx, &format!("stills/beat-{:02}.png", index + 1));
        let still = ctx
            .memo(&format!("still-{:02}", index + 1), async {
                let (spec, font) = (production.spec.clone(), pipeline.font.clone());
                let png =
                    tokio::task::spawn_blocking(move || storyboard::render(&spec, index, &font))
                        .await
                        .map_err(|e| StepError::retryable("render", e.to_string()))?;
                pipeline
                    .store
                    .put(&key, &png)
                    .await
                    .map_err(storage_error)?;
                Ok(key.clone())
            })
            .await?;
        stills.push(still);
    }
    production.stills = stills;
    Ok(production.paid(ctx, Phase::Storyboarding, cost))
}

/// One clip to render: its index in the video, the beat it belongs to, and whether it is the
/// beat's first.
struct Clip {
    index: usize,
    beat: usize,
    first_of_beat: bool,
}

async fn generating_chunks(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let cost = production.afford(Phase::GeneratingChunks, &pipeline.prices)?;
    let mut per_beat: Vec<Vec<Clip>> = Vec::new();
    let mut index = 0;
    for (beat, spec_beat) in production.spec.beats.iter().enumerate() {
        let count = (spec_beat.duration / CHUNK_SECONDS) as usize;
        per_beat.push(
            (0..count)
                .map(|k| {
                    index += 1;
                    Clip {
                        index: index - 1,
                        beat,
                        first_of_beat: k == 0,
                    }
                })
                .collect(),
        );
    }
    let render_beat = |clips: Vec<Clip>| render_beat(ctx, &pipeline, &production, clips);
    let rendering = stream::iter(per_beat)
        .map(render_beat)
        .buffered(pipeline.parallel_chunks.max(1))
        .try_collect::<Vec<Vec<String>>>();
    let rendered = tokio::select! {
        rendered = rendering => rendered?,
        () = ctx.cancelled() => return Err(StepError::retryable("stopped", "the attempt was stopped")),
    };
    production.chunks = rendered.into_iter().flatten().collect();
    Ok(production.paid(ctx, Phase::GeneratingChunks, cost))
}

/// Renders a beat's clips one after another, each memoized: the first from the beat's still,
/// each later one from the last frame of the clip before.
async fn render_beat(
    ctx: &StepContext,
    pipeline: &Pipeline,
    production: &Production,
    clips: Vec<Clip>,
) -> Result<Vec<String>, StepError> {
    let mut keys = Vec::with_capacity(clips.len());
    let mut previous_last: Option<String> = None;
    for clip in clips {
        let name = format!("chunk-{:03}", clip.index + 1);
        let clip_key = media_key(ctx, &format!("chunks/{name}.mp4"));
        let last_key = media_key(ctx, &format!("chunks/{name}-last.png"));
        let start = match (&previous_last, clip.first_of_beat) {
            (Some(last), false) => last.clone(),
            _ => production.stills[clip.beat].clone(),
        };
        let camera = beats::find(&production.spec.beats[clip.beat].id)
            .map_or(beats::Camera::Static, |b| b.camera);
        let key = ctx
            .memo(&name, async {
                chunks::render(&pipeline.store, &start, camera, &clip_key, &last_key).await?;
                Ok(clip_key.clone())
            })
            .await?;
        keys.push(key);
        previous_last = Some(last_key);
    }
    Ok(keys)
}

async fn stitching(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let key = media_key(ctx, "stitched.mp4");
    stitch::stitch(&pipeline.store, &production.chunks, &key).await?;
    production.stitched = Some(key);
    Ok(production.paid(ctx, Phase::Stitching, 0.0))
}

async fn adding_music(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let cost = production.afford(Phase::AddingMusic, &pipeline.prices)?;
    let stitched = production
        .stitched
        .clone()
        .ok_or_else(|| StepError::permanent("no_video", "stitching left no video"))?;
    let (mood, seconds) = (production.spec.style.mood, production.spec.duration);
    let wav =
        tokio::task::spawn_blocking(move || music::wav(&music::compose(mood, seconds as f32)))
            .await
            .map_err(|e| StepError::retryable("compose", e.to_string()))?;
    let music_key = media_key(ctx, "music.wav");
    pipeline
        .store
        .put(&music_key, &wav)
        .await
        .map_err(storage_error)?;
    let key = media_key(ctx, "final.mp4");
    music::mux(&pipeline.store, &stitched, &music_key, seconds, &key).await?;
    production.final_video = Some(key);
    Ok(production.paid(ctx, Phase::AddingMusic, cost))
}
