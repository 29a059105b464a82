//! Webhooks: a video that names a `webhook_url` has an event POSTed there at each review gate and
//! at its end (complete, failed, cancelled, expired). The event is written by the transaction that
//! moves the video's status: the projection starts a run of the `webhook` workflow in it (a
//! transactional outbox), and that run delivers the event, signed with its key's webhook secrets,
//! retrying on a fixed schedule until the receiver answers 2xx or the schedule ends. A delivery is
//! a run of its own: whatever the receiver does, the video neither waits for it nor fails with it.

mod deliver;
mod event;
mod secrets;
mod sign;

pub use deliver::{
    webhook_workflow, Delivered, Deliverer, WebhookConfig, WEBHOOK_STEP, WEBHOOK_WORKFLOW,
};
pub use event::{webhook_enqueue, Delivery, EventData, WebhookEvent};
pub use secrets::{webhook_secret, webhook_secret_rotate, WebhookSecret};
pub use sign::{signature, EVENT_ID_HEADER, SIGNATURE_HEADER, TOLERANCE};
