//! What every step of the pipeline shares: the media store, the providers, how many clips
//! render at once, and the check before a phase spends.

use std::path::PathBuf;

use slate_engine::{StepContext, StepError};
use sqlx::PgPool;

use crate::{
    phase::Phase,
    production::{afford, Production},
    providers::Providers,
    storage::MediaStore,
    video::video_reserve,
};

/// What the steps share: where media go, which provider makes each kind of media, how many clips
/// render at once, and where spending is reserved.
pub struct Pipeline {
    pub store: MediaStore,
    pub parallel_chunks: usize,
    pub providers: Providers,
    /// The database whose videos' reservations keep each key under its monthly budget; none for
    /// a pipeline whose videos have no rows (monthly budgets are then not checked).
    pub ledger: Option<PgPool>,
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
            ledger: None,
        }
    }

    /// Reserves each phase's spending in `pool`'s videos, under their keys' monthly budgets.
    pub fn with_ledger(mut self, pool: PgPool) -> Self {
        self.ledger = Some(pool);
        self
    }

    /// What `phase` will cost `production`; fails before spending if that would take the video
    /// past its budget or its key past its monthly budget.
    pub(crate) async fn afford(
        &self,
        ctx: &StepContext,
        production: &Production,
        phase: Phase,
    ) -> Result<f64, StepError> {
        let cost = self.providers.prices().phase(phase, Some(&production.spec));
        afford(production.spent(), cost, production.budget_usd, phase)?;
        self.reserve(ctx, phase, cost).await?;
        Ok(cost)
    }

    /// Reserves `cost` for `phase` under the video's key's monthly budget.
    pub(crate) async fn reserve(
        &self,
        ctx: &StepContext,
        phase: Phase,
        cost: f64,
    ) -> Result<(), StepError> {
        let Some(pool) = self.ledger.as_ref().filter(|_| cost > 0.0) else {
            return Ok(());
        };
        let reserved = video_reserve(pool, ctx.run_id(), cost)
            .await
            .map_err(|e| StepError::retryable("database", e.to_string()))?;
        reserved.map_err(|over| {
            StepError::permanent(
                "monthly_budget_exceeded",
                format!(
                    "{} would cost ${cost:.4}: ${:.4} in all for this video, with ${:.4} committed \
                     by the key's other videos this month, over its monthly budget of ${:.4}",
                    phase.name(),
                    over.needed,
                    over.others,
                    over.budget
                ),
            )
        })
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
