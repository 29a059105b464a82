//! The registry: the workflows an engine knows, by name and version, shared by its starts, workers,
//! replays and cancels.

use std::sync::Arc;

use crate::workflow::WorkflowDef;

/// The workflows this process can run, by name and version.
#[derive(Default)]
pub(crate) struct Registry {
    workflows: Vec<Arc<WorkflowDef>>,
}

impl Registry {
    pub fn add(&mut self, workflow: Arc<WorkflowDef>) {
        self.workflows.push(workflow);
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
}
