//! File watching for hot reload.
//!
//! Directories are watched, not files: editors that save by writing a new file and renaming it over the
//! old one, and Kubernetes ConfigMap/Secret volumes (which swap a `..data` symlink to a new directory),
//! replace the inode a file watch would follow, so a plain file watcher misses them. Any change in a
//! watched directory triggers a debounced reload; an unchanged content hash makes it a no-op.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ReloadTrigger, Reloader};

/// Stops watching when dropped.
#[derive(Debug)]
pub struct WatchHandle {
    task: JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches everything `reloader` reads and reloads `debounce` after the last change.
pub fn spawn_watcher(
    reloader: Arc<Reloader>,
    debounce: Duration,
) -> Result<WatchHandle, notify::Error> {
    let (events, mut changes) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            // Reading the files during a reload opens them: that is not a change.
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = events.send(());
            }
            Err(err) => tracing::warn!(error = %err, "file watch error"),
        }
    })?;
    let mut watching = BTreeSet::new();
    sync_watches(&mut watcher, &mut watching, &reloader.watched_paths());

    let task = tokio::spawn(async move {
        while changes.recv().await.is_some() {
            // Editors and volume updates write in several steps: wait for a quiet period.
            loop {
                match tokio::time::timeout(debounce, changes.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_quiet) => break,
                }
            }
            reloader.reload(ReloadTrigger::FileChange).await;
            // A new config may reference new files or directories.
            sync_watches(&mut watcher, &mut watching, &reloader.watched_paths());
        }
    });
    Ok(WatchHandle { task })
}

/// The directories to watch for `paths`: a directory itself, a file's parent.
fn directories_for(paths: &[PathBuf]) -> BTreeSet<PathBuf> {
    paths
        .iter()
        .map(|path| {
            if path.is_dir() {
                path.clone()
            } else {
                match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
                    _ => PathBuf::from("."),
                }
            }
        })
        .collect()
}

fn sync_watches(watcher: &mut impl Watcher, watching: &mut BTreeSet<PathBuf>, paths: &[PathBuf]) {
    let wanted = directories_for(paths);
    for stale in watching.difference(&wanted).cloned().collect::<Vec<_>>() {
        let _ = watcher.unwatch(&stale);
        watching.remove(&stale);
    }
    for dir in wanted.difference(watching).cloned().collect::<Vec<_>>() {
        match watcher.watch(Path::new(&dir), RecursiveMode::NonRecursive) {
            Ok(()) => {
                tracing::debug!(dir = %dir.display(), "watching for configuration changes");
                watching.insert(dir);
            }
            // Retried after the next reload: the directory may appear later.
            Err(err) => tracing::warn!(dir = %dir.display(), error = %err, "cannot watch"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_watched_through_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        let sub = dir.path().join("policies");
        std::fs::create_dir(&sub).unwrap();
        let dirs = directories_for(&[file, sub.clone(), PathBuf::from("relative.json")]);
        let expected: BTreeSet<PathBuf> = [PathBuf::from("."), dir.path().to_owned(), sub]
            .into_iter()
            .collect();
        assert_eq!(dirs, expected);
    }
}
