//! How a video's status moves on when its run changes: one rule, [`StatusMove::after`], followed
//! alike by the projection (which writes it into the videos table inside the engine's
//! transactions) and by the event stream (which replays it over the run's history).

use slate_engine::{Event, EventKind, TransitionKind};

use super::status::VideoStatus;
use crate::{
    failure::public_error,
    phase::Phase,
    review::{Gate, REVIEW_EXPIRED},
};

/// What a video shows of where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub status: VideoStatus,
    /// 0 to 100; none once failed.
    pub progress: Option<i16>,
    pub current_phase: Option<Phase>,
    /// The failure as clients read it.
    pub error: Option<String>,
}

/// A change of a video's run that its status may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunChange<'a> {
    Started,
    StepStarted(Phase),
    /// An operator replayed the run from this phase.
    Replayed(Phase),
    Checkpointed(Phase),
    /// The run waits at a review gate for its client's approval.
    AwaitingReview,
    Completed,
    Failed {
        step: &'a str,
        code: &'a str,
    },
    Cancelled,
}

impl<'a> RunChange<'a> {
    /// The change a hand-off hook's transition makes (none for a retry).
    pub fn of_transition(kind: &'a TransitionKind<'a>) -> Option<Self> {
        let phase = |step: &str| Phase::named(step);
        Some(match kind {
            TransitionKind::StepStarted { step, .. } => RunChange::StepStarted(phase(step)?),
            TransitionKind::StepCompleted { step, .. } => RunChange::Checkpointed(phase(step)?),
            TransitionKind::Replayed { step, .. } => RunChange::Replayed(phase(step)?),
            TransitionKind::RunCompleted => RunChange::Completed,
            TransitionKind::RunFailed { error } => RunChange::Failed {
                step: &error.step,
                code: &error.code,
            },
            TransitionKind::Cancelled => RunChange::Cancelled,
            TransitionKind::Waiting { signal, .. } => {
                Gate::of_signal(signal)?;
                RunChange::AwaitingReview
            }
            TransitionKind::RetryScheduled { .. } | TransitionKind::Sleeping { .. } => return None,
        })
    }

    /// The change an event of the run's history records (none for attempts' own events).
    pub fn of_event(event: &'a Event) -> Option<Self> {
        let phase = || event.step.as_deref().and_then(Phase::named);
        Some(match event.kind {
            EventKind::RunStarted => RunChange::Started,
            EventKind::StepStarted => RunChange::StepStarted(phase()?),
            EventKind::StepCompleted => RunChange::Checkpointed(phase()?),
            EventKind::Replayed => RunChange::Replayed(phase()?),
            EventKind::RunCompleted => RunChange::Completed,
            EventKind::RunFailed => {
                let text = |key| event.detail.as_ref()?.get(key)?.as_str();
                RunChange::Failed {
                    step: text("step").or(event.step.as_deref()).unwrap_or("a phase"),
                    code: text("code").unwrap_or("unknown"),
                }
            }
            EventKind::Cancelled => RunChange::Cancelled,
            EventKind::Waiting => {
                let signal = event.detail.as_ref()?.get("signal")?.as_str()?;
                Gate::of_signal(signal)?;
                RunChange::AwaitingReview
            }
            EventKind::StepFailed
            | EventKind::RetryScheduled
            | EventKind::ResultDropped
            | EventKind::LeaseExpired
            | EventKind::LeaseReleased
            | EventKind::Sleeping
            | EventKind::SignalReceived
            | EventKind::Resumed
            | EventKind::Forked
            | EventKind::AwaitingChildren => return None,
        })
    }
}

/// One field of a status after a move: set anew, or kept as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field<T> {
    Kept,
    Set(T),
}

impl<T: Clone> Field<T> {
    fn or(&self, before: &T) -> T {
        match self {
            Field::Kept => before.clone(),
            Field::Set(value) => value.clone(),
        }
    }
}

impl<T: Clone> Field<Option<T>> {
    /// As SQL parameters: whether the field is set, and its value.
    pub(crate) fn to_bind(&self) -> (bool, Option<T>) {
        match self {
            Field::Kept => (false, None),
            Field::Set(value) => (true, value.clone()),
        }
    }
}

/// What a change does to a video's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMove {
    pub status: VideoStatus,
    pub progress: Field<Option<i16>>,
    pub current_phase: Field<Option<Phase>>,
    pub error: Field<Option<String>>,
}

impl StatusMove {
    /// The move `change` makes, or none when the status stays as it is.
    pub fn after(change: RunChange<'_>) -> Option<Self> {
        let at_phase = |phase: Phase| StatusMove {
            status: VideoStatus::Making(phase),
            progress: Field::Set(Some(phase.progress_at_start().into())),
            current_phase: Field::Set(Some(phase)),
            error: Field::Set(None),
        };
        Some(match change {
            RunChange::Started => StatusMove {
                status: VideoStatus::Queued,
                progress: Field::Set(Some(0)),
                current_phase: Field::Set(None),
                error: Field::Set(None),
            },
            RunChange::StepStarted(phase) | RunChange::Replayed(phase) => at_phase(phase),
            RunChange::Checkpointed(phase) => at_phase(phase.next()?),
            RunChange::AwaitingReview => StatusMove {
                status: VideoStatus::AwaitingReview,
                progress: Field::Kept,
                current_phase: Field::Kept,
                error: Field::Set(None),
            },
            RunChange::Completed => StatusMove {
                status: VideoStatus::Complete,
                progress: Field::Set(Some(100)),
                current_phase: Field::Set(None),
                error: Field::Set(None),
            },
            RunChange::Failed { step, code } => StatusMove {
                status: match code {
                    REVIEW_EXPIRED => VideoStatus::Expired,
                    _ => VideoStatus::Failed,
                },
                progress: Field::Set(None),
                current_phase: Field::Kept,
                error: Field::Set(Some(public_error(step, code))),
            },
            RunChange::Cancelled => StatusMove {
                status: VideoStatus::Cancelled,
                progress: Field::Kept,
                current_phase: Field::Set(None),
                error: Field::Kept,
            },
        })
    }

    /// The snapshot this move leaves after `before` (nothing before the run started).
    pub fn applied_to(&self, before: Option<&Snapshot>) -> Snapshot {
        Snapshot {
            status: self.status,
            progress: self.progress.or(&before.and_then(|b| b.progress)),
            current_phase: self.current_phase.or(&before.and_then(|b| b.current_phase)),
            error: self.error.or(&before.and_then(|b| b.error.clone())),
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
        let moved = StatusMove::after(RunChange::of_event(event)?)?;
        let next = moved.applied_to(self.current.as_ref());
        if self.current.as_ref() == Some(&next) {
            return None;
        }
        self.current = Some(next.clone());
        Some(next)
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

    fn statuses(events: &[Event]) -> Vec<(i64, &'static str, Option<i16>)> {
        let mut tracker = Tracker::default();
        events
            .iter()
            .filter_map(|e| {
                tracker
                    .apply(e)
                    .map(|s| (e.id, s.status.as_str(), s.progress))
            })
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
        let names: Vec<&str> = seen.iter().map(|(_, s, _)| *s).collect();
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
        assert_eq!(seen[1], (2, "planning", Some(10)));
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
        assert_eq!(now.status, VideoStatus::Making(Phase::AddingMusic));
        assert_eq!(now.error, None);
    }

    #[test]
    fn a_failure_keeps_the_phase_and_shows_the_public_error_and_a_cancel_keeps_the_progress() {
        let running = StatusMove::after(RunChange::StepStarted(Phase::Stitching))
            .unwrap()
            .applied_to(None);
        let failed = StatusMove::after(RunChange::Failed {
            step: "stitching",
            code: "ffmpeg_failed",
        })
        .unwrap()
        .applied_to(Some(&running));
        assert_eq!(failed.current_phase, Some(Phase::Stitching));
        assert_eq!(failed.progress, None);
        assert_eq!(
            failed.error,
            Some(public_error("stitching", "ffmpeg_failed"))
        );
        let cancelled = StatusMove::after(RunChange::Cancelled)
            .unwrap()
            .applied_to(Some(&running));
        assert_eq!(cancelled.progress, Some(70));
        assert_eq!(cancelled.current_phase, None);
        assert_eq!(
            StatusMove::after(RunChange::Checkpointed(Phase::AddingMusic)),
            None,
            "the last checkpoint leaves the status to the run's completion"
        );
    }

    #[test]
    fn a_review_gate_shows_the_phase_to_come_and_its_deadline_passing_shows_expired() {
        use EventKind::*;
        let mut waiting = event(4, Waiting, Some("storyboarding"));
        waiting.detail = Some(json!({"signal": "approve_planning", "deadline": null}));
        let mut expired = event(5, RunFailed, Some("storyboarding"));
        expired.detail = Some(json!({"step": "storyboarding", "code": "review_expired"}));
        let events = [
            event(1, RunStarted, None),
            event(2, StepStarted, Some("planning")),
            event(3, StepCompleted, Some("planning")),
            waiting,
            expired,
        ];
        let mut tracker = Tracker::default();
        let seen: Vec<Snapshot> = events.iter().filter_map(|e| tracker.apply(e)).collect();
        let at_gate = &seen[3];
        assert_eq!(at_gate.status, VideoStatus::AwaitingReview);
        assert_eq!(at_gate.current_phase, Some(Phase::Storyboarding));
        assert_eq!(at_gate.progress, Some(25), "as at the end of planning");
        let last = tracker.current().unwrap();
        assert_eq!(last.status, VideoStatus::Expired);
        assert!(last.error.as_deref().unwrap().contains("review_expired"));

        let mut other = event(6, Waiting, Some("stitching"));
        other.detail = Some(json!({"signal": "something_else"}));
        assert_eq!(
            RunChange::of_event(&other),
            None,
            "only a review gate's wait shows"
        );
    }
}
