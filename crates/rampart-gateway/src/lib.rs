//! Rampart's imperative shell: sockets, TLS, upstream pools, the stage runner, hot
//! reload and the admin API. Engines decide; this crate does the I/O around them.
//!
//! Layout:
//! - [`server`]: binds listeners and the admin port, accepts connections (with a
//!   connection cap and TLS), serves HTTP/1.1 with [`h1server`] and h2 through
//!   hyper, drains on shutdown.
//! - [`h1server`]: Rampart's own HTTP/1 connection: one checked parse per head
//!   straight into the `http::Request`, streamed request bodies, one write per
//!   small response. [`h1guard`] holds the head checks it shares with the guard
//!   that fronts hyper when `RAMPART_HTTP1=hyper` asks for hyper's HTTP/1.
//! - [`proxy`]: one request's path: protocol checks, normalisation, routing, the
//!   stages, forwarding, response stages, the audit record.
//! - [`runtime`]: a compiled configuration ([`Runtime`]) and the [`StageFactory`]
//!   that gives each API its stages.
//! - [`reload`]: SIGHUP and file-change reloads, built beside the old runtime and
//!   swapped atomically.
//! - [`listeners`]: each listener's settings (TLS built with the runtime) and the
//!   running accept loops, changed by a reload without a gap.
//! - [`problems`]: every response Rampart makes itself (RFC 9457), in one place.
//! - [`normalize`], [`headers`]: pure request-head processing (fuzzed).
//! - [`tls`], [`upstream`]: rustls server and client configuration; [`pool`]: the
//!   upstream client (a connection pool); [`h1client`]: Rampart's own HTTP/1.1
//!   upstream connection (hyper's when `RAMPART_UPSTREAM_H1=hyper`; h2 is hyper's).
//! - [`admin`], [`telemetry`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`fields`]: a request's header fields as received (positions in the head),
//!   sent upstream as lines when nothing needs them as a map.
//! - [`body`]: streaming body wrappers that count bytes and finish the audit record.

pub mod admin;
pub mod body;
mod deadline;
pub mod fields;
pub mod h1client;
pub mod h1guard;
pub mod h1server;
pub mod headers;
pub mod listeners;
pub mod normalize;
pub mod pool;
pub mod problems;
pub mod proxy;
pub mod reload;
pub mod runtime;
pub mod server;
mod stall;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod test_support;
pub mod tls;
pub mod upstream;
mod wall_clock;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;

pub use runtime::{NoStages, Runtime, StageFactory};
pub use server::{Server, StartError};

/// Errors carried by streaming bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// State shared by every connection: the current runtime and lifecycle flags.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    factory: Arc<dyn StageFactory>,
    config_path: PathBuf,
    draining: AtomicBool,
    reload_lock: tokio::sync::Mutex<()>,
    /// The running client listeners; a reload changes them with the runtime.
    listeners: tokio::sync::Mutex<listeners::ListenerSet>,
}

impl Gateway {
    /// A gateway serving `runtime`, reloading from `config_path` with `factory`.
    pub fn new(runtime: Runtime, factory: Arc<dyn StageFactory>, config_path: PathBuf) -> Self {
        Self {
            runtime: ArcSwap::from_pointee(runtime),
            factory,
            config_path,
            draining: AtomicBool::new(false),
            reload_lock: tokio::sync::Mutex::new(()),
            listeners: tokio::sync::Mutex::new(listeners::ListenerSet::default()),
        }
    }

    /// The current runtime; a request holds it until it is done.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}
