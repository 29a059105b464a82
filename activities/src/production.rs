//! The production: the video as it is made, the checkpoint each phase of the pipeline reads and
//! returns with its part added, and the video's budget check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slate_engine::{Artifact, StepContext, StepError};

use crate::{media::voice::Speech, phase::Phase, spec::Spec};

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
    #[serde(default)]
    pub final_video: Option<Artifact>,
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
