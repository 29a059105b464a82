//! Media storage: files by key (`runs/<run>/<generation>/<step>/<attempt>/final.mp4`) in an
//! object store that every Slate process shares: a folder of the local filesystem by default, or
//! an S3-compatible bucket ([`StoreSettings`]). Keys, not URLs, are what the journal stores; the
//! API turns them into URLs. A key is written once: steps name their outputs with keys no other
//! attempt can produce ([`slate_engine::StepContext::artifact`]), and tools such as ffmpeg work
//! on local copies in a [`Scratch`] folder of their attempt.

mod cleaner;
mod error;
mod scratch;
mod settings;
mod store;

pub use cleaner::{CleanError, Cleaner, Swept};
pub use error::StoreError;
pub use scratch::{Scratch, ScratchSpace};
pub use settings::{S3Settings, StoreSettings};
pub use store::{Listed, MediaStore, Object};
