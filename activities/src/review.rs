//! Review gates: the phases after which a video may pause until its client approves what they
//! made (the plan, the stills), the signal that approves each, and what an approval carries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{phase::Phase, spec::Spec};

/// A phase after which a video may wait for its client's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// After planning: the spec.
    Planning,
    /// After storyboarding: the stills.
    Storyboarding,
}

/// The error code of a run whose review was left unapproved past its time.
pub const REVIEW_EXPIRED: &str = "review_expired";

/// How long a gate waits for its approval unless configured otherwise: three days.
pub const DEFAULT_REVIEW_TIME: Duration = Duration::from_secs(3 * 24 * 3600);

impl Gate {
    pub const ALL: [Gate; 2] = [Gate::Planning, Gate::Storyboarding];

    pub fn name(self) -> &'static str {
        self.phase().name()
    }

    pub fn named(name: &str) -> Option<Gate> {
        Gate::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The phase the gate follows.
    pub fn phase(self) -> Phase {
        match self {
            Gate::Planning => Phase::Planning,
            Gate::Storyboarding => Phase::Storyboarding,
        }
    }

    /// The gate that follows `phase`, if any.
    pub fn after(phase: Phase) -> Option<Gate> {
        Gate::ALL.into_iter().find(|g| g.phase() == phase)
    }

    /// The gate a video waits at when the phase to come is `next`.
    pub fn before(next: Phase) -> Option<Gate> {
        Gate::ALL
            .into_iter()
            .find(|g| g.phase().next() == Some(next))
    }

    /// The name of the signal that approves the gate (declared by the video workflow).
    pub fn signal(self) -> &'static str {
        match self {
            Gate::Planning => "approve_planning",
            Gate::Storyboarding => "approve_storyboarding",
        }
    }

    /// The gate whose approval signal this is.
    pub fn of_signal(signal: &str) -> Option<Gate> {
        Gate::ALL.into_iter().find(|g| g.signal() == signal)
    }
}

/// What an approval carries: at the planning gate, the plan as the client edited it while the
/// video waited, if they did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    #[serde(default)]
    pub spec: Option<Spec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_gate_is_found_by_its_name_its_phase_the_phase_after_it_and_its_signal() {
        for gate in Gate::ALL {
            assert_eq!(Gate::named(gate.name()), Some(gate));
            assert_eq!(Gate::after(gate.phase()), Some(gate));
            assert_eq!(Gate::before(gate.phase().next().unwrap()), Some(gate));
            assert_eq!(Gate::of_signal(gate.signal()), Some(gate));
        }
        assert_eq!(Gate::named("stitching"), None);
        assert_eq!(Gate::before(Phase::Planning), None);
        assert_eq!(Gate::before(Phase::Stitching), None);
    }
}
