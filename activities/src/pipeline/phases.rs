//! The five phases' work: planning the spec, drawing a still per beat, rendering each beat's
//! speech and clips (each memoized) with its words laid over them, stitching the clips, and
//! mixing the soundtrack under the voice-over. Each phase stores what it makes as artifacts of
//! its attempt, and works on local copies in the attempt's scratch folder.

use std::{collections::BTreeMap, sync::Arc};

use serde::{Deserialize, Serialize};
use slate_engine::{Artifact, StepContext, StepError};

use super::shared::Pipeline;
use crate::{
    cost::default_budget,
    design::layers::{beat_layers, Look, Transition},
    design::palette::Colours,
    library::beats,
    media::{mix, stitch, voice, voice::Speech},
    phase::Phase,
    plan::{self, Request},
    production::{afford, Assets, BeatMedia, Kept, Production},
    providers::{embedded::image_file, ClipJob},
    review::{Approval, Gate},
    spec::{Spec, CHUNK_SECONDS},
    storage::Scratch,
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
        speech: Vec::new(),
        assets: request.assets,
        stitched: None,
        music: None,
        soundtrack: None,
        final_video: None,
        review: request.review,
        kept: Kept::default(),
    };
    pipeline.await_review(ctx, &production, Phase::Planning);
    Ok(production.paid(ctx, Phase::Planning, cost))
}

pub(super) async fn storyboarding(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    mut production: Production,
) -> Result<Production, StepError> {
    let ctx = &ctx;
    // The plan as the client edited it at the planning gate, if they did.
    let approval: Option<Approval> = ctx.signal(Gate::Planning.signal()).await?;
    if let Some(spec) = approval.and_then(|a| a.spec) {
        production.spec = spec;
    }
    let cost = pipeline
        .afford(ctx, &production, Phase::Storyboarding)
        .await?;
    let scratch = pipeline.scratch()?;
    let mut stills = Vec::with_capacity(production.spec.beats.len());
    for index in 0..production.spec.beats.len() {
        if let Some(kept) = production.kept_still(index) {
            stills.push(kept.clone());
            continue;
        }
        let name = format!("still-{:02}", index + 1);
        let still = ctx
            .memo(&name, async {
                let key = ctx.artifact(&format!("{name}.png"));
                let images = &pipeline.providers.images;
                let product = production.assets.product_image.as_deref();
                images
                    .still(ctx, &scratch, &production.spec, index, product, key.key())
                    .await?;
                Ok(key)
            })
            .await?;
        stills.push(still);
    }
    production.stills = stills;
    pipeline.await_review(ctx, &production, Phase::Storyboarding);
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
    /// The spec and the beat's place in it, for its words, speech and transitions; none in
    /// children started before words were laid over the clips.
    #[serde(default)]
    spec: Option<Spec>,
    #[serde(default)]
    index: usize,
    #[serde(default)]
    assets: Assets,
}

/// A child's result as it was journaled: children that finished before beats had speech
/// returned their clips alone.
#[derive(Deserialize)]
#[serde(untagged)]
enum Journaled {
    Made(BeatMedia),
    Clips(Vec<Artifact>),
}

impl From<Journaled> for BeatMedia {
    fn from(journaled: Journaled) -> Self {
        match journaled {
            Journaled::Made(made) => made,
            Journaled::Clips(clips) => BeatMedia {
                clips,
                speech: None,
            },
        }
    }
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
    let mut to_make = Vec::new();
    let mut first_clip = 0;
    for (index, beat) in production.spec.beats.iter().enumerate() {
        let clips = (beat.duration / CHUNK_SECONDS) as usize;
        if production.kept_beat(index).is_none() {
            let camera = beats::find(&beat.id).map_or(beats::Camera::Static, |b| b.camera);
            let job = BeatClips {
                first_clip,
                clips,
                prompt: beat.prompt.clone(),
                camera,
                still: production.stills[index].clone(),
                spec: Some(production.spec.clone()),
                index,
                assets: production.assets.clone(),
            };
            to_make.push((format!("beat-{:02}", index + 1), job));
        }
        first_clip += clips;
    }
    let made: Vec<Journaled> = ctx.fan_out(RENDER_BEAT, to_make).await?;
    let mut made = made.into_iter().map(BeatMedia::from);
    let (mut chunks, mut speech) = (Vec::new(), Vec::new());
    for index in 0..production.spec.beats.len() {
        let beat = match production.kept_beat(index) {
            Some(kept) => kept.clone(),
            None => made.next().expect("a child per beat not kept"),
        };
        chunks.extend(beat.clips);
        speech.push(beat.speech);
    }
    production.chunks = chunks;
    production.speech = speech;
    Ok(production.paid(ctx, Phase::GeneratingChunks, cost))
}

/// A rendered clip and its last frame, which the beat's next clip starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rendered {
    clip: Artifact,
    last_frame: Artifact,
}

/// Renders a beat's speech (when the spec asks for a voice-over or captions), then its clips
/// one after another, each memoized: the first from the beat's still, each later one from the
/// last frame of the clip before, all with the beat's words and transitions laid over them.
pub(super) async fn render_beat(
    ctx: StepContext,
    pipeline: Arc<Pipeline>,
    beat: BeatClips,
) -> Result<BeatMedia, StepError> {
    let ctx = &ctx;
    let scratch = pipeline.scratch()?;
    let (speech, look) = match &beat.spec {
        Some(spec) => {
            let speech = speech(ctx, &scratch, spec, beat.index).await?;
            let look = look(&scratch, spec, &beat, speech.as_ref()).await?;
            (speech, look)
        }
        None => (None, Look::bare()),
    };
    let mut rendered: Vec<Rendered> = Vec::with_capacity(beat.clips);
    for (k, index) in (beat.first_clip..beat.first_clip + beat.clips).enumerate() {
        let name = format!("chunk-{:03}", index + 1);
        let start = rendered
            .last()
            .map_or(&beat.still, |before| &before.last_frame);
        let overlay = look.overlay(k, beat.clips);
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
                    size: look.size,
                    overlay: &overlay,
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
    Ok(BeatMedia {
        clips: rendered.into_iter().map(|r| r.clip).collect(),
        speech,
    })
}

/// How the beat's clips look: its words (and captions, when on) drawn as layers in the scratch
/// folder, with the client's logo on the end card.
async fn look(
    scratch: &Scratch,
    spec: &Spec,
    beat: &BeatClips,
    speech: Option<&Speech>,
) -> Result<Look, StepError> {
    let cues = match speech {
        Some(speech) if spec.captions => speech.cues.clone(),
        _ => Vec::new(),
    };
    let logo = match &beat.assets.logo {
        Some(key) => Some(image_file(&scratch.store().get(key).await?)?),
        None => None,
    };
    let photo = beat.assets.product_image.is_some();
    let (owned, index, folder) = (spec.clone(), beat.index, scratch.path(""));
    let draw = move || beat_layers(&owned, index, &cues, logo.as_ref(), photo, &folder);
    let layers = tokio::task::spawn_blocking(draw)
        .await
        .map_err(|e| StepError::retryable("render", e.to_string()))??;
    let (enter, leave) = Transition::of(spec, beat.index);
    Ok(Look {
        layers,
        size: spec.size(),
        colours: Colours::of(spec),
        enter,
        leave,
    })
}

/// Beat `index`'s speech, memoized, when the spec asks for a voice-over or captions and the
/// beat has a line.
async fn speech(
    ctx: &StepContext,
    scratch: &Scratch,
    spec: &Spec,
    index: usize,
) -> Result<Option<Speech>, StepError> {
    let beat = &spec.beats[index];
    if !(spec.voiceover || spec.captions) || beat.voiceover.trim().is_empty() {
        return Ok(None);
    }
    let speech = ctx
        .memo("speech", async {
            let audio = ctx.artifact("speech.wav");
            let cues = voice::speak(scratch, &beat.voiceover, beat.duration, audio.key()).await?;
            Ok(Speech { audio, cues })
        })
        .await?;
    Ok(Some(speech))
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
    let spec = &production.spec;
    let (mood, seconds) = (spec.style.mood, spec.duration);
    let scratch = pipeline.scratch()?;
    let track = match &production.kept.music {
        Some(kept) => kept.clone(),
        None => {
            let music = &pipeline.providers.music;
            music.track(ctx, &scratch, mood, seconds).await?
        }
    };
    let soundtrack = match &production.kept.soundtrack {
        Some(kept) => kept.clone(),
        None => {
            let lines: Vec<mix::Line> = match spec.voiceover {
                true => spec
                    .beats
                    .iter()
                    .zip(&production.speech)
                    .filter_map(|(beat, speech)| {
                        speech.as_ref().map(|speech| mix::Line {
                            start: beat.start as f32,
                            audio: speech.audio.key(),
                            cues: &speech.cues,
                        })
                    })
                    .collect(),
                false => Vec::new(),
            };
            let key = ctx.artifact("soundtrack.m4a");
            mix::soundtrack(&scratch, track.key(), &lines, seconds, key.key()).await?;
            key
        }
    };
    let key = ctx.artifact("final.mp4");
    mix::mux(
        &scratch,
        stitched.key(),
        soundtrack.key(),
        seconds,
        key.key(),
    )
    .await?;
    production.music = Some(track);
    production.soundtrack = Some(soundtrack);
    production.final_video = Some(key);
    Ok(production.paid(ctx, Phase::AddingMusic, cost))
}
