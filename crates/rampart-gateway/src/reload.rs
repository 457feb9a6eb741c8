//! Hot reload: on SIGHUP or when the configuration file changes, build a complete
//! new runtime beside the old one, then swap it in atomically. A bad configuration
//! is logged and counted (`rampart_config_reloads_total{result="error"}`) and the
//! old runtime keeps serving. Requests in flight hold the runtime they started
//! with and finish on it. Listeners are part of the new configuration: their TLS
//! is built with the runtime, new addresses are bound before the swap (a failure
//! refuses the reload), and the listener changes are applied right after it
//! (see [`crate::listeners`]).

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use parking_lot::Mutex;
use rampart_config::ConfigErrors;

use crate::Gateway;
use crate::runtime::Runtime;

impl Gateway {
    /// Reloads the configuration file now. Returns the errors of a refused config.
    pub async fn reload(&self) -> Result<(), ConfigErrors> {
        // One reload at a time: two racing reloads must not swap in an older file.
        let _guard = self.reload_lock.lock().await;
        let path = self.config_path.clone();
        let previous = self.runtime();
        let previous_limit = previous.config.limits.max_in_flight;
        let factory = self.factory.clone();
        // Building may read rule files and specs: keep it off the async workers.
        let built = tokio::task::spawn_blocking(move || {
            let config = rampart_config::load(&path)?;
            Runtime::build(config, factory.as_ref(), Some(&previous))
        })
        .await
        .unwrap_or_else(|join_error| {
            Err(ConfigErrors::one(rampart_config::ConfigError::new(
                &self.config_path,
                None,
                "",
                format!("reload task failed: {join_error}"),
            )))
        });
        let runtime = match built {
            Ok(runtime) => runtime,
            Err(errors) => return Err(refused(errors)),
        };
        // Held from the plan to the commit: the plan is made against the
        // running listeners as they are.
        let mut listeners = self.listeners.lock().await;
        let plan = if listeners.is_running() {
            match listeners.plan(&runtime.listeners, &runtime.config).await {
                Ok(plan) => Some(plan),
                Err(errors) => return Err(refused(errors)),
            }
        } else {
            None
        };
        runtime.resize_in_flight(previous_limit);
        self.runtime.store(Arc::new(runtime));
        if let Some(plan) = plan {
            listeners.commit(plan).await;
        }
        drop(listeners);
        metrics::counter!("rampart_config_reloads_total", "result" => "ok").increment(1);
        tracing::info!(config = %self.config_path.display(), "configuration reloaded");
        // Accepted but weakening, as at start: a reload may add what is warned of
        // (a second identity provider, say).
        for warning in self.runtime().config.warnings() {
            tracing::warn!("{warning}");
        }
        Ok(())
    }
}

/// Logs and counts a refused reload.
fn refused(errors: ConfigErrors) -> ConfigErrors {
    metrics::counter!("rampart_config_reloads_total", "result" => "error").increment(1);
    for error in &errors.0 {
        tracing::error!(%error, "configuration refused; the previous one keeps serving");
    }
    errors
}

/// Reloads on SIGHUP until the task is dropped, on `hangups` if given (a
/// stream made earlier, whose pending signal is taken first).
pub async fn on_sighup(gateway: Arc<Gateway>, hangups: Option<tokio::signal::unix::Signal>) {
    let hangups = match hangups {
        Some(hangups) => Ok(hangups),
        None => tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()),
    };
    let Ok(mut hangups) = hangups else {
        tracing::warn!("cannot listen for SIGHUP; reload on signal disabled");
        return;
    };
    while hangups.recv().await.is_some() {
        let _ = gateway.reload().await;
    }
}

/// Whether a watcher event can mean new file contents. inotify also reports
/// opens and read-only closes (notify's `Access` events): reacting to those made
/// any read of the file (`cat`, a backup, and the reload's own read of it) start
/// a reload every debounce interval, forever, each one rebuilding every engine
/// (a full CRS build with the WAF).
fn changes_file(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Longest a burst of file events may hold a reload back: a writer that
/// never pauses for a whole debounce interval still gets its file read.
const MAX_DEBOUNCE_ROUNDS: u32 = 25;

/// The files to watch for one configuration path, as (directory, file name)
/// pairs. Besides the path itself, a symbolic link is followed (a few hops):
/// the target's own directory and name (a link into another directory, whose
/// target is written in place), and a relative link's first component in the
/// link's directory. That last one is how a Kubernetes ConfigMap changes:
/// `rampart.yaml -> ..data/rampart.yaml`, and an update renames a new
/// `..data` link over the old one, an event that never names `rampart.yaml`.
fn watch_targets(path: &Path) -> Vec<(PathBuf, OsString)> {
    fn directory_of(path: &Path) -> PathBuf {
        path.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }
    let mut targets = Vec::new();
    let Some(name) = path.file_name() else {
        return targets;
    };
    targets.push((directory_of(path), name.to_owned()));
    let mut current = path.to_path_buf();
    for _ in 0..8 {
        let Ok(link) = std::fs::read_link(&current) else {
            break;
        };
        let dir = directory_of(&current);
        if link.is_relative()
            && let Some(Component::Normal(first)) = link.components().next()
        {
            targets.push((dir.clone(), first.to_owned()));
        }
        let target = dir.join(&link);
        if let Some(name) = target.file_name() {
            targets.push((directory_of(&target), name.to_owned()));
        }
        current = target;
    }
    targets.sort();
    targets.dedup();
    targets
}

/// Reloads when the configuration file changes until the task is dropped.
/// Watches directories, not the file (editors and ConfigMaps replace files
/// rather than write them), follows symbolic links (see [`watch_targets`],
/// refreshed after every reload as a link may now point elsewhere), and waits
/// for a burst of events to end (a quiet `debounce` interval) before reading
/// the file, so a file written in several steps is read once it is whole.
pub async fn on_file_change(gateway: Arc<Gateway>, debounce: Duration) {
    let path = gateway.config_path.clone();
    let (sender, mut events) = tokio::sync::mpsc::channel::<()>(16);
    // File names whose change can mean new contents (shared with the watcher's
    // thread, renewed with the targets).
    let names: Arc<Mutex<Vec<OsString>>> = Arc::default();
    let watched_names = names.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && changes_file(&event.kind)
        {
            let names = watched_names.lock();
            if event
                .paths
                .iter()
                .any(|p| p.file_name().is_some_and(|n| names.iter().any(|w| w == n)))
            {
                let _ = sender.try_send(());
            }
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch the configuration file; reload on change disabled");
            return;
        }
    };
    let mut watched_dirs: Vec<PathBuf> = Vec::new();
    let mut rewatch = |watcher: &mut notify::RecommendedWatcher| {
        let targets = watch_targets(&path);
        *names.lock() = targets.iter().map(|(_, name)| name.clone()).collect();
        let mut dirs: Vec<PathBuf> = targets.into_iter().map(|(dir, _)| dir).collect();
        dirs.dedup();
        for gone in watched_dirs.iter().filter(|d| !dirs.contains(d)) {
            // A directory already removed (an old ConfigMap version) is unwatched already.
            let _ = watcher.unwatch(gone);
        }
        let mut watching = false;
        for dir in &dirs {
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => watching = true,
                Err(err) => tracing::warn!(
                    error = %err,
                    dir = %dir.display(),
                    "cannot watch a directory of the configuration file"
                ),
            }
        }
        watched_dirs = dirs;
        watching
    };
    if !rewatch(&mut watcher) {
        tracing::warn!("cannot watch the configuration directory; reload on change disabled");
        return;
    }
    while events.recv().await.is_some() {
        for _ in 0..MAX_DEBOUNCE_ROUNDS {
            tokio::time::sleep(debounce).await;
            let mut more = false;
            while events.try_recv().is_ok() {
                more = true;
            }
            if !more {
                break;
            }
        }
        let _ = gateway.reload().await;
        rewatch(&mut watcher);
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode};

    use super::*;

    #[test]
    fn reads_of_the_file_are_not_changes() {
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
        ] {
            assert!(!changes_file(&kind), "{kind:?}");
        }
    }

    #[test]
    fn writes_creations_renames_and_removals_are_changes() {
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
        ] {
            assert!(changes_file(&kind), "{kind:?}");
        }
    }
}
