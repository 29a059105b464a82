//! The production: the video as it is made, the checkpoint each phase of the pipeline reads and
//! returns with its part added, what a version keeps of the one it was made from, and the
//! video's budget check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slate_engine::{Artifact, StepContext, StepError};

use crate::{
    media::voice::Speech,
    phase::Phase,
    review::Gate,
    spec::{Spec, CHUNK_SECONDS},
};

/// The video as it is made: each step's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Production {
    pub spec: Spec,
    pub budget_usd: f64,
    /// USD per phase done so far.
    pub costs: BTreeMap<String, f64>,
    /// The stills, one per beat.
    #[serde(default)]
    pub stills: Vec<Artifact>,
    /// The clips, in order.
    #[serde(default)]
    pub chunks: Vec<Artifact>,
    /// Each beat's speech (its voice-over and captions), when the spec asks for either.
    #[serde(default)]
    pub speech: Vec<Option<Speech>>,
    /// The client's images the video shows.
    #[serde(default)]
    pub assets: Assets,
    #[serde(default)]
    pub stitched: Option<Artifact>,
    /// The music track under the video.
    #[serde(default)]
    pub music: Option<Artifact>,
    /// The music mixed under the voice-over, normalized: the video's sound.
    #[serde(default)]
    pub soundtrack: Option<Artifact>,
    #[serde(default)]
    pub final_video: Option<Artifact>,
    /// The review gates the client asked for (each phase's is consulted when it ends).
    #[serde(default)]
    pub review: Vec<Gate>,
    /// What this version keeps of the version it was made from.
    #[serde(default)]
    pub kept: Kept,
}

impl Production {
    pub(crate) fn spent(&self) -> f64 {
        self.costs.values().sum()
    }

    pub(crate) fn paid(mut self, ctx: &StepContext, phase: Phase, cost: f64) -> Self {
        ctx.add_cost(cost);
        self.costs.insert(phase.name().to_owned(), cost);
        self
    }

    /// Each beat's clips and speech, in order (none before generating_chunks has made them).
    pub fn beat_media(&self) -> Vec<BeatMedia> {
        let mut clips = self.chunks.iter();
        let made = self.spec.beats.iter().enumerate().map(|(index, beat)| {
            let count = (beat.duration / CHUNK_SECONDS) as usize;
            BeatMedia {
                clips: clips.by_ref().take(count).cloned().collect(),
                speech: self.speech.get(index).cloned().flatten(),
            }
        });
        let made: Vec<BeatMedia> = made.collect();
        match self.chunks.len() == self.spec.chunk_count() {
            true => made,
            false => Vec::new(),
        }
    }

    /// The still of beat `index` when this version keeps it.
    pub(crate) fn kept_still(&self, index: usize) -> Option<&Artifact> {
        self.kept.stills.get(index).and_then(Option::as_ref)
    }

    /// The clips and speech of beat `index` when this version keeps them.
    pub(crate) fn kept_beat(&self, index: usize) -> Option<&BeatMedia> {
        self.kept.beats.get(index).and_then(Option::as_ref)
    }
}

/// What one beat is made of after generating_chunks: its clips, in order, and its speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeatMedia {
    pub clips: Vec<Artifact>,
    pub speech: Option<Speech>,
}

/// What a new version keeps of the version it was made from: each part kept is neither made
/// nor paid for again. Empty for a video's first version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// Per beat, its still when kept.
    #[serde(default)]
    pub stills: Vec<Option<Artifact>>,
    /// Per beat, its clips and speech when kept.
    #[serde(default)]
    pub beats: Vec<Option<BeatMedia>>,
    /// The music track, when kept.
    #[serde(default)]
    pub music: Option<Artifact>,
    /// The soundtrack, when kept (the music and the voice-over are).
    #[serde(default)]
    pub soundtrack: Option<Artifact>,
}

/// The client's images a video shows: the product photo in the stills' product slot, the logo
/// on the end card. Each is a key in the media store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assets {
    #[serde(default)]
    pub product_image: Option<String>,
    #[serde(default)]
    pub logo: Option<String>,
}

pub(crate) fn afford(spent: f64, cost: f64, budget: f64, phase: Phase) -> Result<(), StepError> {
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
