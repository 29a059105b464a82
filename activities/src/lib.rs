//! The five steps of Slate's video pipeline (planning, storyboarding, generating_chunks,
//! stitching, adding_music), the beat library and archetypes they draw on, their providers and
//! media storage. It knows nothing of HTTP.

pub mod assets;
pub mod cost;
pub mod design;
pub mod failure;
pub mod keys;
pub mod library;
pub mod media;
pub mod outbound;
pub mod phase;
pub mod pipeline;
pub mod plan;
pub mod production;
pub mod providers;
pub mod review;
pub mod spec;
pub mod steering;
pub mod storage;
pub mod uploads;
pub mod video;
pub mod webhooks;
