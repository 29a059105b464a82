//! The registry: the workflows an engine knows, by name and version, shared by its starts, workers,
//! replays and cancels.

use std::{sync::Arc, time::Duration};

use crate::workflow::{Limit, WorkflowDef};

/// The workflows this process can run, by name and version.
#[derive(Default)]
pub(crate) struct Registry {
    workflows: Vec<Arc<WorkflowDef>>,
    /// The limits their steps name, one per key.
    limits: Vec<Limit>,
}

impl Registry {
    pub fn add(&mut self, workflow: Arc<WorkflowDef>) {
        self.workflows.push(workflow);
        self.limits = self.merged_limits();
    }

    pub fn get(&self, name: &str, version: i32) -> Option<Arc<WorkflowDef>> {
        self.workflows
            .iter()
            .find(|w| w.name == name && w.version == version)
            .cloned()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.workflows.iter().map(|w| w.name).collect()
    }

    pub fn versions(&self) -> Vec<i32> {
        self.workflows.iter().map(|w| w.version).collect()
    }

    /// Whether any of the workflows has child functions.
    pub fn has_children(&self) -> bool {
        self.workflows.iter().any(|w| !w.children.is_empty())
    }

    /// The longest timeout of any step or child function: no attempt runs longer.
    pub fn longest_timeout(&self) -> Duration {
        (self.workflows.iter())
            .flat_map(|w| w.steps.iter().chain(&w.children))
            .map(|step| step.timeout)
            .max()
            .unwrap_or_default()
    }

    /// Every limit the steps and child functions name, one per key.
    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// One limit per key: where steps name one key with different bounds, the tightest of each.
    fn merged_limits(&self) -> Vec<Limit> {
        let mut limits: Vec<Limit> = Vec::new();
        let steps = (self.workflows.iter()).flat_map(|w| w.steps.iter().chain(&w.children));
        for limit in steps.filter_map(|s| s.limit.as_ref()) {
            let Some(known) = limits.iter_mut().find(|l| l.key == limit.key) else {
                limits.push(limit.clone());
                continue;
            };
            known.concurrency = match (known.concurrency, limit.concurrency) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            known.rate = match (known.rate, limit.rate) {
                (Some(a), Some(b)) if b.per_second < a.per_second => Some(b),
                (a, b) => a.or(b),
            };
        }
        limits
    }
}
