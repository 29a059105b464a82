//! What this process's workers measure, for Prometheus: how long step attempts take and how they
//! end, and how many retries they schedule. The figures of the whole database (runs by state, queue
//! depth) are read when /metrics is scraped, by whoever serves it.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{exponential_buckets, Histogram},
    },
    registry::{Registry, Unit},
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    workflow: &'static str,
    step: &'static str,
    /// `succeeded` or `failed`.
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    workflow: &'static str,
    step: &'static str,
}

/// The engine's metrics. Cheap to clone; clones count into the same series.
#[derive(Clone)]
pub struct Metrics {
    attempts: Family<AttemptLabels, Histogram>,
    retries: Family<StepLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            // From 5 ms to about 11 minutes.
            attempts: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.5, 14))
            }),
            retries: Family::default(),
        }
    }
}

impl Metrics {
    /// Adds the engine's series to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "slate_step_attempt_duration",
            "How long step attempts took, by how they ended",
            Unit::Seconds,
            self.attempts.clone(),
        );
        registry.register(
            "slate_step_retries",
            "Retries scheduled after a failed attempt",
            self.retries.clone(),
        );
    }

    pub(crate) fn attempt_finished(
        &self,
        workflow: &'static str,
        step: &'static str,
        ok: bool,
        seconds: f64,
    ) {
        let labels = AttemptLabels {
            workflow,
            step,
            outcome: if ok { "succeeded" } else { "failed" },
        };
        self.attempts.get_or_create(&labels).observe(seconds);
    }

    pub(crate) fn retry_scheduled(&self, workflow: &'static str, step: &'static str) {
        let labels = StepLabels { workflow, step };
        self.retries.get_or_create(&labels).inc();
    }
}
