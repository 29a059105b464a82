//! The embedded providers: the prompt-reading planner, the storyboard artist, the camera-move clip
//! maker and the composer. Offline, deterministic and free.

use ab_glyph::FontArc;
use async_trait::async_trait;
use slate_engine::{Artifact, StepContext, StepError};

use super::{ClipJob, ImageModel, MusicModel, Planner, VideoModel};
use crate::{
    library::mood::Mood,
    media::{chunks, music, storyboard},
    plan::{self, Request},
    spec::Spec,
    storage::Scratch,
};

/// Plans from what it reads in the prompt ([`plan::embedded`]).
pub struct EmbeddedPlanner;

#[async_trait]
impl Planner for EmbeddedPlanner {
    fn price(&self) -> f64 {
        0.0
    }

    async fn plan(&self, request: &Request) -> Result<Spec, StepError> {
        Ok(plan::embedded(request))
    }
}

/// Draws each still from the spec ([`storyboard::render`]).
pub struct EmbeddedImages {
    font: FontArc,
}

impl EmbeddedImages {
    /// Loads the font the stills are lettered with.
    pub fn new() -> Result<Self, StepError> {
        Ok(Self {
            font: storyboard::load_font()?,
        })
    }
}

#[async_trait]
impl ImageModel for EmbeddedImages {
    fn price(&self) -> f64 {
        0.0
    }

    async fn still(
        &self,
        _: &StepContext,
        scratch: &Scratch,
        spec: &Spec,
        index: usize,
        key: &str,
    ) -> Result<(), StepError> {
        let (spec, font) = (spec.clone(), self.font.clone());
        let png = tokio::task::spawn_blocking(move || storyboard::render(&spec, index, &font))
            .await
            .map_err(|e| StepError::retryable("render", e.to_string()))?;
        Ok(scratch.store().put(key, png).await?)
    }
}

/// Moves the camera over the start image ([`chunks::render`]).
pub struct EmbeddedClips;

#[async_trait]
impl VideoModel for EmbeddedClips {
    fn price(&self) -> f64 {
        0.0
    }

    async fn clip(
        &self,
        _: &StepContext,
        scratch: &Scratch,
        job: ClipJob<'_>,
    ) -> Result<(), StepError> {
        chunks::render(scratch, job.start, job.camera, job.clip, job.last_frame).await
    }
}

/// Composes a track for the mood ([`music::compose`]).
pub struct EmbeddedMusic;

#[async_trait]
impl MusicModel for EmbeddedMusic {
    fn price(&self) -> f64 {
        0.0
    }

    async fn track(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        mood: Mood,
        seconds: u32,
    ) -> Result<Artifact, StepError> {
        let key = ctx.artifact("music.wav");
        let compose = move || music::wav(&music::compose(mood, seconds as f32));
        let wav = tokio::task::spawn_blocking(compose)
            .await
            .map_err(|e| StepError::retryable("compose", e.to_string()))?;
        scratch.store().put(key.key(), wav).await?;
        Ok(key)
    }
}
