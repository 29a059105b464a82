//! The cloud providers' configuration: each phase whose model is named uses its cloud provider;
//! the others stay embedded.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use slate_activities::{
    cost::Prices,
    providers::{
        openai::OpenAiPlanner,
        predictions::{PredictionClips, PredictionImages, PredictionModel, PredictionMusic},
        replicate::Replicate,
        Providers, Secret,
    },
};

/// The cloud providers: each phase whose model is named uses it; the others stay embedded.
#[derive(Args)]
pub struct CloudArgs {
    /// The chat model of an OpenAI-compatible API that plans videos.
    #[arg(long, env = "SLATE_PLANNER_MODEL")]
    planner_model: Option<String>,
    #[arg(
        long,
        env = "SLATE_PLANNER_URL",
        default_value = "https://api.openai.com/v1"
    )]
    planner_url: String,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    openai_api_key: Option<String>,
    /// The predictions API's model (`owner/name`) that draws the stills.
    #[arg(long, env = "SLATE_IMAGE_MODEL")]
    image_model: Option<String>,
    /// The model that turns a still into a 5 s clip.
    #[arg(long, env = "SLATE_VIDEO_MODEL")]
    video_model: Option<String>,
    /// The model that writes the soundtrack.
    #[arg(long, env = "SLATE_MUSIC_MODEL")]
    music_model: Option<String>,
    #[arg(
        long,
        env = "SLATE_REPLICATE_URL",
        default_value = "https://api.replicate.com"
    )]
    replicate_url: String,
    #[arg(long, env = "REPLICATE_API_TOKEN", hide_env_values = true)]
    replicate_api_token: Option<String>,
    /// USD per plan, image, 5 s clip and track of the cloud models.
    #[arg(long, env = "SLATE_PRICE_PLAN", default_value_t = Prices::REFERENCE_CLOUD.per_plan)]
    price_plan: f64,
    #[arg(long, env = "SLATE_PRICE_IMAGE", default_value_t = Prices::REFERENCE_CLOUD.per_image)]
    price_image: f64,
    #[arg(long, env = "SLATE_PRICE_CHUNK", default_value_t = Prices::REFERENCE_CLOUD.per_chunk)]
    price_chunk: f64,
    #[arg(long, env = "SLATE_PRICE_TRACK", default_value_t = Prices::REFERENCE_CLOUD.per_track)]
    price_track: f64,
}

impl CloudArgs {
    /// The embedded providers, each replaced by the cloud one configured for its kind.
    pub fn providers(&self) -> anyhow::Result<Providers> {
        let mut providers = Providers::embedded()
            .map_err(|e| anyhow::anyhow!("the embedded providers cannot start: {e}"))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()?;
        if let Some(model) = &self.planner_model {
            let api_key = self
                .openai_api_key
                .clone()
                .context("SLATE_PLANNER_MODEL is set, so OPENAI_API_KEY must be too")?;
            providers.planner = Arc::new(OpenAiPlanner {
                client: client.clone(),
                base_url: self.planner_url.clone(),
                model: model.clone(),
                api_key: Secret::new(api_key),
                price: self.price_plan,
            });
        }
        let predictions = |model: &String, price: f64| -> anyhow::Result<PredictionModel> {
            let token = self
                .replicate_api_token
                .clone()
                .context("a SLATE_*_MODEL is set, so REPLICATE_API_TOKEN must be too")?;
            let api = Replicate {
                client: client.clone(),
                base_url: self.replicate_url.clone(),
                token: Secret::new(token),
                deadline: Duration::from_secs(300),
                poll_from: Duration::from_millis(500),
                poll_to: Duration::from_secs(5),
            };
            Ok(PredictionModel {
                api,
                model: model.clone(),
                price,
            })
        };
        if let Some(model) = &self.image_model {
            providers.images = Arc::new(PredictionImages(predictions(model, self.price_image)?));
        }
        if let Some(model) = &self.video_model {
            providers.clips = Arc::new(PredictionClips(predictions(model, self.price_chunk)?));
        }
        if let Some(model) = &self.music_model {
            providers.music = Arc::new(PredictionMusic(predictions(model, self.price_track)?));
        }
        Ok(providers)
    }
}
