//! What every step of the pipeline shares: the media store, the providers, and how many clips
//! render at once.

use std::path::PathBuf;

use slate_engine::StepError;

use crate::{providers::Providers, storage::MediaStore};

/// What the steps share: where media go, which provider makes each kind of media, how many clips
/// render at once.
pub struct Pipeline {
    pub store: MediaStore,
    pub parallel_chunks: usize,
    pub providers: Providers,
}

impl Pipeline {
    /// A pipeline keeping media under `media_dir`, made by `providers`.
    pub fn new(
        media_dir: impl Into<PathBuf>,
        parallel_chunks: usize,
        providers: Providers,
    ) -> Self {
        Self {
            store: MediaStore::new(media_dir),
            parallel_chunks,
            providers,
        }
    }

    /// The embedded providers only: free and offline.
    pub fn embedded(
        media_dir: impl Into<PathBuf>,
        parallel_chunks: usize,
    ) -> Result<Self, StepError> {
        Ok(Self::new(
            media_dir,
            parallel_chunks,
            Providers::embedded()?,
        ))
    }
}
