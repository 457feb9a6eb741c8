//! Hot reload: on SIGHUP or when the configuration file changes, build a complete
//! new runtime beside the old one, then swap it in atomically. A bad configuration
//! is logged and counted (`rampart_config_reloads_total{result="error"}`) and the
//! old runtime keeps serving. Requests in flight hold the runtime they started
//! with and finish on it. Listeners are part of the new configuration: their TLS
//! is built with the runtime, new addresses are bound before the swap (a failure
//! refuses the reload), and the listener changes are applied right after it
//! (see [`crate::listeners`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
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
        self.runtime.store(Arc::new(runtime));
        if let Some(plan) = plan {
            listeners.commit(plan).await;
        }
        drop(listeners);
        metrics::counter!("rampart_config_reloads_total", "result" => "ok").increment(1);
        tracing::info!(config = %self.config_path.display(), "configuration reloaded");
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

/// Reloads on SIGHUP until the task is dropped.
pub async fn on_sighup(gateway: Arc<Gateway>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
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

/// Reloads when the configuration file changes until the task is dropped. Watches
/// the directory (editors and ConfigMaps replace files rather than write them) and
/// debounces bursts of events.
pub async fn on_file_change(gateway: Arc<Gateway>, debounce: Duration) {
    let path = gateway.config_path.clone();
    let (sender, mut events) = tokio::sync::mpsc::channel::<()>(16);
    let file_name = path.file_name().map(ToOwned::to_owned);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && changes_file(&event.kind)
            && event
                .paths
                .iter()
                .any(|p| p.file_name() == file_name.as_deref())
        {
            let _ = sender.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch the configuration file; reload on change disabled");
            return;
        }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Err(err) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::warn!(error = %err, "cannot watch the configuration directory; reload on change disabled");
        return;
    }
    while events.recv().await.is_some() {
        tokio::time::sleep(debounce).await;
        while events.try_recv().is_ok() {}
        let _ = gateway.reload().await;
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
