//! Listeners and connections.
//!
//! [`Server::bind`] builds the first runtime and binds every socket (port 0 works,
//! for tests); [`Server::run`] accepts until the shutdown future resolves, then
//! stops accepting, lets in-flight requests finish (up to `limits.drain_timeout`)
//! and flushes the audit log. Each connection takes a permit of the connection
//! cap (connections past it are closed at once), gets a TLS handshake bounded by
//! the header-read timeout on TLS listeners, and is served by Rampart's own
//! HTTP/1 connection ([`crate::h1server`]) or, for h2 (ALPN or prior knowledge),
//! by hyper with the configured head limits. `RAMPART_HTTP1=hyper` serves
//! HTTP/1 with hyper behind the guard instead (the previous server, kept as a
//! fallback).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rampart_config::{Config, ConfigErrors, Limits};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::h1guard::{GuardedIo, HeadLimits, OnRefusal, RefusedHead};
use crate::h1server::{self, Ended, H1Conn, Prefixed};
use crate::listeners::{ListenerSet, ListenerSettings, Plan, Runner};
use crate::problems::GatewayError;
use crate::proxy::{ConnInfo, handle};
use crate::runtime::{Runtime, StageFactory};
use crate::stall::{self, IdleClose, StallWatch};
use crate::tls::tls_info;
use crate::{Gateway, admin};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration was refused.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// A bound, not yet running server.
pub struct Server {
    gateway: Arc<Gateway>,
    listeners: Plan,
    admin: TcpListener,
    watch_config: bool,
    /// SIGHUP, caught since before the server was built (see [`Server::with_hangups`]).
    hangups: Option<tokio::signal::unix::Signal>,
}

impl Server {
    /// Builds the runtime from `config` (listener TLS included) and binds
    /// every socket.
    pub async fn bind(config: Config, factory: Arc<dyn StageFactory>) -> Result<Self, StartError> {
        // Make sure the recorder exists before the first metric is recorded.
        let _ = crate::telemetry::handle();
        let config_path = config.source.clone();
        let runtime = Runtime::build(config, factory.as_ref(), None)?;
        let listeners = ListenerSet::default()
            .plan(&runtime.listeners, &runtime.config)
            .await?;
        let admin = TcpListener::bind(runtime.config.admin_bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: runtime.config.admin_bind,
                source,
            })?;
        Ok(Self {
            gateway: Arc::new(Gateway::new(runtime, factory, config_path)),
            listeners,
            admin,
            watch_config: true,
            hangups: None,
        })
    }

    /// Reloads on the SIGHUPs of `hangups`, a stream made before the server
    /// was built: one delivered while the first configuration was being
    /// built (or in between) is still pending in it, and reloads once the
    /// server runs. Without it the server listens for SIGHUP from `run` on.
    pub fn with_hangups(mut self, hangups: tokio::signal::unix::Signal) -> Self {
        self.hangups = Some(hangups);
        self
    }

    /// Turns reload-on-file-change off (it is on by default).
    pub fn without_config_watch(mut self) -> Self {
        self.watch_config = false;
        self
    }

    /// The addresses client listeners are bound to, in configuration order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.local_addrs()
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.local_addr().ok()
    }

    /// The shared gateway state (for reloads in tests).
    pub fn gateway(&self) -> Arc<Gateway> {
        self.gateway.clone()
    }

    /// Serves until `shutdown` resolves, then drains.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let gateway = self.gateway;
        let graceful = Arc::new(Drain::new());
        let limits = gateway.runtime().config.limits.clone();
        let connection_cap = Arc::new(Semaphore::new(limits.max_connections));
        {
            let mut listeners = gateway.listeners.lock().await;
            listeners.set_runner(Some(Runner {
                gateway: Arc::downgrade(&gateway),
                connection_cap,
                graceful: graceful.clone(),
            }));
            listeners.commit(self.listeners).await;
            // A reload before `run` swapped the runtime only: catch up.
            let runtime = gateway.runtime();
            match listeners.plan(&runtime.listeners, &runtime.config).await {
                Ok(plan) => listeners.commit(plan).await,
                Err(errors) => {
                    for error in &errors.0 {
                        metrics::counter!("rampart_listener_errors_total").increment(1);
                        tracing::error!(%error, "listener of the reloaded configuration not started");
                    }
                }
            }
        }
        // The admin listener outlives the drain: `/readyz` answers 503 while
        // requests finish, and `/metrics` can still be scraped.
        let (admin_stop_sender, admin_stop) = watch::channel(false);
        let admin = tokio::spawn(admin_loop(self.admin, gateway.clone(), admin_stop));
        let background = [
            tokio::spawn(crate::reload::on_sighup(gateway.clone(), self.hangups)),
            tokio::spawn(watch_tls(gateway.clone(), CERT_POLL)),
        ];
        let _ = crate::telemetry::start_upkeep();
        let config_watch = self.watch_config.then(|| {
            tokio::spawn(crate::reload::on_file_change(
                gateway.clone(),
                Duration::from_millis(200),
            ))
        });
        tracing::info!("rampart is serving");

        shutdown.await;
        tracing::info!("shutting down: draining in-flight requests");
        gateway.start_draining();
        {
            let mut listeners = gateway.listeners.lock().await;
            listeners.set_runner(None);
            listeners.halt_all().await;
        }
        // The drain timeout of the configuration in force now (a reload may
        // have changed it).
        let drain_timeout = gateway.runtime().config.limits.drain_timeout;
        // The accept loops are gone, so this is the last reference.
        if let Ok(graceful) = Arc::try_unwrap(graceful)
            && tokio::time::timeout(drain_timeout, graceful.shutdown())
                .await
                .is_err()
        {
            tracing::warn!("drain timeout reached; closing remaining connections");
        }
        let _ = admin_stop_sender.send(true);
        let _ = admin.await;
        for task in background.iter().chain(config_watch.iter()) {
            task.abort();
        }
        // Let the last audit records reach their sinks.
        let audit = gateway.runtime().audit.clone();
        drop(gateway);
        let _ = tokio::task::spawn_blocking(move || audit.close()).await;
    }
}

/// hyper's HTTP/1 header-count limit when none is set.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Streams an HTTP/2 connection may have open at once.
const MAX_STREAMS: u32 = 256;

/// The most requests of one HTTP/2 connection that may be running at once,
/// counting those whose client reset the stream (they run on, see
/// `serve_hyper`); past it a request is refused (503 `connection-overloaded`).
/// Twice the streams: a front proxy multiplexing many users, some of whom
/// give up on a slow upstream, is not refused while the requests they left
/// finish; a client resetting streams in a loop still cannot keep more than
/// this many upstream requests running.
const MAX_RUNNING: usize = 2 * MAX_STREAMS as usize;

/// A request's work: in a task of its own, or, past a connection's limit of
/// running requests, its refusal (503, audited), made in the connection's task.
enum Work<F> {
    Spawned(
        tokio::task::JoinHandle<
            Result<http::Response<crate::body::ResponseBody>, std::convert::Infallible>,
        >,
    ),
    Refused(F),
}

/// Counts a connection's running requests; the count drops when the request's
/// task ends.
struct Running(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Release);
    }
}

fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The HTTP/1 guard ends hyper's input (EOF) when it refuses a pipelined
        // head: responses already in progress must still be written.
        .half_close(true)
        // Every HTTP/1 connection is behind the guard, which enforces the
        // header-read (and keep-alive idle) timeout itself and answers it with a
        // 408 problem; hyper's own would arm and drop a boxed timer per request.
        .header_read_timeout(None)
        // hyper refuses buffers below 8 KiB; the head limit is at least that.
        .max_buf_size(limits.max_header_bytes.max(8192));
    // The guard refuses heads past `max_headers` (431) before hyper parses them.
    // hyper's own limit matters only above its default of 100, and setting it
    // costs a header array initialised on every parse.
    if limits.max_headers > HYPER_DEFAULT_MAX_HEADERS {
        builder.http1().max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_STREAMS)
        // Rapid reset (CVE-2023-44487) and streams the client makes us reset:
        // past these the connection gets GOAWAY instead of burning CPU.
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(64))
        // Pings find dead peers that would otherwise hold streams and memory.
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(limits.header_read_timeout);
    builder
}

/// How often certificate and client CA files are checked for changes.
const CERT_POLL: Duration = Duration::from_secs(2);

/// Polls the certificate and client CA files of the current configuration's
/// TLS listeners until the task is dropped.
async fn watch_tls(gateway: Arc<Gateway>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        for listener in &gateway.runtime().listeners {
            if let Some(tls) = &listener.tls {
                tls.refresh();
            }
        }
    }
}

/// Accepts connections until `stop`; each is served with the listener's
/// settings of the moment (a reload may swap them).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    settings: Arc<ArcSwap<ListenerSettings>>,
    gateway: Arc<Gateway>,
    cap: Arc<Semaphore>,
    graceful: Arc<Drain>,
    mut stop: watch::Receiver<bool>,
) {
    // `RAMPART_HTTP1=hyper` serves HTTP/1 with hyper behind the guard instead
    // of Rampart's own connection (a fallback, read once per listener).
    let hyper_h1 = std::env::var("RAMPART_HTTP1").is_ok_and(|v| v == "hyper");
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            // An IPv4 client of a dual-stack (`[::]`) listener arrives as
            // `::ffff:a.b.c.d`: named as the IPv4 address it is, so trusted
            // proxy ranges, rate-limit keys, Cedar's `ip` (which refuses
            // mapped addresses), the audit log and `X-Forwarded-For` all see one
            // spelling.
            Ok((stream, peer)) => (
                stream,
                SocketAddr::new(peer.ip().to_canonical(), peer.port()),
            ),
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = cap.clone().try_acquire_owned() else {
            metrics::counter!("rampart_connections_rejected_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let current = settings.load();
        let tls = current.tls.as_ref().map(|tls| tls.acceptor());
        let hsts = current.hsts.clone();
        let watcher = graceful.watcher();
        let own_h1 = !hyper_h1;
        tokio::spawn(async move {
            let _permit = permit;
            let limits = gateway.runtime().config.limits.clone();
            let guard_limits = HeadLimits {
                max_header_bytes: limits.max_header_bytes,
                max_headers: limits.max_headers,
                header_read_timeout: limits.header_read_timeout,
            };
            let refusals: Arc<dyn OnRefusal> = Arc::new(AuditRefusals {
                gateway: gateway.clone(),
                peer,
            });
            let responses_done = Arc::new(AtomicU64::new(0));
            let Some(acceptor) = tls else {
                let info = Arc::new(ConnInfo {
                    peer,
                    tls: None,
                    hsts: None,
                    responses_done: responses_done.clone(),
                    forwarded: crate::headers::ForwardedPeer::new(peer.ip()),
                    writes_header_lines: own_h1,
                });
                if own_h1 {
                    let settings = H1Conn {
                        gateway: gateway.clone(),
                        info: info.clone(),
                        limits: guard_limits,
                        send_timeout: limits.send_timeout,
                        refusals,
                        allow_h2: true,
                    };
                    // h2 with prior knowledge: hyper serves it, after the bytes read.
                    if let Ended::Http2(stream, read) =
                        h1server::serve(stream, settings, watcher.clone()).await
                    {
                        let io = Prefixed::new(read, stream);
                        // hyper writes h2 responses from their maps.
                        let info = Arc::new(ConnInfo {
                            writes_header_lines: false,
                            ..(*info).clone()
                        });
                        let idle = IdleClose::After(limits.header_read_timeout);
                        let io = TokioIo::new(io);
                        serve_hyper(io, Speaks::Http2, &limits, idle, gateway, info, watcher).await;
                    }
                    return;
                }
                let io = GuardedIo::new(stream, guard_limits, refusals, responses_done);
                // The guard closes idle HTTP/1 connections itself (and answers
                // a head that stalls with 408); one that turns out to be h2
                // (prior knowledge) is closed idle here.
                let idle = IdleClose::OnceHttp2(limits.header_read_timeout, io.http2_flag());
                let io = TokioIo::new(io);
                serve_hyper(io, Speaks::Either, &limits, idle, gateway, info, watcher).await;
                return;
            };
            let handshake =
                tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(_)) | Err(_) => {
                    metrics::counter!("rampart_tls_handshake_failures_total").increment(1);
                    return;
                }
            };
            let tls = tls_info(stream.get_ref().1);
            // h2 framing has no request-smuggling ambiguity to guard against.
            let is_h2 = tls.alpn.as_deref() == Some("h2");
            let info = Arc::new(ConnInfo {
                peer,
                tls: Some(tls),
                hsts,
                responses_done: responses_done.clone(),
                forwarded: crate::headers::ForwardedPeer::new(peer.ip()),
                writes_header_lines: own_h1 && !is_h2,
            });
            if is_h2 {
                let idle = IdleClose::After(limits.header_read_timeout);
                let io = TokioIo::new(stream);
                serve_hyper(io, Speaks::Http2, &limits, idle, gateway, info, watcher).await;
            } else if own_h1 {
                let settings = H1Conn {
                    gateway,
                    info,
                    limits: guard_limits,
                    send_timeout: limits.send_timeout,
                    refusals,
                    allow_h2: false,
                };
                let _ = h1server::serve(stream, settings, watcher).await;
            } else {
                // TLS: h2 is chosen by ALPN, so this connection is HTTP/1,
                // whose idle close is the guard's.
                let io = GuardedIo::new(stream, guard_limits, refusals, responses_done);
                serve_hyper(
                    TokioIo::new(io),
                    Speaks::Http1,
                    &limits,
                    IdleClose::Never,
                    gateway,
                    info,
                    watcher,
                )
                .await;
            }
        });
    }
}

/// Which protocol a connection handed to hyper may speak.
#[derive(Clone, Copy)]
enum Speaks {
    /// h2 only: ALPN chose it, or the h2 preface was seen. hyper's automatic
    /// choice would serve HTTP/1 if the bytes then say so, outside the guard
    /// and without a head timeout (a connection held for ever).
    Http2,
    /// HTTP/1 only (behind the guard): TLS without ALPN h2, where h2 is not
    /// allowed (RFC 9113 §3.2).
    Http1,
    /// Either, by its first bytes (cleartext behind the guard, which
    /// passes h2 through and guards HTTP/1).
    Either,
}

/// Serves a connection with hyper (h2, and HTTP/1 behind the guard when
/// Rampart's own HTTP/1 server is off) until it ends; on drain, hyper finishes
/// what is in flight and closes.
async fn serve_hyper<IO>(
    io: TokioIo<IO>,
    speaks: Speaks,
    limits: &Limits,
    idle: IdleClose,
    gateway: Arc<Gateway>,
    info: Arc<ConnInfo>,
    mut drain: watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let builder = match speaks {
        Speaks::Http2 => connection_builder(limits).http2_only(),
        Speaks::Http1 => connection_builder(limits).http1_only(),
        Speaks::Either => connection_builder(limits),
    };
    // hyper bounds no response write in time: a client that stops reading (or,
    // on HTTP/2, grants no window) would hold its streams' in-flight slots and
    // upstream connections forever. See `stall`.
    let watch = StallWatch::new();
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let service = service_fn({
        let watch = watch.clone();
        move |request: http::Request<hyper::body::Incoming>| {
            let busy = watch.busy();
            let (parts, body) = request.into_parts();
            // A task of its own: hyper drops a request's future when its
            // client resets the stream (h2 RST_STREAM) or the connection
            // closes, and a request dropped while the upstream works on it
            // would leave no audit record or metric of what the upstream did.
            // Spawned, it runs to its end; its unread response is then
            // recorded as abandoned. A reset stream no longer counts towards
            // the stream limit, so the connection's running requests are
            // counted here: past the limit (HEADERS and RST_STREAM in a
            // loop) a request is refused (503), audited and never
            // forwarded, so reset requests cannot pile up at the upstream.
            let admit = running.fetch_add(1, std::sync::atomic::Ordering::AcqRel) < MAX_RUNNING;
            let slot = Running(running.clone());
            let work = handle(
                gateway.clone(),
                info.clone(),
                parts,
                body.into(),
                None,
                admit,
            );
            let work = if admit {
                Work::Spawned(tokio::spawn(async move {
                    let _slot = slot;
                    work.await
                }))
            } else {
                drop(slot);
                Work::Refused(work)
            };
            let watch = watch.clone();
            async move {
                let response = match work {
                    Work::Refused(work) => match work.await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    },
                    Work::Spawned(task) => match task.await {
                        Ok(Ok(response)) => response,
                        Ok(Err(never)) => match never {},
                        Err(error) if error.is_panic() => {
                            std::panic::resume_unwind(error.into_panic())
                        }
                        // Cancelled: the runtime is shutting down.
                        Err(_) => crate::problems::problem_response(
                            &crate::problems::GatewayError::Overloaded.problem(),
                            "",
                        )
                        .map(|bytes| {
                            crate::body::ResponseBody::new(crate::proxy::full(bytes), None)
                        }),
                    },
                };
                Ok::<_, std::convert::Infallible>(response.map(|body| watch.watch(body, busy)))
            }
        }
    });
    let connection = builder.serve_connection(io, service).into_owned();
    let mut connection = std::pin::pin!(connection);
    // With an `idle` timeout (HTTP/2), idle like an HTTP/1 keep-alive
    // connection: closed with GOAWAY after it with nothing in flight.
    if !*drain.borrow() {
        let ended = watch.until_stalled_or_idle(limits.send_timeout, &idle);
        tokio::select! {
            _ = connection.as_mut() => return,
            why = ended => match why {
                stall::Ended::Stalled => {
                    metrics::counter!("rampart_send_timeouts_total").increment(1);
                    return;
                }
                stall::Ended::Idle => {}
            },
            _ = drain.changed() => {}
        }
    }
    // Closing (idle or draining): what is in flight finishes, unless it
    // stalls.
    connection.as_mut().graceful_shutdown();
    // Bounded even with no response body left to watch: hyper hands an h2
    // response's last frame to h2 and drops the body, and h2 then waits, with
    // the connection open, for window the client may never grant (a client
    // that grants one byte and answers pings held the connection for ever).
    let closing = IdleClose::After(limits.send_timeout);
    tokio::select! {
        _ = connection.as_mut() => {}
        why = watch.until_stalled_or_idle(limits.send_timeout, &closing) => {
            // Idle: nothing left to watch, only h2's queue (not a stalled
            // response body) held it open.
            if why == stall::Ended::Stalled {
                metrics::counter!("rampart_send_timeouts_total").increment(1);
            }
        }
    }
    // `drain` is held until here: the server waits for every receiver to go.
    drop(drain);
}

/// Graceful shutdown of every connection: each holds a receiver; shutdown
/// signals them and waits until all are dropped.
pub(crate) struct Drain {
    sender: watch::Sender<bool>,
}

impl Drain {
    fn new() -> Self {
        Self {
            sender: watch::Sender::new(false),
        }
    }

    fn watcher(&self) -> watch::Receiver<bool> {
        self.sender.subscribe()
    }

    async fn shutdown(self) {
        let _ = self.sender.send(true);
        self.sender.closed().await;
    }
}

/// Most admin connections at once: scrapes and probes need few, and a
/// client holding many must not take the process's file descriptors from the
/// client listeners. Connections past it are closed.
const ADMIN_MAX_CONNECTIONS: usize = 256;

async fn admin_loop(listener: TcpListener, gateway: Arc<Gateway>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(ADMIN_MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("rampart_admin_connections_rejected_total").increment(1);
            continue;
        };
        // The client listeners' head timeout holds here too (hyper applies it
        // only with a timer): a head trickled in, or an idle keep-alive
        // connection, does not hold a slot forever.
        let header_read_timeout = gateway.runtime().config.limits.header_read_timeout;
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| admin::handle(gateway.clone(), peer, request));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

/// Writes the audit record (and counts the refusal) of a head the guard refused.
struct AuditRefusals {
    gateway: Arc<Gateway>,
    peer: SocketAddr,
}

impl OnRefusal for AuditRefusals {
    fn refused(&self, error: GatewayError, head: &RefusedHead) {
        let problem = error.problem();
        let runtime = self.gateway.runtime();
        let (path, query) = match head.target.as_deref().map(|t| t.split_once('?')) {
            Some(Some((path, query))) => (path.to_string(), Some(runtime.redactor.redact(query))),
            Some(None) => (head.target.clone().unwrap_or_default(), None),
            None => (String::new(), None),
        };
        let path = runtime.redactor.redact_path(path);
        metrics::counter!(
            "rampart_requests_total",
            "api" => "-",
            "route" => "-",
            "status" => problem.kind.status.to_string(),
            "decision" => "deny",
        )
        .increment(1);
        runtime.audit.submit(rampart_audit::AuditRecord {
            ts: std::time::SystemTime::now(),
            request_id: head.request_id.clone(),
            client_ip: self.peer.ip(),
            method: rampart_audit::record::method_name(head.method.as_deref().unwrap_or_default()),
            host: head.host.clone().unwrap_or_default(),
            path,
            query,
            api: None,
            route: None,
            status: problem.kind.status,
            bytes_in: 0,
            bytes_out: 0,
            duration_ms: 0.0,
            upstream_ms: None,
            decision: rampart_audit::Decision::Deny,
            reason: Some(std::borrow::Cow::Borrowed(problem.kind.slug)),
            identity: None,
            waf: Default::default(),
        });
    }
}
