//! The phases of the pipeline: their durable step names and the progress shown when each starts.

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
            Phase::GeneratingChunks => 600,
            Phase::Stitching => 60,
            Phase::AddingMusic => 120,
        };
        std::time::Duration::from_secs(seconds)
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
