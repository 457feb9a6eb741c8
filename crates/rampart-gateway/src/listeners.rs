//! Client listeners across reloads.
//!
//! A configuration's listeners are prepared with its runtime ([`prepare`]):
//! each TLS listener's server config is built then (certificate, key and
//! client CA read and checked), so TLS that cannot be built refuses the
//! configuration (at start, in `rampart check`, and on reload, where the old
//! configuration keeps serving) instead of taking a listener down after the
//! swap.
//!
//! [`ListenerSet`] holds the running accept loops. A reload plans against it
//! before its runtime is swapped in ([`ListenerSet::plan`]): a listener whose
//! configured address is already served keeps its socket and takes its new
//! settings in place (no gap, no second bind of the same address), a new
//! address is bound then, and a bind that fails refuses the reload with
//! nothing changed. After the swap, [`ListenerSet::commit`] swaps the
//! settings, starts the new accept loops and only then stops the listeners
//! the configuration no longer has (their connections drain).

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use rampart_config::{Config, ConfigError, ConfigErrors, Listener};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::Gateway;
use crate::server::{Drain, accept_loop};
use crate::tls::TlsListener;

/// What a listener serves with; an accept loop reads it per connection, so a
/// reload can replace it without closing the socket.
#[derive(Debug)]
pub struct ListenerSettings {
    /// Its configuration.
    pub config: Listener,
    /// Its TLS, or `None` for plain HTTP.
    pub tls: Option<Arc<TlsListener>>,
    /// The `Strict-Transport-Security` value of its responses.
    pub hsts: Option<http::HeaderValue>,
}

/// Builds every listener's settings (TLS included). Errors name the listener's
/// `tls` field and its line.
/// A listener whose settings and files are what `previous` (the running
/// configuration's listeners) built keeps its TLS: a reload that changes
/// nothing of it neither drops its session cache (every resumption would
/// fail after each reload) nor fails on a certificate caught mid-rotation.
pub fn prepare(
    config: &Config,
    previous: &[Arc<ListenerSettings>],
) -> Result<Vec<Arc<ListenerSettings>>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut prepared = Vec::new();
    for (i, listener) in config.listeners.iter().enumerate() {
        let kept = previous
            .iter()
            .find(|p| p.config == *listener)
            .and_then(|p| p.tls.clone())
            .filter(|tls| tls.files_unchanged());
        let loaded = match kept {
            Some(tls) => Ok(Some(tls)),
            None => listener
                .tls
                .as_ref()
                .map(|tls| TlsListener::load(tls).map(Arc::new))
                .transpose(),
        };
        let tls = match loaded {
            Ok(tls) => tls,
            Err(err) => {
                let field = match err.field.name() {
                    "" => format!("listeners[{i}].tls"),
                    name => format!("listeners[{i}].tls.{name}"),
                };
                errors.push(ConfigError::new(
                    &config.source,
                    config.line_of(&field),
                    field,
                    err.reason,
                ));
                continue;
            }
        };
        // Checked by the configuration: visible ASCII.
        let hsts = listener
            .tls
            .as_ref()
            .and_then(|tls| tls.hsts.as_deref())
            .and_then(|v| http::HeaderValue::from_str(v).ok());
        prepared.push(Arc::new(ListenerSettings {
            config: listener.clone(),
            tls,
            hsts,
        }));
    }
    if errors.is_empty() {
        Ok(prepared)
    } else {
        Err(errors)
    }
}

/// Every listener's TLS errors, nothing bound or started (for `rampart
/// check`, which so refuses what `serve` and a reload would).
pub fn check(config: &Config) -> Vec<ConfigError> {
    prepare(config, &[]).err().unwrap_or_default()
}

/// What running accept loops share: the gateway (weak: the gateway holds this
/// set), the connection cap and the drain signal.
pub(crate) struct Runner {
    pub(crate) gateway: Weak<Gateway>,
    pub(crate) connection_cap: Arc<Semaphore>,
    pub(crate) graceful: Arc<Drain>,
}

struct Active {
    settings: Arc<ArcSwap<ListenerSettings>>,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Active {
    /// Stops accepting and waits until the socket is closed.
    async fn halt(self) {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
    }
}

/// The running client listeners (none until the server runs, and after it
/// stopped).
#[derive(Default)]
pub(crate) struct ListenerSet {
    active: Vec<Active>,
    runner: Option<Runner>,
}

/// The changes that take a [`ListenerSet`] to a configuration's listeners,
/// with the new sockets already bound.
pub(crate) struct Plan {
    /// Running listeners (index in the set) that take new settings in place.
    keep: Vec<(usize, Arc<ListenerSettings>)>,
    /// New listeners, bound.
    bound: Vec<(TcpListener, Arc<ListenerSettings>)>,
    /// Running listeners (index in the set) to stop.
    stop: Vec<usize>,
}

impl Plan {
    /// The addresses of the newly bound listeners, in configuration order.
    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        self.bound
            .iter()
            .filter_map(|(listener, _)| listener.local_addr().ok())
            .collect()
    }
}

impl ListenerSet {
    /// Whether accept loops are run (between `Server::run`'s start and end).
    pub(crate) fn is_running(&self) -> bool {
        self.runner.is_some()
    }

    pub(crate) fn set_runner(&mut self, runner: Option<Runner>) {
        self.runner = runner;
    }

    /// Matches `wanted` to the running listeners by configured address and
    /// binds the rest. Nothing running changes; on error the sockets bound
    /// here are closed again.
    pub(crate) async fn plan(
        &self,
        wanted: &[Arc<ListenerSettings>],
        config: &Config,
    ) -> Result<Plan, ConfigErrors> {
        // The configured address of each running listener, `None` once claimed.
        let mut running: Vec<Option<(SocketAddr, String)>> = self
            .active
            .iter()
            .map(|active| {
                let settings = active.settings.load();
                Some((settings.config.bind, settings.config.name.clone()))
            })
            .collect();
        let mut keep = Vec::new();
        let mut fresh = Vec::new();
        for (i, settings) in wanted.iter().enumerate() {
            let config = &settings.config;
            // Two listeners may share a configured address (port 0): prefer
            // the one of the same name.
            let same_bind = |slot: &Option<(SocketAddr, String)>| {
                slot.as_ref().is_some_and(|(bind, _)| *bind == config.bind)
            };
            let found = running
                .iter()
                .position(|slot| {
                    same_bind(slot) && slot.as_ref().is_some_and(|(_, name)| *name == config.name)
                })
                .or_else(|| running.iter().position(same_bind));
            match found {
                Some(k) => {
                    running[k] = None;
                    keep.push((k, settings.clone()));
                }
                None => fresh.push((i, settings.clone())),
            }
        }
        // Those left unclaimed, with their address.
        let stop: Vec<(usize, SocketAddr)> = running
            .iter()
            .enumerate()
            .filter_map(|(k, slot)| slot.as_ref().map(|(bind, _)| (k, *bind)))
            .collect();
        let mut bound = Vec::new();
        let mut errors = Vec::new();
        for (i, settings) in fresh {
            let addr = settings.config.bind;
            match TcpListener::bind(addr).await {
                Ok(listener) => bound.push((listener, settings)),
                Err(err) => {
                    let field = format!("listeners[{i}].bind");
                    let mut message = format!("cannot bind {addr}: {err}");
                    // A listener this change removes still holds the port
                    // until the change is made; it is never stopped first.
                    if let Some((_, old)) = stop.iter().find(|(_, old)| old.port() == addr.port()) {
                        message.push_str(&format!(
                            " (the listener on {old} that this configuration removes still holds the port: remove it in one reload, then add this one)"
                        ));
                    }
                    errors.push(ConfigError::new(
                        &config.source,
                        config.line_of(&field),
                        field,
                        message,
                    ));
                }
            }
        }
        if errors.is_empty() {
            let stop = stop.into_iter().map(|(k, _)| k).collect();
            Ok(Plan { keep, bound, stop })
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Applies a plan made against this set (nothing may have changed it
    /// since): settings swapped in place, new listeners started, then the
    /// removed ones stopped.
    pub(crate) async fn commit(&mut self, plan: Plan) {
        for (k, settings) in plan.keep {
            if let Some(active) = self.active.get(k) {
                let before = active.settings.swap(settings.clone());
                if before.config != settings.config {
                    tracing::info!(listener = %settings.config.name, addr = %settings.config.bind, "listener settings changed by reload");
                }
            }
        }
        let mut stopping = Vec::new();
        let mut kept = Vec::new();
        for (k, active) in self.active.drain(..).enumerate() {
            if plan.stop.contains(&k) {
                stopping.push(active);
            } else {
                kept.push(active);
            }
        }
        self.active = kept;
        for (listener, settings) in plan.bound {
            self.start(listener, settings);
        }
        for active in stopping {
            let config = active.settings.load().config.clone();
            tracing::info!(listener = %config.name, addr = %config.bind, "listener stopped by reload");
            active.halt().await;
        }
    }

    fn start(&mut self, listener: TcpListener, settings: Arc<ListenerSettings>) {
        let Some(runner) = &self.runner else {
            return;
        };
        let Some(gateway) = runner.gateway.upgrade() else {
            return;
        };
        tracing::info!(listener = %settings.config.name, addr = %settings.config.bind, "listener started");
        let settings = Arc::new(ArcSwap::new(settings));
        let (stop, stopped) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(
            listener,
            settings.clone(),
            gateway,
            runner.connection_cap.clone(),
            runner.graceful.clone(),
            stopped,
        ));
        self.active.push(Active {
            settings,
            stop,
            accept,
        });
    }

    /// Stops every listener (shutdown).
    pub(crate) async fn halt_all(&mut self) {
        for active in self.active.drain(..) {
            active.halt().await;
        }
    }
}
