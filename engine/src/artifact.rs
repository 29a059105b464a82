//! Artifacts: files a step made and keeps in an object store, named by keys that no other
//! attempt can produce ([`StepContext::artifact`](crate::StepContext::artifact)). A value holds
//! an artifact's key as an [`Artifact`]; whenever the engine journals a value (a checkpoint, a
//! memo, a child's result, a fork's override), it lists the artifacts the value names beside it.
//! A cleaner may remove a stored file only when no such list names it
//! ([`Engine::named_artifacts`](crate::Engine::named_artifacts)).

use std::{cell::RefCell, collections::HashSet};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use sqlx::PgPool;

use crate::{error::Result, lease::Lease};

/// The prefix of every key [`StepContext::artifact`](crate::StepContext::artifact) makes: a
/// cleaner lists the store under it, and leaves the rest alone.
pub const ARTIFACTS_PREFIX: &str = "runs/";

/// The key of a file in the object store that a step made. It serializes as the plain key, so a
/// field may change from a `String` to an `Artifact` and read the values already journaled.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(transparent)]
pub struct Artifact(String);

impl Artifact {
    /// An artifact under a key made elsewhere (a key
    /// [`StepContext::artifact`](crate::StepContext::artifact) made, read back).
    pub fn from_key(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn key(&self) -> &str {
        &self.0
    }
}

thread_local! {
    /// The artifacts named by the value [`journal`] is serializing on this thread.
    static NAMED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

impl Serialize for Artifact {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        NAMED.with(|named| {
            if let Some(named) = named.borrow_mut().as_mut() {
                named.push(self.0.clone());
            }
        });
        serializer.serialize_str(&self.0)
    }
}

/// A value as the journal stores it: its JSON and the keys of the artifacts it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Journaled {
    pub value: Value,
    /// A JSON array of keys, sorted and without duplicates.
    pub artifacts: Value,
}

/// Serializes `value`, listing the artifacts it names. Serialization runs on this thread from
/// start to end, so the list is the value's alone.
pub(crate) fn journal<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Journaled> {
    let outer = NAMED.with(|named| named.replace(Some(Vec::new())));
    let json = serde_json::to_value(value);
    let mut named = NAMED.with(|named| named.replace(outer)).unwrap_or_default();
    named.sort();
    named.dedup();
    Ok(Journaled {
        value: json?,
        artifacts: Value::from(named),
    })
}

/// The key of artifact `name` of the attempt `lease`: under the run, its generation, its step,
/// its child if it is a child's, and its attempt number, which no other attempt shares.
pub(crate) fn key(lease: &Lease, name: &str) -> String {
    let run = lease.run_id;
    let (generation, step, attempt) = (lease.generation, lease.step_index, lease.attempt);
    match lease.child {
        None => format!("{ARTIFACTS_PREFIX}{run}/{generation}/{step}/{attempt}/{name}"),
        Some(child) => {
            format!("{ARTIFACTS_PREFIX}{run}/{generation}/{step}/child-{child}/{attempt}/{name}")
        }
    }
}

/// Which of `keys` a checkpoint, memo or child result names, in any run (superseded ones and
/// forks' included).
pub(crate) async fn named(pool: &PgPool, keys: &[String]) -> Result<HashSet<String>> {
    let named: Vec<String> = sqlx::query_scalar(
        "SELECT k FROM unnest($1::text[]) AS k
         WHERE EXISTS (SELECT 1 FROM checkpoints
                       WHERE artifacts <> '[]' AND artifacts @> jsonb_build_array(k))
            OR EXISTS (SELECT 1 FROM memos
                       WHERE artifacts <> '[]' AND artifacts @> jsonb_build_array(k))
            OR EXISTS (SELECT 1 FROM children
                       WHERE artifacts <> '[]' AND artifacts @> jsonb_build_array(k))",
    )
    .bind(keys)
    .fetch_all(pool)
    .await?;
    Ok(named.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Made {
        title: String,
        clips: Vec<Artifact>,
        poster: Option<Artifact>,
    }

    #[test]
    fn a_journaled_value_lists_the_artifacts_it_names_once_each() {
        let made = Made {
            title: "runs/not-an-artifact".into(),
            clips: vec![Artifact::from_key("runs/b"), Artifact::from_key("runs/a")],
            poster: Some(Artifact::from_key("runs/a")),
        };
        let journaled = journal(&made).unwrap();
        assert_eq!(journaled.artifacts, serde_json::json!(["runs/a", "runs/b"]));
        assert_eq!(
            journaled.value["clips"],
            serde_json::json!(["runs/b", "runs/a"])
        );
        let plain = serde_json::to_value(&made).unwrap();
        assert_eq!(plain, journaled.value);
    }

    #[test]
    fn an_artifact_reads_a_plain_key_journaled_before_it() {
        let artifact: Artifact =
            serde_json::from_value(serde_json::json!("videos/x/final.mp4")).unwrap();
        assert_eq!(artifact.key(), "videos/x/final.mp4");
    }
}
