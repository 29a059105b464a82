//! The state every request handler shares: the database, the engine, the pipeline's workflow and
//! what the handlers keep between requests.

use std::sync::Arc;

use slate_activities::plan::Request;
use slate_engine::{Bucket, Engine, Workflow};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::{eta::PhaseLengthsCache, feed::Feed, media_urls::MediaUrls};

/// What every request handler shares.
pub struct AppState {
    pub pool: PgPool,
    pub engine: Engine,
    pub workflow: Workflow<Request>,
    pub urls: MediaUrls,
    pub max_queued: i64,
    pub generate_limit: Option<Bucket>,
    /// The most a client may let one video cost (USD).
    pub max_cost_per_video: f64,
    /// One permit per events stream this process may hold open.
    pub streams: Arc<Semaphore>,
    pub admin_token: Option<String>,
    pub feed: Feed,
    pub phase_lengths: PhaseLengthsCache,
}
