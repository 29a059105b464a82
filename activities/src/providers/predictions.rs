//! Models of a Replicate-style predictions API behind the image, video and music traits: each
//! asks its model with the inputs of its kind, stores the first output, and fits it to the
//! pipeline's format.

use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use serde_json::{json, Value};
use slate_engine::{StepContext, StepError};

use super::{replicate::Replicate, ClipJob, ImageModel, MusicModel, VideoModel};
use crate::{
    library::mood::Mood,
    media::{chunks, music},
    spec::{Spec, CHUNK_SECONDS, HEIGHT, WIDTH},
    storage::MediaStore,
};

/// A model of the predictions API and what one of its outputs costs.
#[derive(Debug, Clone)]
pub struct PredictionModel {
    pub api: Replicate,
    /// `owner/name`.
    pub model: String,
    /// USD per output.
    pub price: f64,
}

impl PredictionModel {
    /// Runs the model on `input` for the part `name` of the step and stores its first output as
    /// `key`.
    async fn output(
        &self,
        ctx: &StepContext,
        store: &MediaStore,
        name: &str,
        input: &Value,
        key: &str,
    ) -> Result<(), StepError> {
        let urls = self.api.run(ctx, name, &self.model, input).await?;
        let bytes = self.api.download(&urls[0]).await?;
        store.put(key, &bytes).await.map_err(StepError::from)
    }
}

/// An image model: a still per beat, fitted to 1280x720.
pub struct PredictionImages(pub PredictionModel);

#[async_trait]
impl ImageModel for PredictionImages {
    fn price(&self) -> f64 {
        self.0.price
    }

    async fn still(
        &self,
        ctx: &StepContext,
        store: &MediaStore,
        spec: &Spec,
        index: usize,
        key: &str,
    ) -> Result<(), StepError> {
        let beat = &spec.beats[index];
        let input = json!({
            "prompt": format!("{} Palette {}; {}.", beat.prompt, spec.style.color_palette.join(", "), spec.style.lighting),
            "width": WIDTH,
            "height": HEIGHT,
        });
        let source = format!("{key}.source");
        let name = format!("still-{:02}", index + 1);
        self.0.output(ctx, store, &name, &input, &source).await?;
        chunks::fit_still(store, &source, key).await
    }
}

/// An image-to-video model: a clip from its first frame, fitted to the pipeline's format.
pub struct PredictionClips(pub PredictionModel);

#[async_trait]
impl VideoModel for PredictionClips {
    fn price(&self) -> f64 {
        self.0.price
    }

    async fn clip(
        &self,
        ctx: &StepContext,
        store: &MediaStore,
        job: ClipJob<'_>,
    ) -> Result<(), StepError> {
        let image = tokio::fs::read(store.path(job.start)?)
            .await
            .map_err(|e| StepError::retryable("storage", e.to_string()))?;
        let input = json!({
            "prompt": job.prompt,
            "first_frame_image": format!("data:image/png;base64,{}", BASE64.encode(image)),
            "duration": CHUNK_SECONDS,
        });
        let source = format!("{}.source", job.clip);
        self.0.output(ctx, store, job.name, &input, &source).await?;
        chunks::normalize(store, &source, job.clip, job.last_frame).await
    }
}

/// A music model: a track described by the mood.
pub struct PredictionMusic(pub PredictionModel);

#[async_trait]
impl MusicModel for PredictionMusic {
    fn price(&self) -> f64 {
        self.0.price
    }

    async fn track(
        &self,
        ctx: &StepContext,
        store: &MediaStore,
        mood: Mood,
        seconds: u32,
        stem: &str,
    ) -> Result<String, StepError> {
        let input = json!({"prompt": music::description(mood), "duration": seconds});
        let key = format!("{stem}.source");
        self.0.output(ctx, store, "track", &input, &key).await?;
        Ok(key)
    }
}
