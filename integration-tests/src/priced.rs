//! The embedded providers at the prices a test sets: real media, billed like cloud models, so
//! that budgets and monthly caps can be tested offline.

use std::sync::Arc;

use async_trait::async_trait;
use slate_activities::{
    cost::Prices,
    library::mood::Mood,
    plan::Request,
    providers::{ClipJob, ImageModel, MusicModel, Planner, Providers, VideoModel},
    spec::Spec,
    storage::Scratch,
};
use slate_engine::{Artifact, StepContext, StepError};

/// A provider of the embedded kind at another price.
struct Priced<T: ?Sized> {
    inner: Arc<T>,
    price: f64,
}

/// The embedded providers, charging `prices`.
pub fn priced_embedded(prices: Prices) -> Providers {
    let embedded = Providers::embedded().expect("the embedded providers");
    Providers {
        planner: Arc::new(Priced {
            inner: embedded.planner,
            price: prices.per_plan,
        }),
        images: Arc::new(Priced {
            inner: embedded.images,
            price: prices.per_image,
        }),
        clips: Arc::new(Priced {
            inner: embedded.clips,
            price: prices.per_chunk,
        }),
        music: Arc::new(Priced {
            inner: embedded.music,
            price: prices.per_track,
        }),
    }
}

#[async_trait]
impl Planner for Priced<dyn Planner> {
    fn price(&self) -> f64 {
        self.price
    }

    async fn plan(&self, request: &Request) -> Result<Spec, StepError> {
        self.inner.plan(request).await
    }
}

#[async_trait]
impl ImageModel for Priced<dyn ImageModel> {
    fn price(&self) -> f64 {
        self.price
    }

    async fn still(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        spec: &Spec,
        index: usize,
        product: Option<&str>,
        key: &str,
    ) -> Result<(), StepError> {
        self.inner
            .still(ctx, scratch, spec, index, product, key)
            .await
    }
}

#[async_trait]
impl VideoModel for Priced<dyn VideoModel> {
    fn price(&self) -> f64 {
        self.price
    }

    async fn clip(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        job: ClipJob<'_>,
    ) -> Result<(), StepError> {
        self.inner.clip(ctx, scratch, job).await
    }
}

#[async_trait]
impl MusicModel for Priced<dyn MusicModel> {
    fn price(&self) -> f64 {
        self.price
    }

    async fn track(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        mood: Mood,
        seconds: u32,
    ) -> Result<Artifact, StepError> {
        self.inner.track(ctx, scratch, mood, seconds).await
    }
}
