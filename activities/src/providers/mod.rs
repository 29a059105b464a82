//! Cloud providers, opt-in by configuration: an OpenAI-compatible chat API for planning and a
//! Replicate-style predictions API for stills, clips and music. Failures are classified for the
//! engine: 429 (honouring Retry-After), 5xx and timeouts are retryable; other 4xx are permanent.
//! API keys are [`Secret`]s, never printed.

pub mod http;
pub mod openai;
pub mod replicate;

pub use http::Secret;
