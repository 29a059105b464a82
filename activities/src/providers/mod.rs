//! The providers that make each phase's media, one trait per kind: a [`Planner`], an
//! [`ImageModel`], a [`VideoModel`] and a [`MusicModel`]. Each kind has an embedded provider
//! (offline and free, [`embedded`]) and a cloud one, opt-in by configuration: an OpenAI-compatible
//! chat API plans ([`openai`]), models of a Replicate-style predictions API draw, film and score
//! ([`predictions`]). [`Providers`] holds the one chosen for each kind, once, at start-up.
//!
//! Cloud failures are classified for the engine: 429 (honouring Retry-After), 5xx and timeouts are
//! retryable; other 4xx are permanent. API keys are [`Secret`]s, never printed.

pub mod embedded;
pub mod fetch;
pub mod http;
pub mod openai;
pub mod predictions;
pub mod profiles;
pub mod replicate;

use std::sync::Arc;

use async_trait::async_trait;
use slate_engine::{Artifact, StepContext, StepError};

pub use crate::media::chunks::ClipJob;
pub use http::Secret;

use crate::{cost::Prices, library::mood::Mood, plan::Request, spec::Spec, storage::Scratch};

/// Turns a client's request into a spec.
#[async_trait]
pub trait Planner: Send + Sync {
    /// USD per plan.
    fn price(&self) -> f64;

    async fn plan(&self, request: &Request) -> Result<Spec, StepError>;
}

/// Draws the stills of the storyboard.
#[async_trait]
pub trait ImageModel: Send + Sync {
    /// USD per still.
    fn price(&self) -> f64;

    /// Stores the still of beat `index` of `spec` as `key`: a PNG of the spec's size, without
    /// words (they are laid over the clips). `product` is the key of the client's product
    /// photo, when there is one.
    async fn still(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        spec: &Spec,
        index: usize,
        product: Option<&str>,
        key: &str,
    ) -> Result<(), StepError>;
}

/// Films the clips.
#[async_trait]
pub trait VideoModel: Send + Sync {
    /// USD per 5 s clip.
    fn price(&self) -> f64;

    /// Stores the clip as `job.clip` (`job.size`, 30 fps, exactly 5 s, H.264 without sound,
    /// with `job.overlay` drawn over it) and the last frame of its picture, without the
    /// overlay, as `job.last_frame`.
    async fn clip(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        job: ClipJob<'_>,
    ) -> Result<(), StepError>;
}

/// Writes the soundtrack.
#[async_trait]
pub trait MusicModel: Send + Sync {
    /// USD per track.
    fn price(&self) -> f64;

    /// Stores a track of `seconds` in `mood` as an artifact of the attempt, and returns it.
    async fn track(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        mood: Mood,
        seconds: u32,
    ) -> Result<Artifact, StepError>;
}

/// The provider of each kind, chosen at start-up.
#[derive(Clone)]
pub struct Providers {
    pub planner: Arc<dyn Planner>,
    pub images: Arc<dyn ImageModel>,
    pub clips: Arc<dyn VideoModel>,
    pub music: Arc<dyn MusicModel>,
}

impl Providers {
    /// The embedded providers only: free and offline.
    pub fn embedded() -> Result<Self, StepError> {
        Ok(Self {
            planner: Arc::new(embedded::EmbeddedPlanner),
            images: Arc::new(embedded::EmbeddedImages),
            clips: Arc::new(embedded::EmbeddedClips),
            music: Arc::new(embedded::EmbeddedMusic),
        })
    }

    /// What each phase costs with these providers.
    pub fn prices(&self) -> Prices {
        Prices {
            per_plan: self.planner.price(),
            per_image: self.images.price(),
            per_chunk: self.clips.price(),
            per_track: self.music.price(),
        }
    }
}
