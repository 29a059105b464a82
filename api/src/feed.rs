//! The live feed of status moves: one LISTEN connection per process on the projection's channel,
//! fanned out to every events stream of the process. A stream treats a message as a hint to read
//! its run's history again, so a message lost while the connection was down costs only latency.

use std::time::Duration;

use slate_activities::video::VIDEOS_CHANNEL;
use sqlx::{postgres::PgListener, postgres::PgPoolOptions, PgPool};
use tokio::sync::broadcast;
use uuid::Uuid;

/// How many announcements a slow stream may fall behind before it is told it lagged.
const CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct Feed {
    sender: broadcast::Sender<Uuid>,
}

impl Feed {
    /// Starts listening; the listener stops when `pool` is closed.
    pub fn start(pool: &PgPool) -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        let relay = relay(pool.clone(), sender.clone());
        let closed = pool.close_event();
        tokio::spawn(async move {
            tokio::select! {
                () = relay => {}
                () = closed => {}
            }
        });
        Self { sender }
    }

    /// The ids of videos whose status moved from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.sender.subscribe()
    }
}

async fn relay(pool: PgPool, sender: broadcast::Sender<Uuid>) {
    // A pool of its own, so the application's pool never waits for the listener's connection.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(pool.connect_options().as_ref().clone());
    loop {
        match listen(&own).await {
            Ok(mut listener) => loop {
                match listener.recv().await {
                    Ok(message) => {
                        if let Ok(id) = message.payload().parse() {
                            let _ = sender.send(id);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the status feed lost its connection");
                        break;
                    }
                }
            },
            Err(error) => tracing::warn!(%error, "the status feed cannot listen"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(VIDEOS_CHANNEL).await?;
    Ok(listener)
}
