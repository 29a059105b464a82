//! The cloud providers' configuration: each phase whose model is named uses its cloud provider;
//! the others stay embedded.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use slate_activities::{
    cost::Prices,
    pipeline::{CloudModel, Providers},
    providers::{openai::OpenAiPlanner, replicate::Replicate, Secret},
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
    pub fn providers(&self) -> anyhow::Result<Providers> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()?;
        let planner = match &self.planner_model {
            None => None,
            Some(model) => Some(OpenAiPlanner {
                client: client.clone(),
                base_url: self.planner_url.clone(),
                model: model.clone(),
                api_key: Secret::new(
                    self.openai_api_key
                        .clone()
                        .context("SLATE_PLANNER_MODEL is set, so OPENAI_API_KEY must be too")?,
                ),
            }),
        };
        let models = [&self.image_model, &self.video_model, &self.music_model];
        let api = match (
            models.iter().any(|m| m.is_some()),
            &self.replicate_api_token,
        ) {
            (false, _) => None,
            (true, None) => {
                anyhow::bail!("a SLATE_*_MODEL is set, so REPLICATE_API_TOKEN must be too")
            }
            (true, Some(token)) => Some(Replicate {
                client,
                base_url: self.replicate_url.clone(),
                token: Secret::new(token.clone()),
                deadline: Duration::from_secs(300),
                poll_from: Duration::from_millis(500),
                poll_to: Duration::from_secs(5),
            }),
        };
        let cloud = |model: &Option<String>| {
            let api = api.clone()?;
            Some(CloudModel {
                api,
                model: model.clone()?,
            })
        };
        Ok(Providers {
            planner,
            images: cloud(&self.image_model),
            clips: cloud(&self.video_model),
            music: cloud(&self.music_model),
            prices: Some(Prices {
                per_plan: self.price_plan,
                per_image: self.price_image,
                per_chunk: self.price_chunk,
                per_track: self.price_track,
            }),
        })
    }
}
