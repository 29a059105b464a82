//! Media storage: files by key (`videos/<run>/stills/beat-01.png`), on local disk under one root
//! folder. Every write goes to a temporary file in the same folder and is renamed into place,
//! so a reader (or a resumed step) never sees half a file. Keys, not URLs, are what the journal
//! stores; the API turns them into URLs.

use std::path::{Component, Path, PathBuf};

use slate_engine::StepError;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct MediaStore {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("media key {0:?} is not a relative path inside the store")]
    BadKey(String),
    #[error("media store I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A store that fails a step fails it for now: the disk may have room again, or the file be back,
/// when the step is retried.
impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        StepError::retryable("storage", error.to_string())
    }
}

impl MediaStore {
    /// A store under `root`, made absolute so that paths handed to tools (an ffmpeg concat list,
    /// whose relative paths resolve against the list's own folder) mean the same everywhere.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file of `key` lives (it may not exist yet). Keys that would leave the root are
    /// refused.
    pub fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let relative = Path::new(key);
        let inside = !key.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !inside {
            return Err(StoreError::BadKey(key.to_owned()));
        }
        Ok(self.root.join(relative))
    }

    pub async fn exists(&self, key: &str) -> bool {
        match self.path(key) {
            Ok(path) => tokio::fs::try_exists(path).await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// A fresh temporary path next to `key`'s file (its folder is created), with the same
    /// extension, for a tool such as ffmpeg to write into before [`Self::commit`].
    pub async fn scratch(&self, key: &str) -> Result<PathBuf, StoreError> {
        let path = self.path(key)?;
        let folder = path.parent().expect("a key has a file name");
        tokio::fs::create_dir_all(folder)
            .await
            .map_err(|source| StoreError::Io {
                path: folder.to_owned(),
                source,
            })?;
        let name = path
            .file_name()
            .expect("a key has a file name")
            .to_string_lossy();
        Ok(folder.join(format!(".{}.{name}", Uuid::new_v4().simple())))
    }

    /// Moves a finished scratch file into place as `key`, atomically.
    pub async fn commit(&self, scratch: &Path, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        tokio::fs::rename(scratch, &path)
            .await
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })
    }

    /// Copies the file at `source` (outside the store) in as `key`, atomically.
    pub async fn put_file(&self, source: &Path, key: &str) -> Result<(), StoreError> {
        let scratch = self.scratch(key).await?;
        tokio::fs::copy(source, &scratch)
            .await
            .map_err(|source| StoreError::Io {
                path: scratch.clone(),
                source,
            })?;
        self.commit(&scratch, key).await
    }

    /// Writes `bytes` as `key`, atomically.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let scratch = self.scratch(key).await?;
        tokio::fs::write(&scratch, bytes)
            .await
            .map_err(|source| StoreError::Io {
                path: scratch.clone(),
                source,
            })?;
        self.commit(&scratch, key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_root_is_made_absolute() {
        let store = MediaStore::new("data/media");
        assert!(store.root().is_absolute());
        assert!(store.path("videos/a/final.mp4").unwrap().is_absolute());
    }

    #[test]
    fn keys_cannot_leave_the_root() {
        let store = MediaStore::new("/data");
        assert!(store.path("videos/a/final.mp4").is_ok());
        for bad in ["", "/etc/passwd", "../secret", "videos/../../x", "./x"] {
            assert!(store.path(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_put_is_all_or_nothing_and_leaves_no_scratch_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::new(dir.path());
        store.put("videos/r/a.txt", b"hello").await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("videos/r/a.txt")).unwrap(),
            b"hello"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("videos/r"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["a.txt"]);
    }
}
