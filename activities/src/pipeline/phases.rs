//! The five phases' work: planning the spec, drawing a still per beat, rendering the clips
//! (each one memoized), stitching them, and adding the soundtrack. Each phase stores what it
//! makes as artifacts of its attempt, and works on local copies in the attempt's scratch folder.

use std::{collections::BTreeMap, sync::Arc};

use serde::{Deserialize, Serialize};
use slate_engine::{Artifact, StepContext, StepError};

use super::shared::Pipeline;
use crate::{
    cost::default_budget,
    library::beats,
    media::{music, stitch},
    phase::Phase,
    plan::{self, Request},
    production::{afford, Production},
    providers::ClipJob,
    spec::CHUNK_SECONDS,
};

pub(super) async fn planning(
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
    pipeline.reserve(ctx, Phase::Planning, cost).await?;
    let spec = pipeline.providers.planner.plan(&request).await?;
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

pub(super) async fn storyboarding(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let cost = pipeline
        .afford(ctx, &production, Phase::Storyboarding)
        .await?;
    let scratch = pipeline.scratch()?;
    let mut stills = Vec::with_capacity(production.spec.beats.len());
    for index in 0..production.spec.beats.len() {
        let name = format!("still-{:02}", index + 1);
        let still = ctx
            .memo(&name, async {
                let key = ctx.artifact(&format!("{name}.png"));
                let images = &pipeline.providers.images;
                images
                    .still(ctx, &scratch, &production.spec, index, key.key())
                    .await?;
                Ok(key)
            })
            .await?;
        stills.push(still);
    }
    production.stills = stills;
    Ok(production.paid(ctx, Phase::Storyboarding, cost))
}

/// The clips of one beat, which one child of generating_chunks renders in order (each clip
/// starts from the last frame of the one before, so a beat's clips cannot render apart), while
/// the beats render in parallel on any workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BeatClips {
    /// The index in the video of the beat's first clip.
    first_clip: usize,
    clips: usize,
    prompt: String,
    camera: beats::Camera,
    /// The beat's still, which its first clip starts from.
    still: Artifact,
}

/// The child function that renders a beat's clips.
pub(super) const RENDER_BEAT: &str = "render_beat";

pub(super) async fn generating_chunks(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let cost = pipeline
        .afford(ctx, &production, Phase::GeneratingChunks)
        .await?;
    let mut beats_clips = Vec::with_capacity(production.spec.beats.len());
    let mut first_clip = 0;
    for (index, beat) in production.spec.beats.iter().enumerate() {
        let clips = (beat.duration / CHUNK_SECONDS) as usize;
        let camera = beats::find(&beat.id).map_or(beats::Camera::Static, |b| b.camera);
        let job = BeatClips {
            first_clip,
            clips,
            prompt: beat.prompt.clone(),
            camera,
            still: production.stills[index].clone(),
        };
        beats_clips.push((format!("beat-{:02}", index + 1), job));
        first_clip += clips;
    }
    let rendered: Vec<Vec<Artifact>> = ctx.fan_out(RENDER_BEAT, beats_clips).await?;
    production.chunks = rendered.into_iter().flatten().collect();
    Ok(production.paid(ctx, Phase::GeneratingChunks, cost))
}

/// A rendered clip and its last frame, which the beat's next clip starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rendered {
    clip: Artifact,
    last_frame: Artifact,
}

/// Renders a beat's clips one after another, each memoized: the first from the beat's still,
/// each later one from the last frame of the clip before. Returns the clips, in order.
pub(super) async fn render_beat(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    beat: BeatClips,
) -> Result<Vec<Artifact>, StepError> {
    let ctx = &ctx;
    let scratch = pipeline.scratch()?;
    let mut rendered: Vec<Rendered> = Vec::with_capacity(beat.clips);
    for index in beat.first_clip..beat.first_clip + beat.clips {
        let name = format!("chunk-{:03}", index + 1);
        let start = rendered
            .last()
            .map_or(&beat.still, |before| &before.last_frame);
        let made = ctx
            .memo(&format!("{name}-rendered"), async {
                let made = Rendered {
                    clip: ctx.artifact(&format!("{name}.mp4")),
                    last_frame: ctx.artifact(&format!("{name}-last.png")),
                };
                let job = ClipJob {
                    name: &name,
                    prompt: &beat.prompt,
                    camera: beat.camera,
                    start: start.key(),
                    clip: made.clip.key(),
                    last_frame: made.last_frame.key(),
                };
                pipeline.providers.clips.clip(ctx, &scratch, job).await?;
                Ok(made)
            })
            .await?;
        rendered.push(made);
    }
    Ok(rendered.into_iter().map(|r| r.clip).collect())
}

pub(super) async fn stitching(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let scratch = pipeline.scratch()?;
    let key = ctx.artifact("stitched.mp4");
    let clips: Vec<&str> = production.chunks.iter().map(Artifact::key).collect();
    stitch::stitch(&scratch, &clips, key.key()).await?;
    production.stitched = Some(key);
    Ok(production.paid(ctx, Phase::Stitching, 0.0))
}

pub(super) async fn adding_music(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let cost = pipeline
        .afford(ctx, &production, Phase::AddingMusic)
        .await?;
    let stitched = production
        .stitched
        .clone()
        .ok_or_else(|| StepError::permanent("no_video", "stitching left no video"))?;
    let (mood, seconds) = (production.spec.style.mood, production.spec.duration);
    let scratch = pipeline.scratch()?;
    let music = &pipeline.providers.music;
    let track = music.track(ctx, &scratch, mood, seconds).await?;
    let key = ctx.artifact("final.mp4");
    music::mux(&scratch, stitched.key(), track.key(), seconds, key.key()).await?;
    production.final_video = Some(key);
    Ok(production.paid(ctx, Phase::AddingMusic, cost))
}
