//! The embedded providers: the prompt-reading planner, the storyboard artist, the camera-move clip
//! maker and the SoundFont composer. Offline, deterministic and free.

use async_trait::async_trait;
use slate_engine::{Artifact, StepContext, StepError};

use super::{ClipJob, ImageModel, MusicModel, Planner, VideoModel};
use crate::{
    design::plate,
    library::mood::Mood,
    media::{chunks, music},
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

/// Draws each still from the spec ([`plate::render`]), with the client's product photo.
pub struct EmbeddedImages;

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
        product: Option<&str>,
        key: &str,
    ) -> Result<(), StepError> {
        let product = match product {
            Some(product) => Some(image_file(&scratch.store().get(product).await?)?),
            None => None,
        };
        let spec = spec.clone();
        let draw = move || {
            let still = plate::render(&spec, index, product.as_ref());
            let mut png = Vec::new();
            still
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .map(|()| png)
        };
        let png = tokio::task::spawn_blocking(draw)
            .await
            .map_err(|e| StepError::retryable("render", e.to_string()))?
            .map_err(|e| StepError::retryable("render", e.to_string()))?;
        Ok(scratch.store().put(key, png).await?)
    }
}

/// The image in `bytes`, or a permanent error: a client's image that cannot be read will not
/// read on a retry.
pub fn image_file(bytes: &[u8]) -> Result<image::RgbaImage, StepError> {
    image::load_from_memory(bytes)
        .map(|image| image.to_rgba8())
        .map_err(|e| StepError::permanent("image_unreadable", e.to_string()))
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
        chunks::render(scratch, &job).await
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
        let compose = move || {
            music::compose(mood, seconds as f32).map(|(left, right)| music::wav(&left, &right))
        };
        let wav = tokio::task::spawn_blocking(compose)
            .await
            .map_err(|e| StepError::retryable("compose", e.to_string()))??;
        scratch.store().put(key.key(), wav).await?;
        Ok(key)
    }
}
