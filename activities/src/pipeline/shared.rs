//! What every step of the pipeline shares: the media store and scratch space, the providers, the
//! check before a phase spends, and the workflow its videos' webhook events go out by.

use std::time::Duration;

use chrono::{DateTime, Utc};
use slate_engine::{StepContext, StepError, Wait, Workflow};
use sqlx::PgPool;

use crate::{
    phase::Phase,
    production::{afford, Production},
    providers::Providers,
    review::{Gate, DEFAULT_REVIEW_TIME, REVIEW_EXPIRED},
    storage::{MediaStore, Scratch, ScratchSpace, StoreError},
    video::video_reserve,
    webhooks::Delivery,
};

/// What the steps share: where media go, which provider makes each kind of media, and where
/// spending is reserved.
pub struct Pipeline {
    pub store: MediaStore,
    /// Where this process's attempts work on local copies of media.
    pub scratch_space: ScratchSpace,
    pub providers: Providers,
    /// The database whose videos' reservations keep each key under its monthly budget; none for
    /// a pipeline whose videos have no rows (monthly budgets are then not checked).
    pub ledger: Option<PgPool>,
    /// How long a review gate waits for its approval.
    pub review_time: Duration,
    /// The workflow that delivers its videos' webhook events; without it no event is sent.
    pub webhooks: Option<Workflow<Delivery>>,
}

impl Pipeline {
    /// A pipeline keeping media in `store`, made by `providers` in folders of `scratch_space`.
    pub fn new(store: MediaStore, scratch_space: ScratchSpace, providers: Providers) -> Self {
        Self {
            store,
            scratch_space,
            providers,
            ledger: None,
            review_time: DEFAULT_REVIEW_TIME,
            webhooks: None,
        }
    }

    /// Sends its videos' webhook events with runs of `webhooks`.
    pub fn with_webhooks(mut self, webhooks: Workflow<Delivery>) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Lets each review gate wait `time` for its approval.
    pub fn with_review_time(mut self, time: Duration) -> Self {
        self.review_time = time;
        self
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
        let cost = self.providers.prices().phase_for(phase, production);
        afford(production.spent(), cost, production.budget_usd, phase)?;
        self.reserve(ctx, phase, cost).await?;
        Ok(cost)
    }

    /// Ends `phase` at its review gate, when the video asks for one there: the run waits for the
    /// client's approval, and fails as expired when none comes within the review's time.
    pub(crate) fn await_review(&self, ctx: &StepContext, production: &Production, phase: Phase) {
        let Some(gate) = Gate::after(phase).filter(|g| production.review.contains(g)) else {
            return;
        };
        let time = chrono::Duration::from_std(self.review_time).unwrap_or(chrono::Duration::MAX);
        let deadline = Utc::now()
            .checked_add_signed(time)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        ctx.wait_for(Wait::for_signal(gate.signal()).or_fail_at(deadline, REVIEW_EXPIRED));
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
    pub fn embedded(store: MediaStore, scratch_space: ScratchSpace) -> Result<Self, StepError> {
        let providers = Providers::embedded()?;
        Ok(Self::new(store, scratch_space, providers))
    }

    /// A scratch folder for one attempt, removed when dropped.
    pub(crate) fn scratch(&self) -> Result<Scratch, StoreError> {
        self.scratch_space.attempt(&self.store)
    }
}
