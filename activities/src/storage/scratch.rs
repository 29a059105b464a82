//! Scratch folders: where ffmpeg and the providers work on local copies of media. Each process
//! has a folder under the scratch root (`process-<id>/`) beside a lock file (`process-<id>.lock`)
//! that it locks (`flock`) before it makes the folder and holds for as long as it lives; each
//! attempt gets a folder in the process's, removed when the attempt ends, failed or not. A
//! process killed with SIGKILL removes nothing, so a process that opens the root removes the
//! folders (and lock files) of processes whose lock is free.

use std::{
    collections::HashMap,
    fs::File,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use tempfile::TempDir;
use uuid::Uuid;

use super::{error::StoreError, store::MediaStore};

/// This process's folder under the scratch root, locked while it lives. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ScratchSpace {
    inner: Arc<Folder>,
}

#[derive(Debug)]
struct Folder {
    path: PathBuf,
    /// Holds the lock; closed (and so unlocked) when the process ends, however it ends.
    _lock: File,
}

impl ScratchSpace {
    /// The space under `slate-scratch` in the system's temporary folder.
    pub fn in_temp_dir() -> Result<Self, StoreError> {
        Self::open(&std::env::temp_dir().join("slate-scratch"))
    }

    /// Removes the orphaned folders under `root`, then makes this process's.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(StoreError::io(root))?;
        sweep(root);
        for _ in 0..3 {
            if let Some(space) = Self::make(root)? {
                return Ok(space);
            }
        }
        Err(StoreError::Io {
            path: root.to_owned(),
            source: std::io::Error::other("other processes' sweeps took every new lock file"),
        })
    }

    /// Makes a process folder under `root`: its lock file first, locked, so that a folder never
    /// exists without its lock held until its process ends. `None` when another process's sweep
    /// locked the new file first, found it free and removed it.
    fn make(root: &Path) -> Result<Option<Self>, StoreError> {
        let folder = root.join(format!("process-{}", Uuid::new_v4().simple()));
        let lock_path = folder.with_extension("lock");
        let lock = File::create(&lock_path).map_err(StoreError::io(&lock_path))?;
        if !try_lock(&lock) || !same_file(&lock, &lock_path) {
            return Ok(None);
        }
        std::fs::create_dir(&folder).map_err(StoreError::io(&folder))?;
        Ok(Some(Self {
            inner: Arc::new(Folder {
                path: folder,
                _lock: lock,
            }),
        }))
    }

    /// A new folder for one attempt, which works on media of `store`; removed when the
    /// [`Scratch`] is dropped.
    pub fn attempt(&self, store: &MediaStore) -> Result<Scratch, StoreError> {
        let root = &self.inner.path;
        let folder = tempfile::Builder::new()
            .prefix("attempt-")
            .tempdir_in(root)
            .map_err(StoreError::io(root))?;
        Ok(Scratch {
            store: store.clone(),
            folder,
            fetched: Mutex::default(),
        })
    }
}

/// Removes every process folder under `root` whose lock no process holds, and the lock. Returns
/// how many folders it removed.
fn sweep(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let (folder, lock_path) = match path.extension() {
            Some(ext) if ext == "lock" => (path.with_extension(""), path.clone()),
            _ if path.is_dir() => (path.clone(), path.with_extension("lock")),
            _ => continue,
        };
        // A lock file that is gone, or free, belongs to no live process.
        let lock = File::open(&lock_path).ok();
        if lock.as_ref().is_some_and(|lock| !try_lock(lock)) {
            continue;
        }
        if folder.is_dir() && std::fs::remove_dir_all(&folder).is_ok() {
            tracing::info!(folder = %folder.display(), "removed an orphaned scratch folder");
            removed += 1;
        }
        let _ = std::fs::remove_file(&lock_path);
    }
    removed
}

/// Whether `file` is the file at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Takes `file`'s exclusive lock without waiting; false if another open file holds it.
fn try_lock(file: &File) -> bool {
    // SAFETY: flock(2) on a descriptor this process owns; it only changes the lock.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// One attempt's folder: inputs fetched from the store, outputs made before they are uploaded.
/// Removed when dropped (when the attempt's future ends or is dropped).
pub struct Scratch {
    store: MediaStore,
    folder: TempDir,
    /// The local copy of each key fetched.
    fetched: Mutex<HashMap<String, PathBuf>>,
}

impl Scratch {
    pub fn store(&self) -> &MediaStore {
        &self.store
    }

    /// A local copy of `key`, fetched from the store once per attempt.
    pub async fn fetch(&self, key: &str) -> Result<PathBuf, StoreError> {
        if let Some(path) = self.fetched.lock().expect("fetched lock").get(key) {
            return Ok(path.clone());
        }
        let path = self.path(&format!("in-{}", key.replace('/', "_")));
        self.store.download(key, &path).await?;
        self.fetched
            .lock()
            .expect("fetched lock")
            .insert(key.to_owned(), path.clone());
        Ok(path)
    }

    /// A path in the folder for a file named `name` (with the extension tools read the format
    /// from); names are the caller's to keep apart.
    pub fn path(&self, name: &str) -> PathBuf {
        self.folder.path().join(name)
    }

    /// Uploads the local file `file` as `key`.
    pub async fn upload(&self, file: &Path, key: &str) -> Result<(), StoreError> {
        self.store.upload(file, key).await
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("folder", &self.folder.path())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_removes_the_folders_of_dead_processes_only() {
        let root = tempfile::tempdir().unwrap();
        let live = ScratchSpace::open(root.path()).unwrap();
        let live = &live.inner.path;
        let dead = root.path().join("process-dead");
        std::fs::create_dir_all(dead.join("attempt-1")).unwrap();
        File::create(dead.with_extension("lock")).unwrap();
        let unlocked = root.path().join("process-unlocked");
        std::fs::create_dir(&unlocked).unwrap();
        assert_eq!(sweep(root.path()), 2);
        assert!(!dead.exists() && !dead.with_extension("lock").exists());
        assert!(!unlocked.exists());
        assert!(live.exists(), "a live process's folder stays");
        assert!(live.with_extension("lock").exists());
    }

    #[test]
    fn a_new_lock_file_that_a_sweep_removed_before_it_was_locked_is_not_taken_as_held() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("process-new.lock");
        let created = File::create(&path).unwrap();
        // A sweep, between the creation and the lock, does what `sweep` does: it locks the free
        // file, and removes it.
        let swept = File::open(&path).unwrap();
        assert!(try_lock(&swept));
        std::fs::remove_file(&path).unwrap();
        drop(swept);
        assert!(
            try_lock(&created),
            "the creator locks a file no longer at its path"
        );
        assert!(!same_file(&created, &path), "and sees that it is not");
        assert!(ScratchSpace::make(root.path()).unwrap().is_some());
    }

    #[tokio::test]
    async fn an_attempt_folder_goes_when_its_scratch_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::local(dir.path().join("media")).unwrap();
        store.put("runs/a/still.png", &b"png"[..]).await.unwrap();
        let scratch = ScratchSpace::in_temp_dir()
            .unwrap()
            .attempt(&store)
            .unwrap();
        let copy = scratch.fetch("runs/a/still.png").await.unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), b"png");
        let folder = copy.parent().unwrap().to_owned();
        drop(scratch);
        assert!(!folder.exists());
    }
}
