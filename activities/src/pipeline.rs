//! The video workflow: the five phases as durable steps of the engine. Each step reads the
//! production so far (the previous step's checkpoint), checks the budget before spending, does its
//! work with the configured provider (embedded unless a cloud one is configured), and returns the
//! production with its part added.

use std::{collections::BTreeMap, future::Future, sync::Arc};

use ab_glyph::FontArc;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use futures::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use slate_engine::{Step, StepContext, StepError, Workflow};

use crate::{
    beats, chunks,
    chunks::storage_error,
    cost::{default_budget, Prices},
    music,
    phase::Phase,
    plan::{self, Request},
    projection::Projection,
    providers::{openai::OpenAiPlanner, replicate::Replicate},
    spec::{Spec, CHUNK_SECONDS},
    stitch,
    storage::MediaStore,
    storyboard,
};

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

async fn planning(
    ctx: &StepContext,
    pipeline: &Pipeline,
    request: Request,
) -> Result<Production, StepError> {
    let duration = request.duration.unwrap_or(plan::DEFAULT_DURATION);
    let budget = request
        .max_cost_usd
        .unwrap_or_else(|| default_budget(duration));
    let cost = pipeline.providers.prices().phase(Phase::Planning, None);
    afford(0.0, cost, budget, Phase::Planning)?;
    let spec = match &pipeline.providers.planner {
        Some(planner) => planner.plan(&request).await?,
        None => plan::embedded(&request),
    };
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
    let cost = production.afford(Phase::Storyboarding, &pipeline.providers.prices())?;
    let mut stills = Vec::with_capacity(production.spec.beats.len());
    for index in 0..production.spec.beats.len() {
        let key = media_key(ctx, &format!("stills/beat-{:02}.png", index + 1));
        let still = ctx
            .memo(&format!("still-{:02}", index + 1), async {
                match &pipeline.providers.images {
                    Some(cloud) => {
                        cloud_still(ctx, &pipeline, cloud, &production.spec, index, &key).await?
                    }
                    None => embedded_still(&pipeline, &production.spec, index, &key).await?,
                }
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
    let cost = production.afford(Phase::GeneratingChunks, &pipeline.providers.prices())?;
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
        let prompt = &production.spec.beats[clip.beat].prompt;
        let key = ctx
            .memo(&name, async {
                match &pipeline.providers.clips {
                    Some(cloud) => {
                        let image = read(pipeline, &start).await?;
                        let input = json!({
                            "prompt": prompt,
                            "first_frame_image": format!("data:image/png;base64,{}", BASE64.encode(image)),
                            "duration": CHUNK_SECONDS,
                        });
                        let source = format!("{clip_key}.source");
                        cloud_output(ctx, pipeline, cloud, &name, &input, &source).await?;
                        chunks::normalize(&pipeline.store, &source, &clip_key, &last_key).await?;
                    }
                    None => chunks::render(&pipeline.store, &start, camera, &clip_key, &last_key).await?,
                }
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
    let cost = production.afford(Phase::AddingMusic, &pipeline.providers.prices())?;
    let stitched = production
        .stitched
        .clone()
        .ok_or_else(|| StepError::permanent("no_video", "stitching left no video"))?;
    let (mood, seconds) = (production.spec.style.mood, production.spec.duration);
    let music_key = match &pipeline.providers.music {
        Some(cloud) => {
            let input = json!({"prompt": music::description(mood), "duration": seconds});
            let key = media_key(ctx, "music.source");
            cloud_output(ctx, &pipeline, cloud, "track", &input, &key).await?;
            key
        }
        None => {
            let key = media_key(ctx, "music.wav");
            let compose = move || music::wav(&music::compose(mood, seconds as f32));
            let wav = tokio::task::spawn_blocking(compose)
                .await
                .map_err(|e| StepError::retryable("compose", e.to_string()))?;
            pipeline
                .store
                .put(&key, &wav)
                .await
                .map_err(storage_error)?;
            key
        }
    };
    let key = media_key(ctx, "final.mp4");
    music::mux(&pipeline.store, &stitched, &music_key, seconds, &key).await?;
    production.final_video = Some(key);
    Ok(production.paid(ctx, Phase::AddingMusic, cost))
}

/// A still drawn by the embedded storyboard artist.
async fn embedded_still(
    pipeline: &Pipeline,
    spec: &Spec,
    index: usize,
    key: &str,
) -> Result<(), StepError> {
    let (spec, font) = (spec.clone(), pipeline.font.clone());
    let png = tokio::task::spawn_blocking(move || storyboard::render(&spec, index, &font))
        .await
        .map_err(|e| StepError::retryable("render", e.to_string()))?;
    pipeline.store.put(key, &png).await.map_err(storage_error)
}

/// A still made by the image model, fitted to 1280x720.
async fn cloud_still(
    ctx: &StepContext,
    pipeline: &Pipeline,
    cloud: &CloudModel,
    spec: &Spec,
    index: usize,
    key: &str,
) -> Result<(), StepError> {
    let beat = &spec.beats[index];
    let input = json!({
        "prompt": format!("{} Palette {}; {}.", beat.prompt, spec.style.color_palette.join(", "), spec.style.lighting),
        "width": crate::spec::WIDTH,
        "height": crate::spec::HEIGHT,
    });
    let source = format!("{key}.source");
    cloud_output(
        ctx,
        pipeline,
        cloud,
        &format!("still-{:02}", index + 1),
        &input,
        &source,
    )
    .await?;
    chunks::fit_still(&pipeline.store, &source, key).await
}

/// Runs `cloud`'s model on `input` for the part `name` and stores its first output as `key`.
async fn cloud_output(
    ctx: &StepContext,
    pipeline: &Pipeline,
    cloud: &CloudModel,
    name: &str,
    input: &serde_json::Value,
    key: &str,
) -> Result<(), StepError> {
    let urls = cloud.api.run(ctx, name, &cloud.model, input).await?;
    let bytes = cloud.api.download(&urls[0]).await?;
    pipeline.store.put(key, &bytes).await.map_err(storage_error)
}

async fn read(pipeline: &Pipeline, key: &str) -> Result<Vec<u8>, StepError> {
    let path = pipeline.store.path(key).map_err(storage_error)?;
    tokio::fs::read(path)
        .await
        .map_err(|e| StepError::retryable("storage", e.to_string()))
}
