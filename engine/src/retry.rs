//! Retry policies: how many attempts a step gets and how long to wait between them. Delays are
//! computed with backon's exponential backoff; the engine turns them into a task's `run_at`, so
//! retries survive restarts.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How a step is retried after a retryable failure.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means no retry.
    pub max_attempts: u32,
    /// The delay after the first failure.
    pub initial_backoff: Duration,
    /// The longest delay, however many failures came before.
    pub max_backoff: Duration,
    /// How much each delay grows over the one before (at least 1).
    pub multiplier: f32,
    /// Adds a random share of up to the delay itself, so that retries of many runs spread out.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before the next attempt once `attempt` (1-based) has failed, or `None` when the
    /// policy allows no more attempts.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts {
            return None;
        }
        let mut builder = ExponentialBuilder::new()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_factor(self.multiplier.max(1.0))
            .with_max_times(self.max_attempts as usize);
        if self.jitter {
            builder = builder.with_jitter();
        }
        builder.build().nth(attempt as usize - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stop_after_the_last_attempt() {
        let policy = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: false,
        };
        let delays: Vec<_> = (1..=4)
            .map(|a| policy.delay_after(a).map(|d| d.as_millis()))
            .collect();
        assert_eq!(delays, vec![Some(100), Some(200), Some(400), None]);
    }

    #[test]
    fn jittered_delays_still_grow_with_a_multiplier_of_two() {
        let policy = RetryPolicy {
            max_attempts: 10,
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let first = policy.delay_after(1).unwrap();
            let second = policy.delay_after(2).unwrap();
            assert!(first >= Duration::from_secs(1) && first < Duration::from_secs(2));
            assert!(second >= Duration::from_secs(2) && second < Duration::from_secs(4));
        }
    }

    #[test]
    fn delays_are_capped() {
        let policy = RetryPolicy {
            max_attempts: 20,
            jitter: false,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.delay_after(15), Some(Duration::from_secs(60)));
    }

    #[test]
    fn never_retries_once() {
        assert_eq!(RetryPolicy::never().delay_after(1), None);
    }
}
