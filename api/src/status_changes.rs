//! A video's status changes, read from its run's history: each status the projection went
//! through, with the id of the event that moved it. The events stream replays and follows these.

use slate_activities::{failure::public_error, phase::Phase};
use slate_engine::{Event, EventKind};

/// A video's status at one point of its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub status: String,
    pub progress: Option<i16>,
    pub current_phase: Option<String>,
    pub error: Option<String>,
}

impl Snapshot {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "complete" | "failed" | "cancelled")
    }

    fn at_phase(phase: Phase) -> Self {
        Self {
            status: phase.name().into(),
            progress: Some(phase.progress_at_start().into()),
            current_phase: Some(phase.name().into()),
            error: None,
        }
    }
}

/// Folds a run's events, in order, into the snapshots they produce.
#[derive(Debug, Default)]
pub struct Tracker {
    current: Option<Snapshot>,
}

impl Tracker {
    pub fn current(&self) -> Option<&Snapshot> {
        self.current.as_ref()
    }

    /// The new snapshot when `event` changes what the video shows.
    pub fn apply(&mut self, event: &Event) -> Option<Snapshot> {
        let next = self.after(event)?;
        if self.current.as_ref() == Some(&next) {
            return None;
        }
        self.current = Some(next.clone());
        Some(next)
    }

    fn after(&self, event: &Event) -> Option<Snapshot> {
        let phase = event.step.as_deref().and_then(Phase::named);
        let current = self.current.clone();
        match event.kind {
            EventKind::RunStarted => Some(Snapshot {
                status: "queued".into(),
                progress: Some(0),
                current_phase: None,
                error: None,
            }),
            EventKind::StepStarted | EventKind::Replayed => phase.map(Snapshot::at_phase),
            EventKind::StepCompleted => {
                let index = Phase::ALL.iter().position(|p| Some(*p) == phase)?;
                Phase::ALL.get(index + 1).copied().map(Snapshot::at_phase)
            }
            EventKind::RunCompleted => Some(Snapshot {
                status: "complete".into(),
                progress: Some(100),
                current_phase: None,
                error: None,
            }),
            EventKind::RunFailed => {
                let detail = event.detail.as_ref();
                let text = |key| detail.and_then(|d| d.get(key)).and_then(|v| v.as_str());
                let step = text("step").or(event.step.as_deref()).unwrap_or("a phase");
                let code = text("code").unwrap_or("unknown");
                Some(Snapshot {
                    status: "failed".into(),
                    progress: None,
                    current_phase: current.and_then(|c| c.current_phase),
                    error: Some(public_error(step, code)),
                })
            }
            EventKind::Cancelled => Some(Snapshot {
                status: "cancelled".into(),
                progress: current.and_then(|c| c.progress),
                current_phase: None,
                error: None,
            }),
            EventKind::StepFailed
            | EventKind::RetryScheduled
            | EventKind::ResultDropped
            | EventKind::LeaseExpired
            | EventKind::LeaseReleased => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;
    use slate_engine::RunId;

    use super::*;

    fn event(id: i64, kind: EventKind, step: Option<&str>) -> Event {
        Event {
            id,
            run_id: RunId::default(),
            kind,
            step: step.map(str::to_owned),
            attempt: None,
            worker_id: None,
            detail: (kind == EventKind::RunFailed)
                .then(|| json!({"step": "adding_music", "code": "provider_rejected", "message": "HTTP 422: no track"})),
            at: Utc::now(),
        }
    }

    fn statuses(events: &[Event]) -> Vec<(i64, String, Option<i16>)> {
        let mut tracker = Tracker::default();
        events
            .iter()
            .filter_map(|e| tracker.apply(e).map(|s| (e.id, s.status, s.progress)))
            .collect()
    }

    #[test]
    fn a_whole_run_moves_through_every_phase_once_in_order() {
        use EventKind::*;
        let mut events = vec![event(1, RunStarted, None)];
        let mut id = 1;
        for phase in Phase::ALL {
            id += 1;
            events.push(event(id, StepStarted, Some(phase.name())));
            id += 1;
            events.push(event(id, StepCompleted, Some(phase.name())));
        }
        events.push(event(id + 1, RunCompleted, Some("adding_music")));
        let seen = statuses(&events);
        let names: Vec<&str> = seen.iter().map(|(_, s, _)| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "queued",
                "planning",
                "storyboarding",
                "generating_chunks",
                "stitching",
                "adding_music",
                "complete"
            ]
        );
        assert_eq!(seen[1], (2, "planning".into(), Some(10)));
        assert_eq!(
            seen[2].0, 3,
            "storyboarding shows once planning is checkpointed"
        );
    }

    #[test]
    fn a_retry_changes_nothing_and_a_replay_after_a_failure_clears_the_error() {
        use EventKind::*;
        let events = [
            event(1, RunStarted, None),
            event(2, StepStarted, Some("adding_music")),
            event(3, StepFailed, Some("adding_music")),
            event(4, RetryScheduled, Some("adding_music")),
            event(5, StepStarted, Some("adding_music")),
            event(6, RunFailed, Some("adding_music")),
            event(7, Replayed, Some("adding_music")),
        ];
        let mut tracker = Tracker::default();
        let changed: Vec<i64> = events
            .iter()
            .filter(|e| tracker.apply(e).is_some())
            .map(|e| e.id)
            .collect();
        assert_eq!(changed, [1, 2, 6, 7]);
        let now = tracker.current().unwrap();
        assert_eq!(now.status, "adding_music");
        assert_eq!(now.error, None);
    }
}
