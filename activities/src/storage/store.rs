//! The media store: stored objects by key, whatever keeps them (a local folder, an
//! S3-compatible bucket), read whole, by range or into a local file, and listed.

use std::{ops::Range, path::Path, sync::Arc};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{stream::BoxStream, StreamExt, TryStreamExt};
use object_store::{path::Path as ObjectPath, GetOptions, GetRange, ObjectStore, PutPayload};

use super::{error::StoreError, settings::StoreSettings};

/// The object store of media that every Slate process shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaStore {
    objects: Arc<dyn ObjectStore>,
}

/// An object's bytes, or a range of them, as a stream, and what the store says of the object.
pub struct Object {
    /// The whole object's size.
    pub size: u64,
    /// The bytes served.
    pub range: Range<u64>,
    pub e_tag: Option<String>,
    pub last_modified: DateTime<Utc>,
    pub body: BoxStream<'static, Result<Bytes, StoreError>>,
}

/// A stored object's key and when it was written.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub last_modified: DateTime<Utc>,
}

impl MediaStore {
    /// The store `settings` name.
    pub fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        Ok(Self {
            objects: settings.build()?,
        })
    }

    /// A store in the local folder `root`.
    pub fn local(root: impl Into<std::path::PathBuf>) -> Result<Self, StoreError> {
        Self::open(&StoreSettings::Local { root: root.into() })
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self.objects.head(&path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `bytes` as `key`, all or nothing.
    pub async fn put(&self, key: &str, bytes: impl Into<Bytes>) -> Result<(), StoreError> {
        let payload = PutPayload::from_bytes(bytes.into());
        self.objects.put(&path(key)?, payload).await?;
        Ok(())
    }

    /// Writes the local file `file` as `key`, all or nothing.
    pub async fn upload(&self, file: &Path, key: &str) -> Result<(), StoreError> {
        let bytes = tokio::fs::read(file).await.map_err(StoreError::io(file))?;
        self.put(key, bytes).await
    }

    /// The bytes of `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let got = self.objects.get(&path(key)?).await?;
        Ok(got.bytes().await?)
    }

    /// Copies `key` to the local file `file`, streaming.
    pub async fn download(&self, key: &str, file: &Path) -> Result<(), StoreError> {
        use tokio::io::AsyncWriteExt;
        let got = self.objects.get(&path(key)?).await?;
        let mut out = tokio::fs::File::create(file)
            .await
            .map_err(StoreError::io(file))?;
        let mut body = got.into_stream();
        while let Some(chunk) = body.next().await {
            out.write_all(&chunk?).await.map_err(StoreError::io(file))?;
        }
        out.flush().await.map_err(StoreError::io(file))
    }

    /// `key`'s bytes in `range` (all of them when `None`), as a stream. A range past the end is
    /// refused ([`StoreError::Refused`]); callers check it against [`MediaStore::size`] first.
    pub async fn open_range(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Object, StoreError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let got = self.objects.get_opts(&path(key)?, options).await?;
        Ok(Object {
            size: got.meta.size,
            range: got.range.clone(),
            e_tag: got.meta.e_tag.clone(),
            last_modified: got.meta.last_modified,
            body: got.into_stream().map_err(StoreError::from).boxed(),
        })
    }

    /// The size of `key`, and its entity tag where the store keeps one.
    pub async fn size(&self, key: &str) -> Result<(u64, Option<String>), StoreError> {
        let meta = self.objects.head(&path(key)?).await?;
        Ok((meta.size, meta.e_tag))
    }

    /// Every object under `prefix` (a folder: `runs/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let prefix = path(prefix.trim_end_matches('/'))?;
        self.objects
            .list(Some(&prefix))
            .map_ok(|meta| Listed {
                key: meta.location.to_string(),
                last_modified: meta.last_modified,
            })
            .map_err(StoreError::from)
            .try_collect()
            .await
    }

    /// Removes `key`; removing a missing key succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.objects.delete(&path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The store's path of `key`: relative, with no empty, `.` or `..` segment.
fn path(key: &str) -> Result<ObjectPath, StoreError> {
    let bad = || StoreError::BadKey(key.to_owned());
    let clean = !key.is_empty()
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if !clean {
        return Err(bad());
    }
    ObjectPath::parse(key).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_store() {
        assert!(path("videos/a/final.mp4").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../secret",
            "videos/../../x",
            "./x",
            "a//b",
        ] {
            assert!(path(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_put_reads_back_whole_and_by_range_and_lists_under_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::local(dir.path()).unwrap();
        store
            .put("runs/r/a.txt", &b"hello world"[..])
            .await
            .unwrap();
        assert_eq!(
            &store.get("runs/r/a.txt").await.unwrap()[..],
            b"hello world"
        );
        let object = store.open_range("runs/r/a.txt", Some(6..11)).await.unwrap();
        assert_eq!((object.size, object.range.clone()), (11, 6..11));
        let body: Vec<Bytes> = object.body.try_collect().await.unwrap();
        assert_eq!(body.concat(), b"world");
        let listed = store.list("runs/").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "runs/r/a.txt");
        assert!(matches!(
            store.get("runs/r/missing").await,
            Err(StoreError::NotFound(_))
        ));
        store.delete("runs/r/a.txt").await.unwrap();
        store.delete("runs/r/a.txt").await.unwrap();
        assert!(!store.exists("runs/r/a.txt").await.unwrap());
    }
}
