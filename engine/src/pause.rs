//! Pause points: named places in the engine where a test holds one side of a race while it drives
//! the other, so that an interleaving is reproduced deterministically instead of by luck. They are
//! compiled in only with the `pause-points` feature; without it, reaching one costs nothing.

/// A place in the engine where a test can hold whoever reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PausePoint {
    /// A worker whose liveness connection was lost, before it takes its lock again.
    Relock,
    /// The completer, holding the first result of a batch, before it collects the rest.
    HandOffBatch,
    /// An attempt's driver, right after its result reached the completer's queue.
    ResultQueued,
    /// An attempt's driver, told that the run's next step is leased to it, before it registers
    /// that lease with its worker.
    NextLeased,
    /// A worker's heartbeat, before each beat reads the leases its worker holds.
    Heartbeat,
    /// A cancel, after its first lock and before its second.
    CancelLocked,
    /// A memo, after its part ran and before its fenced write.
    MemoWrite,
}

#[cfg(feature = "pause-points")]
pub use armed::{PausePoints, Paused};

#[cfg(not(feature = "pause-points"))]
/// Without the `pause-points` feature, no point can be armed.
#[derive(Clone, Default)]
pub struct PausePoints;

#[cfg(not(feature = "pause-points"))]
impl PausePoints {
    #[inline]
    pub(crate) async fn reach(&self, _point: PausePoint) {}
}

#[cfg(feature = "pause-points")]
mod armed {
    use std::{
        collections::HashMap,
        sync::{
            atomic::{AtomicBool, Ordering},
            Arc, Mutex,
        },
    };

    use tokio::sync::watch;
    use tokio_util::sync::CancellationToken;

    use super::PausePoint;

    /// The pause points of one engine (and of the workers, steps and cancels it makes).
    #[derive(Clone, Default)]
    pub struct PausePoints {
        inner: Arc<Inner>,
    }

    #[derive(Default)]
    struct Inner {
        /// Whether any point is armed: the only cost of an unarmed point.
        any: AtomicBool,
        armed: Mutex<HashMap<PausePoint, Arc<Paused>>>,
    }

    /// An armed point: whoever reaches it waits until [`Paused::release`].
    pub struct Paused {
        arrivals: watch::Sender<usize>,
        open: CancellationToken,
    }

    impl PausePoints {
        /// Holds everyone who reaches `point` from now until the returned handle releases them.
        pub fn arm(&self, point: PausePoint) -> Arc<Paused> {
            let paused = Arc::new(Paused {
                arrivals: watch::channel(0).0,
                open: CancellationToken::new(),
            });
            let mut armed = self.inner.armed.lock().expect("pause points lock");
            armed.insert(point, paused.clone());
            self.inner.any.store(true, Ordering::SeqCst);
            paused
        }

        /// Waits at `point` while it is armed.
        pub(crate) async fn reach(&self, point: PausePoint) {
            if !self.inner.any.load(Ordering::SeqCst) {
                return;
            }
            let paused = {
                let armed = self.inner.armed.lock().expect("pause points lock");
                armed
                    .get(&point)
                    .filter(|p| !p.open.is_cancelled())
                    .cloned()
            };
            if let Some(paused) = paused {
                tracing::debug!(?point, "held at a pause point");
                paused.arrivals.send_modify(|n| *n += 1);
                paused.open.cancelled().await;
            }
        }
    }

    impl Paused {
        /// Waits until `count` arrivals have reached the point (and are held there).
        pub async fn reached(&self, count: usize) {
            let mut arrivals = self.arrivals.subscribe();
            arrivals
                .wait_for(|n| *n >= count)
                .await
                .expect("the sender lives in self");
        }

        /// Lets everyone held go, and everyone after pass.
        pub fn release(&self) {
            self.open.cancel();
        }
    }
}
