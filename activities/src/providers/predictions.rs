//! Models of Replicate's predictions API behind the image, video and music traits: each asks its
//! model in the words of its [`Profile`], copies the output into the store, and fits it to the
//! pipeline's format (a clip longer than 5 s is trimmed to 5 s).

use async_trait::async_trait;
use slate_engine::{Artifact, StepContext, StepError};

use super::{
    fetch::MediaKind,
    profiles::{Kind, Profile},
    replicate::{Job, Replicate},
    ClipJob, ImageModel, MusicModel, VideoModel,
};
use crate::{
    library::mood::Mood,
    media::{chunks, music},
    phase::Phase,
    spec::{Spec, CHUNK_SECONDS},
    storage::Scratch,
};

/// A model of the predictions API, as its profile describes it.
#[derive(Debug, Clone)]
pub struct PredictionModel {
    pub api: Replicate,
    pub profile: Profile,
}

impl PredictionModel {
    /// A model of `kind` for `phase`, whose predictions' deadlines fit the phase's timeout when
    /// `sequential` of them run one after another in one attempt.
    fn checked(self, kind: Kind, phase: Phase, sequential: u32) -> Result<Self, String> {
        if self.profile.kind != kind {
            return Err(format!(
                "{} is a {:?} model, not a {kind:?} model",
                self.profile.version, self.profile.kind
            ));
        }
        let grace = 60;
        let needed = u64::from(sequential) * (self.profile.deadline_seconds + grace) + grace;
        if needed > phase.timeout().as_secs() {
            return Err(format!(
                "{}'s deadline of {} s does not fit {} predictions into {}'s timeout of {} s",
                self.profile.version,
                self.profile.deadline_seconds,
                sequential,
                phase.name(),
                phase.timeout().as_secs()
            ));
        }
        Ok(self)
    }

    /// Runs the model and stores its output as `key`, or returns where an earlier attempt
    /// stored it.
    async fn run(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        name: &str,
        input: serde_json::Value,
        key: &str,
    ) -> Result<Artifact, StepError> {
        let job = Job {
            name,
            version: &self.profile.version,
            input,
            seed: self.profile.seed.as_deref(),
            deadline: self.profile.deadline(),
            kind: match self.profile.kind {
                Kind::Image => MediaKind::Image,
                Kind::Video => MediaKind::Video,
                Kind::Music => MediaKind::Audio,
            },
            key,
        };
        self.api.run(ctx, scratch, &job).await
    }
}

/// An image model: a still per beat, fitted to 1280x720.
pub struct PredictionImages(PredictionModel);

impl PredictionImages {
    pub fn new(model: PredictionModel) -> Result<Self, String> {
        Ok(Self(model.checked(Kind::Image, Phase::Storyboarding, 1)?))
    }
}

#[async_trait]
impl ImageModel for PredictionImages {
    fn price(&self) -> f64 {
        self.0.profile.price_for(0)
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
        let beat = &spec.beats[index];
        let prompt = format!(
            "{} Palette {}; {}.",
            beat.prompt,
            spec.style.color_palette.join(", "),
            spec.style.lighting
        );
        let mut input = self.0.profile.input(&prompt, spec.size(), None, None);
        if let (Some(field), Some(product)) = (&self.0.profile.reference_image, product) {
            // Sent once per video's storyboard, in the frame's shape.
            let reference: String = ctx
                .memo("product-reference", async {
                    let jpeg = chunks::jpeg(scratch, product, Some(spec.size())).await?;
                    self.0
                        .api
                        .file_input(jpeg, "image/jpeg", "product.jpg")
                        .await
                })
                .await?;
            input[field.as_str()] = reference.into();
        }
        let name = format!("still-{:02}", index + 1);
        let source = ctx.artifact(&format!("{name}.source"));
        let source = self.0.run(ctx, scratch, &name, input, source.key()).await?;
        chunks::fit_still(scratch, source.key(), spec.size(), key).await
    }
}

/// An image-to-video model: a clip from its first frame, trimmed to 5 s.
pub struct PredictionClips(PredictionModel);

impl PredictionClips {
    /// A beat of 15 s renders its three clips one after another.
    pub fn new(model: PredictionModel) -> Result<Self, String> {
        Ok(Self(model.checked(
            Kind::Video,
            Phase::GeneratingChunks,
            3,
        )?))
    }
}

#[async_trait]
impl VideoModel for PredictionClips {
    /// What a clip costs: the length asked for, which may be more than the 5 s kept.
    fn price(&self) -> f64 {
        let profile = &self.0.profile;
        profile.price_for(profile.seconds_for(CHUNK_SECONDS))
    }

    async fn clip(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        job: ClipJob<'_>,
    ) -> Result<(), StepError> {
        let frame: String = ctx
            .memo(&format!("{}-first-frame", job.name), async {
                let jpeg = chunks::jpeg(scratch, job.start, None).await?;
                self.0
                    .api
                    .file_input(jpeg, "image/jpeg", "first-frame.jpg")
                    .await
            })
            .await?;
        let input = self
            .0
            .profile
            .input(job.prompt, job.size, Some(CHUNK_SECONDS), Some(&frame));
        let source = ctx.artifact(&format!("{}.source", job.name));
        let source = self
            .0
            .run(ctx, scratch, job.name, input, source.key())
            .await?;
        chunks::normalize(scratch, source.key(), &job).await
    }
}

/// A music model: a track described by the mood (looped by the mix when the model's longest
/// track is shorter than the video).
pub struct PredictionMusic(PredictionModel);

impl PredictionMusic {
    pub fn new(model: PredictionModel) -> Result<Self, String> {
        Ok(Self(model.checked(Kind::Music, Phase::AddingMusic, 1)?))
    }
}

#[async_trait]
impl MusicModel for PredictionMusic {
    fn price(&self) -> f64 {
        self.0.profile.price_for(0)
    }

    async fn track(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        mood: Mood,
        seconds: u32,
    ) -> Result<Artifact, StepError> {
        let input = self.0.profile.input(
            music::description(mood),
            crate::spec::AspectRatio::default().size(),
            Some(seconds),
            None,
        );
        let key = ctx.artifact("track.source");
        self.0.run(ctx, scratch, "track", input, key.key()).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::providers::{fetch::Fetcher, profiles::supported, Secret};

    fn model(profile: Profile) -> PredictionModel {
        let api = Replicate {
            client: reqwest::Client::new(),
            base_url: "https://api.replicate.com".into(),
            token: Secret::new("r8_test"),
            fetcher: Fetcher::new(Vec::new()),
            poll_from: Duration::from_millis(500),
            poll_to: Duration::from_secs(5),
        };
        PredictionModel { api, profile }
    }

    #[test]
    fn every_supported_model_fits_its_phase_and_a_misfit_is_refused() {
        for name in supported(Kind::Image) {
            assert!(
                PredictionImages::new(model(Profile::builtin(name).unwrap())).is_ok(),
                "{name}"
            );
        }
        for name in supported(Kind::Video) {
            assert!(
                PredictionClips::new(model(Profile::builtin(name).unwrap())).is_ok(),
                "{name}"
            );
        }
        for name in supported(Kind::Music) {
            assert!(
                PredictionMusic::new(model(Profile::builtin(name).unwrap())).is_ok(),
                "{name}"
            );
        }
        let mut slow = Profile::builtin("minimax/hailuo-02").unwrap();
        slow.deadline_seconds = 900;
        let refused = PredictionClips::new(model(slow)).err().unwrap();
        assert!(refused.contains("does not fit 3 predictions"), "{refused}");
        let sdxl = Profile::builtin("stability-ai/sdxl").unwrap();
        assert!(
            PredictionClips::new(model(sdxl)).is_err(),
            "an image model is not a video model"
        );
    }
}
