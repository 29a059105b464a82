//! Making and reading the pipeline's media with the embedded or the cloud providers.

use serde_json::json;
use slate_engine::{StepContext, StepError};

use super::{CloudModel, Pipeline};
use crate::{media::chunks, media::storyboard, spec::Spec};

/// A still drawn by the embedded storyboard artist.
pub(super) async fn embedded_still(
    pipeline: &Pipeline,
    spec: &Spec,
    index: usize,
    key: &str,
) -> Result<(), StepError> {
    let (spec, font) = (spec.clone(), pipeline.font.clone());
    let png = tokio::task::spawn_blocking(move || storyboard::render(&spec, index, &font))
        .await
        .map_err(|e| StepError::retryable("render", e.to_string()))?;
    pipeline.store.put(key, &png).await.map_err(StepError::from)
}

/// A still made by the image model, fitted to 1280x720.
pub(super) async fn cloud_still(
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
pub(super) async fn cloud_output(
    ctx: &StepContext,
    pipeline: &Pipeline,
    cloud: &CloudModel,
    name: &str,
    input: &serde_json::Value,
    key: &str,
) -> Result<(), StepError> {
    let urls = cloud.api.run(ctx, name, &cloud.model, input).await?;
    let bytes = cloud.api.download(&urls[0]).await?;
    pipeline
        .store
        .put(key, &bytes)
        .await
        .map_err(StepError::from)
}

pub(super) async fn read(pipeline: &Pipeline, key: &str) -> Result<Vec<u8>, StepError> {
    let path = pipeline.store.path(key)?;
    tokio::fs::read(path)
        .await
        .map_err(|e| StepError::retryable("storage", e.to_string()))
}
