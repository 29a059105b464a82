//! The five phases' work: planning the spec, drawing a still per beat, rendering the clips
//! (each one memoized), stitching them, and adding the soundtrack.

use std::{collections::BTreeMap, sync::Arc};

use futures::{stream, StreamExt, TryStreamExt};
use slate_engine::{StepContext, StepError};

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

fn media_key(ctx: &StepContext, name: &str) -> String {
    format!("videos/{}/{name}", ctx.run_id())
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
    let mut stills = Vec::with_capacity(production.spec.beats.len());
    for index in 0..production.spec.beats.len() {
        let key = media_key(ctx, &format!("stills/beat-{:02}.png", index + 1));
        let still = ctx
            .memo(&format!("still-{:02}", index + 1), async {
                let images = &pipeline.providers.images;
                images
                    .still(ctx, &pipeline.store, &production.spec, index, &key)
                    .await?;
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

pub(super) async fn generating_chunks(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    let cost = pipeline
        .afford(ctx, &production, Phase::GeneratingChunks)
        .await?;
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
        let job = ClipJob {
            name: &name,
            prompt,
            camera,
            start: &start,
            clip: &clip_key,
            last_frame: &last_key,
        };
        let key = ctx
            .memo(&name, async {
                pipeline
                    .providers
                    .clips
                    .clip(ctx, &pipeline.store, job)
                    .await?;
                Ok(clip_key.clone())
            })
            .await?;
        keys.push(key);
        previous_last = Some(last_key);
    }
    Ok(keys)
}

pub(super) async fn stitching(
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
    let music = &pipeline.providers.music;
    let music_key = music
        .track(
            ctx,
            &pipeline.store,
            mood,
            seconds,
            &media_key(ctx, "music"),
        )
        .await?;
    let key = media_key(ctx, "final.mp4");
    music::mux(&pipeline.store, &stitched, &music_key, seconds, &key).await?;
    production.final_video = Some(key);
    Ok(production.paid(ctx, Phase::AddingMusic, cost))
}
