//! The phases of the pipeline, and what each one's facts are: its durable step name (also the
//! status shown while it runs), its timeout, the progress shown when it starts, and how long it
//! takes when no recent video says otherwise.

/// A phase of the video pipeline, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Planning,
    Storyboarding,
    GeneratingChunks,
    Stitching,
    AddingMusic,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Planning,
        Phase::Storyboarding,
        Phase::GeneratingChunks,
        Phase::Stitching,
        Phase::AddingMusic,
    ];

    /// The step's durable name (also the status shown while it runs).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Planning => "planning",
            Phase::Storyboarding => "storyboarding",
            Phase::GeneratingChunks => "generating_chunks",
            Phase::Stitching => "stitching",
            Phase::AddingMusic => "adding_music",
        }
    }

    /// The start-to-close timeout of each attempt.
    pub fn timeout(self) -> std::time::Duration {
        let seconds = match self {
            Phase::Planning => 60,
            Phase::Storyboarding => 300,
            Phase::GeneratingChunks => 1200,
            Phase::Stitching => 60,
            Phase::AddingMusic => 360,
        };
        std::time::Duration::from_secs(seconds)
    }

    /// Its place in [`Phase::ALL`].
    pub fn index(self) -> usize {
        Phase::ALL
            .iter()
            .position(|p| *p == self)
            .expect("every phase is in ALL")
    }

    /// The phase after this one, if any.
    pub fn next(self) -> Option<Phase> {
        Phase::ALL.get(self.index() + 1).copied()
    }

    /// Seconds the phase takes with the embedded providers, for time estimates before recent
    /// videos have measured it.
    pub fn typical_seconds(self) -> f64 {
        match self {
            Phase::Planning => 1.0,
            Phase::Storyboarding => 2.0,
            Phase::GeneratingChunks => 15.0,
            Phase::Stitching => 1.0,
            Phase::AddingMusic => 2.0,
        }
    }

    /// The phase whose step has this name.
    pub fn named(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The progress (percent) shown when the phase starts.
    pub fn progress_at_start(self) -> u8 {
        match self {
            Phase::Planning => 10,
            Phase::Storyboarding => 25,
            Phase::GeneratingChunks => 40,
            Phase::Stitching => 70,
            Phase::AddingMusic => 85,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Phase;

    #[test]
    fn phases_start_at_growing_progress() {
        let progress: Vec<u8> = Phase::ALL.iter().map(|p| p.progress_at_start()).collect();
        assert!(progress.windows(2).all(|w| w[0] < w[1]));
    }
}
