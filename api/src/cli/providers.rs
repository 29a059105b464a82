//! The cloud providers' configuration: each phase whose model is named uses its cloud provider;
//! the others stay embedded.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use slate_activities::{
    cost::Prices,
    providers::{
        fetch::Fetcher,
        openai::OpenAiPlanner,
        predictions::{PredictionClips, PredictionImages, PredictionModel, PredictionMusic},
        profiles::{supported, Kind, Price, Profile},
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
    /// The planner API's key; a server that needs none (Ollama, llama.cpp) gets none.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    openai_api_key: Option<String>,
    /// USD per plan.
    #[arg(long, env = "SLATE_PRICE_PLAN", default_value_t = Prices::REFERENCE_CLOUD.per_plan)]
    price_plan: f64,
    /// The predictions API's model that draws the stills: a supported one (`owner/name`, or
    /// `owner/name:version` to pin another version), or any model SLATE_IMAGE_PROFILE describes.
    #[arg(long, env = "SLATE_IMAGE_MODEL")]
    image_model: Option<String>,
    /// A model profile as JSON (docs/operations.md), for a model without a built-in one.
    #[arg(long, env = "SLATE_IMAGE_PROFILE")]
    image_profile: Option<String>,
    /// USD per still, instead of the profile's price.
    #[arg(long, env = "SLATE_PRICE_IMAGE")]
    price_image: Option<f64>,
    /// The model that turns a still into a clip.
    #[arg(long, env = "SLATE_VIDEO_MODEL")]
    video_model: Option<String>,
    #[arg(long, env = "SLATE_VIDEO_PROFILE")]
    video_profile: Option<String>,
    /// USD per 5 s clip, instead of the profile's price.
    #[arg(long, env = "SLATE_PRICE_CHUNK")]
    price_chunk: Option<f64>,
    /// The model that writes the soundtrack.
    #[arg(long, env = "SLATE_MUSIC_MODEL")]
    music_model: Option<String>,
    #[arg(long, env = "SLATE_MUSIC_PROFILE")]
    music_profile: Option<String>,
    /// USD per track, instead of the profile's price.
    #[arg(long, env = "SLATE_PRICE_TRACK")]
    price_track: Option<f64>,
    #[arg(
        long,
        env = "SLATE_REPLICATE_URL",
        default_value = "https://api.replicate.com"
    )]
    replicate_url: String,
    #[arg(long, env = "REPLICATE_API_TOKEN", hide_env_values = true)]
    replicate_api_token: Option<String>,
    /// Hosts whose files may be fetched over plain http and at non-public addresses (comma
    /// separated; none by default: outputs come over https from public addresses only).
    #[arg(long, env = "SLATE_TRUSTED_MEDIA_HOSTS", value_delimiter = ',')]
    trusted_media_hosts: Vec<String>,
}

impl CloudArgs {
    /// The models a generate may name: those configured, and `embedded` while a phase is made
    /// by an embedded provider.
    pub fn models(&self) -> Vec<String> {
        let configured = [
            &self.planner_model,
            &self.image_model,
            &self.video_model,
            &self.music_model,
        ];
        let mut models: Vec<String> = configured.iter().filter_map(|m| (*m).clone()).collect();
        if models.len() < configured.len() {
            models.push("embedded".into());
        }
        models
    }

    /// The embedded providers, each replaced by the cloud one configured for its kind.
    pub fn providers(&self) -> anyhow::Result<Providers> {
        let mut providers = Providers::embedded()
            .map_err(|e| anyhow::anyhow!("the embedded providers cannot start: {e}"))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()?;
        if let Some(model) = &self.planner_model {
            let api_key = self.openai_api_key.clone().map(Secret::new);
            let planner = OpenAiPlanner::new(
                client.clone(),
                &self.planner_url,
                model,
                api_key,
                self.price_plan,
            );
            providers.planner = Arc::new(planner);
        }
        let refused = |e: String| anyhow::anyhow!(e);
        let image = (&self.image_model, &self.image_profile, self.price_image);
        if let Some(m) = self.prediction_model(&client, Kind::Image, image)? {
            providers.images = Arc::new(PredictionImages::new(m).map_err(refused)?);
        }
        let video = (&self.video_model, &self.video_profile, self.price_chunk);
        if let Some(m) = self.prediction_model(&client, Kind::Video, video)? {
            providers.clips = Arc::new(PredictionClips::new(m).map_err(refused)?);
        }
        let music = (&self.music_model, &self.music_profile, self.price_track);
        if let Some(m) = self.prediction_model(&client, Kind::Music, music)? {
            providers.music = Arc::new(PredictionMusic::new(m).map_err(refused)?);
        }
        Ok(providers)
    }

    /// The model configured for `kind` (its name, its profile as JSON, its price), if any.
    fn prediction_model(
        &self,
        client: &reqwest::Client,
        kind: Kind,
        (name, json, price): (&Option<String>, &Option<String>, Option<f64>),
    ) -> anyhow::Result<Option<PredictionModel>> {
        let Some(mut profile) = profile(kind, name, json)? else {
            return Ok(None);
        };
        if let Some(per_output) = price {
            profile.price = Price {
                per_output,
                per_second: 0.0,
            };
        }
        let token = self
            .replicate_api_token
            .clone()
            .context("a cloud model is set, so REPLICATE_API_TOKEN must be too")?;
        let api = Replicate {
            client: client.clone(),
            base_url: self.replicate_url.clone(),
            token: Secret::new(token),
            fetcher: Fetcher::new(self.trusted_media_hosts.clone()),
            poll_from: Duration::from_millis(500),
            poll_to: Duration::from_secs(5),
        };
        Ok(Some(PredictionModel { api, profile }))
    }
}

/// The profile configured for `kind`: the one `json` describes, else the built-in one of `name`.
fn profile(
    kind: Kind,
    name: &Option<String>,
    json: &Option<String>,
) -> anyhow::Result<Option<Profile>> {
    let variable = format!("SLATE_{}_PROFILE", format!("{kind:?}").to_uppercase());
    match (name, json) {
        (_, Some(json)) => serde_json::from_str(json)
            .map(Some)
            .with_context(|| format!("{variable} is not a model profile")),
        (Some(name), None) => Profile::builtin(name).map(Some).with_context(|| {
            format!(
                "{name} has no built-in profile: describe it with {variable} (docs/operations.md); \
                 the supported {} models are {}",
                format!("{kind:?}").to_lowercase(),
                supported(kind).join(", ")
            )
        }),
        (None, None) => Ok(None),
    }
}
