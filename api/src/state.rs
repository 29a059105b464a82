//! The state every request handler shares: the database, the engine, the pipeline's workflow and
//! what the handlers keep between requests.

use std::sync::Arc;

use slate_activities::{cost::Prices, outbound::Outbound, plan::Request, storage::MediaStore};
use slate_engine::{Bucket, Engine, Workflow};
use sqlx::PgPool;

use crate::{
    auth::Auth, eta::PhaseLengthsCache, feed::Feed, media_urls::MediaUrls, streams::StreamSlots,
};

/// What every request handler shares.
pub struct AppState {
    pub pool: PgPool,
    pub engine: Engine,
    pub workflow: Workflow<Request>,
    pub urls: MediaUrls,
    /// Where the media files are.
    pub media: MediaStore,
    pub auth: Auth,
    /// What the configured providers charge, for admission's reservation.
    pub prices: Prices,
    pub max_queued: i64,
    /// Each key's rate of generate requests; unlimited when none.
    pub generate_limit: Option<Bucket>,
    /// How many videos a key may have in the making, unless the key says otherwise.
    pub max_active_videos: Option<i64>,
    /// The most a client may let one video cost (USD).
    pub max_cost_per_video: f64,
    /// How many versions a video may have.
    pub max_versions: i64,
    /// The names a generate's `model` may give: the configured models, and `embedded` while a
    /// phase is made by an embedded provider.
    pub models: Vec<String>,
    /// Where a generate's `webhook_url` may point.
    pub webhooks: Outbound,
    pub streams: Arc<StreamSlots>,
    pub admin_token: Option<String>,
    pub feed: Feed,
    pub phase_lengths: PhaseLengthsCache,
}
