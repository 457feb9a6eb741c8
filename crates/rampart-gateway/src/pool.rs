//! The upstream client: a small connection pool of its own, one per API, over
//! Rampart's own HTTP/1.1 client connection ([`crate::h1client`]) or, when
//! `RAMPART_UPSTREAM_H1=hyper` is set, hyper's connection API
//! (`hyper::client::conn`). HTTP/2 upstreams always use hyper.
//!
//! Why not hyper-util's legacy client: it hashes a pool key per request, races a
//! checkout against a connect, attaches connection info to every response and
//! spawns a boxed future per request to return the connection when it is ready
//! again. Here the API already identifies the pool, so a request pops the most
//! recently used idle HTTP/1 connection (LIFO: warm connections, cold ones age
//! out), and the response body hands the connection back when it ends.
//!
//! Kept from the legacy client: plain and rustls upstreams (ALPN h2 or
//! http/1.1; one shared HTTP/2 connection when the upstream picks h2), the
//! connect timeout, the idle timeout and the cap on idle connections, and the
//! retry of a request that a pooled connection gave back unsent (the upstream
//! had closed it while it sat idle). A fresh connection is never retried.
//! Added: an idle lifetime shortened to the upstream's announced keep-alive
//! timeout, and the resend rules of docs/request-path.md §5 (what may go
//! again when a reused connection fails).
//!
//! Layout: this file holds the pool and the own client's request path;
//! `via_hyper` the hyper side (its request path, the lease that brings an
//! HTTP/1 connection back, its response body).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use crate::fields::OutgoingFields;
use crate::h1client::response::{HeadersAs, RawHeaders};
use crate::h1client::{self, Checkin, Connection, ExchangeError, H1Body, Outgoing, SendBody};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use crate::upstream::UpstreamBody;
use via_hyper::{HyperBody, handshake_h1, send_h2};

mod via_hyper;

/// Idle connections older than this are asked of the kernel at checkout
/// whether the upstream closed them (see `Connection::probe_idle`).
const KERNEL_PROBE_AFTER: Duration = Duration::from_millis(500);

/// TCP keep-alive probes on upstream connections start after this much silence.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Why an upstream request failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamRequestError {
    /// The upstream URL has no host (configuration validation prevents this).
    #[error("upstream URL without a host")]
    NoHost,
    /// Resolving or connecting failed.
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    /// Connecting took longer than the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The TLS handshake failed (certificate refused, protocol error).
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// The HTTP handshake on a new connection failed.
    #[error("HTTP handshake failed: {0}")]
    Handshake(hyper::Error),
    /// Sending the request or reading the response head failed.
    #[error("upstream request failed: {0}")]
    Request(hyper::Error),
    /// Sending the request or reading the response head failed (Rampart's
    /// HTTP/1 client), or the upstream's response was refused.
    #[error("upstream exchange failed: {0}")]
    Exchange(ExchangeError),
    /// The response head did not arrive within the response-header timeout.
    #[error("upstream response head timed out")]
    Timeout,
    /// Raw request fields could not be made into the map a client needed
    /// (callers send raw fields only to clients that write lines).
    #[error("request header fields could not be made into a map")]
    Fields,
}

impl UpstreamRequestError {
    /// Whether the response head did not come within the response-header
    /// timeout (a 504, not a 502).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Exchange(ExchangeError::TimedOut)
        )
    }

    /// Whether the client's request body broke off while it streamed upstream
    /// (a malformed chunk, an HTTP/2 stream reset): the client's fault, not
    /// the upstream's. hyper's client reports a failing body as a "user" error.
    pub fn is_client_body(&self) -> bool {
        match self {
            Self::Exchange(ExchangeError::Body(_)) => true,
            Self::Request(error) => error.is_user(),
            _ => false,
        }
    }

    /// Whether no connection could be made (as opposed to a broken exchange).
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            Self::NoHost | Self::Connect(_) | Self::ConnectTimeout | Self::Tls(_)
        )
    }
}

/// How the pool reaches its upstream.
pub(crate) struct PoolSettings {
    /// The upstream URL (scheme and authority are used).
    pub url: Uri,
    /// rustls client for https upstreams (None for http).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Longest wait between two reads of a response body.
    pub body_timeout: Duration,
    /// Longest wait for the response head, from the start of the request.
    pub header_timeout: Duration,
    /// Most idle HTTP/1 connections kept.
    pub max_idle: usize,
}

/// A pooled client for one upstream. Cheap to share behind the API's runtime;
/// dropped with it on reload (idle connections then close).
pub struct UpstreamClient {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("host", &self.pool.host)
            .field("port", &self.pool.port)
            .finish_non_exhaustive()
    }
}

struct Pool {
    /// This pool, for the reaper and for response bodies that bring
    /// connections back.
    me: Weak<Pool>,
    /// Rampart's own HTTP/1 client (false: hyper's).
    own_h1: bool,
    /// Host header for requests that carry none (host[:port]).
    authority: String,
    /// Host to resolve (brackets of an IPv6 literal removed).
    host: String,
    port: u16,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    header_timeout: Duration,
    max_idle: usize,
    /// Idle HTTP/1 connections, oldest first (pushed and popped at the back).
    idle: Mutex<VecDeque<Idle>>,
    /// The shared HTTP/2 connection, when the upstream negotiated h2.
    h2: Mutex<Option<http2::SendRequest<UpstreamBody>>>,
    /// Whether the idle reaper task runs (started with the first idle connection).
    reaper: AtomicBool,
}

struct Idle {
    conn: IdleConn,
    /// When the connection stops being used: the idle timeout, or sooner when
    /// the upstream announced that it closes idle connections sooner.
    expires: Instant,
    /// When it was parked.
    since: Instant,
}

enum IdleConn {
    Hyper(http1::SendRequest<UpstreamBody>),
    Own(Box<Connection>),
}

impl IdleConn {
    /// Whether the connection is known to be closed (or unusable).
    fn is_closed(&mut self) -> bool {
        match self {
            IdleConn::Hyper(sender) => sender.is_closed(),
            IdleConn::Own(conn) => !conn.probe_idle(true),
        }
    }
}

/// A connection ready for one request.
enum Conn {
    H1(http1::SendRequest<UpstreamBody>),
    Own(Box<Connection>),
    H2(http2::SendRequest<UpstreamBody>),
}

impl UpstreamClient {
    pub(crate) fn new(settings: PoolSettings) -> Result<Self, UpstreamRequestError> {
        let host = settings
            .url
            .host()
            .ok_or(UpstreamRequestError::NoHost)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let https = settings.url.scheme_str() == Some("https");
        let port = settings
            .url
            .port_u16()
            .unwrap_or(if https { 443 } else { 80 });
        let tls = match (https, settings.tls) {
            (true, Some(config)) => {
                let name =
                    ServerName::try_from(host.clone()).map_err(|_| UpstreamRequestError::NoHost)?;
                Some((tokio_rustls::TlsConnector::from(config), name))
            }
            _ => None,
        };
        let authority = fallback_host(&settings.url);
        // `RAMPART_UPSTREAM_H1=hyper` keeps hyper's HTTP/1 client (fallback).
        let own_h1 = std::env::var("RAMPART_UPSTREAM_H1").map_or(true, |v| v != "hyper");
        Ok(Self {
            pool: Arc::new_cyclic(|me| Pool {
                me: me.clone(),
                own_h1,
                authority,
                host,
                port,
                tls,
                connect_timeout: settings.connect_timeout,
                idle_timeout: settings.idle_timeout,
                body_timeout: settings.body_timeout,
                header_timeout: settings.header_timeout,
                max_idle: settings.max_idle,
                idle: Mutex::new(VecDeque::new()),
                h2: Mutex::new(None),
                reaper: AtomicBool::new(false),
            }),
        })
    }

    /// Sends a request (its URI absolute: scheme and authority of the upstream)
    /// and returns the response head, within the response-header timeout; the
    /// body returns the connection to the pool when it has been read to the end.
    pub async fn request(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, UpstreamRequestError> {
        self.request_sent_at(request, std::time::Instant::now(), HeadersAs::Map, None)
            .await
    }

    /// Whether requests go out on Rampart's own HTTP/1 connections, where raw
    /// request fields ([`OutgoingFields`]) are written as lines: plain
    /// `http://` upstreams (a TLS upstream may negotiate HTTP/2), without the
    /// `RAMPART_UPSTREAM_H1=hyper` fallback.
    pub fn sends_lines(&self) -> bool {
        self.pool.own_h1 && self.pool.tls.is_none()
    }

    /// [`UpstreamClient::request`] for a caller that has just read the clock
    /// (`sent`, read immediately before this call): the response-header
    /// deadline and the idle-connection checks start from it instead of
    /// reading the clock again. The deadline follows the real clock, as
    /// `request`'s does: tests that pause tokio's clock cannot time it.
    /// `headers_as`: how the caller would like the response's headers (own
    /// HTTP/1 connections honour [`HeadersAs::Lines`]; the response's body then
    /// hands over the [`RawHeaders`] ([`PooledBody::take_raw_headers`])
    /// when they did). `fields`: the request's header fields when they are
    /// still raw (the request's map is then empty), written as lines on own
    /// HTTP/1 connections ([`UpstreamClient::sends_lines`]) and made into the
    /// map otherwise.
    pub async fn request_sent_at(
        &self,
        mut request: Request<UpstreamBody>,
        sent: std::time::Instant,
        headers_as: HeadersAs,
        fields: Option<OutgoingFields<'_>>,
    ) -> Result<Response<PooledBody>, UpstreamRequestError> {
        let deadline = tokio::time::Instant::from_std(sent) + self.pool.header_timeout;
        let pool = &self.pool;
        if pool.own_h1 && (pool.tls.is_none() || pool.h2.lock().is_none()) {
            // The own client bounds the wait with one timer per connection
            // rather than one per request (see `Connection::head_expired`).
            return self
                .request_own(request, sent, deadline, headers_as, fields)
                .await;
        }
        // Callers send raw fields only where `sends_lines` holds.
        debug_assert!(fields.is_none(), "raw fields sent to a map client");
        if let Some(fields) = fields {
            *request.headers_mut() = fields.to_map().map_err(|_| UpstreamRequestError::Fields)?;
        }
        tokio::time::timeout_at(deadline, self.request_hyper(request))
            .await
            .unwrap_or(Err(UpstreamRequestError::Timeout))
    }
}

/// Pooled connections one request tries before it takes a new one.
const MAX_POOLED_ATTEMPTS: u32 = 3;

impl UpstreamClient {
    /// [`UpstreamClient::request`] over Rampart's own HTTP/1 connections.
    async fn request_own(
        &self,
        request: Request<UpstreamBody>,
        sent: Instant,
        deadline: tokio::time::Instant,
        headers_as: HeadersAs,
        fields: Option<OutgoingFields<'_>>,
    ) -> Result<Response<PooledBody>, UpstreamRequestError> {
        let pool = &self.pool;
        let (mut parts, body) = request.into_parts();
        let mut send = SendBody::from_body(body, &parts.method);
        let target = if parts.method == Method::CONNECT {
            parts.uri.authority().map_or("/", |a| a.as_str())
        } else {
            parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
        };
        let outgoing = Outgoing {
            method: &parts.method,
            target,
            headers: &parts.headers,
            host: &pool.authority,
            response_headers: headers_as,
            fields,
        };
        // A pooled connection that turns out dead sends the request to
        // another; after a few, to a new one (an upstream that spoils every
        // idle connection cannot make one request cycle through the pool),
        // and never past the deadline.
        let mut attempts = 0u32;
        loop {
            if attempts > 0 && tokio::time::Instant::now() >= deadline {
                return Err(UpstreamRequestError::Timeout);
            }
            attempts += 1;
            let pooled = if attempts <= MAX_POOLED_ATTEMPTS {
                // The first try takes the caller's clock reading; retries,
                // later, read it again.
                pool.checkout_own(if attempts == 1 { sent } else { Instant::now() })
            } else {
                None
            };
            let (mut conn, reused) = match pooled {
                Some(conn) => (conn, true),
                // Boxed: the connect path is rare and its future is large.
                None => match tokio::time::timeout_at(deadline, Box::pin(pool.connect()))
                    .await
                    .unwrap_or(Err(UpstreamRequestError::Timeout))?
                {
                    Conn::Own(conn) => (conn, false),
                    Conn::H2(mut sender) => {
                        // Only TLS upstreams speak h2; raw fields go only to plain ones.
                        debug_assert!(fields.is_none(), "raw fields sent to an h2 client");
                        if let Some(fields) = fields {
                            parts.headers =
                                fields.to_map().map_err(|_| UpstreamRequestError::Fields)?;
                        }
                        let request = Request::from_parts(parts, send.into_body());
                        // Boxed: HTTP/2 upstreams take another path, whose
                        // state and code stay out of the HTTP/1 one's.
                        let exchange = Box::pin(send_h2(&mut sender, request, pool.body_timeout));
                        return tokio::time::timeout_at(deadline, exchange)
                            .await
                            .unwrap_or(Err(UpstreamRequestError::Timeout));
                    }
                    // A pool in own mode never makes hyper HTTP/1 connections.
                    Conn::H1(_) => return Err(UpstreamRequestError::NoHost),
                },
            };
            conn.head_deadline = Some(deadline);
            match conn.exchange(&outgoing, &mut send).await {
                Ok(exchanged) => {
                    conn.keep_alive_until = keep_alive_until(exchanged.keep_alive_timeout);
                    let home: Arc<dyn Checkin> = pool.clone();
                    // Each wait between reads is bounded: a stalled upstream
                    // (or, after an early answer, one waiting for the rest of
                    // a request never sent) does not hold the client for ever.
                    let idle = Some(pool.body_timeout);
                    let body =
                        H1Body::new(conn, exchanged.framing, exchanged.keep_alive, home, idle);
                    let raw_headers = exchanged.raw_headers;
                    return Ok(exchanged
                        .response
                        .map(|()| PooledBody(Inner::H1(body), raw_headers)));
                }
                // A pooled connection that the upstream had closed while idle
                // answers nothing. A request that never left is sent again on
                // another whatever its method (if its body is still whole); one
                // that may have reached the upstream only when idempotent.
                Err(error)
                    if reused
                        && ((error.unsent() && (send.replayable() || conn.body_untouched()))
                            || (error.is_retryable()
                                && send.replayable()
                                && h1client::idempotent(&parts.method))) => {}
                Err(error) => return Err(UpstreamRequestError::Exchange(error)),
            }
        }
    }
}

/// The Host a request without one gets: the proxy's own rule (host, and port
/// unless the scheme's default), never the URL's userinfo.
fn fallback_host(url: &Uri) -> String {
    crate::runtime::host_header(url)
        .and_then(|value| value.to_str().ok().map(str::to_string))
        .unwrap_or_default()
}

/// The request target an HTTP/1 request line carries.
fn request_target(uri: &Uri, method: &Method) -> Uri {
    let mut parts = http::uri::Parts::default();
    if method == Method::CONNECT {
        parts.authority = uri.authority().cloned();
    } else {
        match uri.path_and_query() {
            Some(target) => parts.path_and_query = Some(target.clone()),
            None => return Uri::from_static("/"),
        }
    }
    Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"))
}

impl Pool {
    fn shared_h2(&self) -> Option<http2::SendRequest<UpstreamBody>> {
        self.tls.as_ref()?;
        self.h2.lock().clone()
    }

    /// Forgets the shared HTTP/2 connection if it has closed (a request may
    /// already have put a new one in its place).
    fn forget_h2(&self) {
        let mut slot = self.h2.lock();
        if slot.as_ref().is_some_and(|current| current.is_closed()) {
            *slot = None;
        }
    }

    /// The most recently returned idle connection that is still usable.
    async fn checkout(&self) -> Option<http1::SendRequest<UpstreamBody>> {
        loop {
            let idle = {
                let mut stack = self.idle.lock();
                let idle = stack.pop_back()?;
                if idle.expires <= Instant::now() {
                    continue;
                }
                idle
            };
            let IdleConn::Hyper(mut sender) = idle.conn else {
                continue;
            };
            if sender.is_closed() {
                continue;
            }
            // Ready at once unless the connection is still finishing the last
            // response; an error means the upstream closed it.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// The most recently returned idle connection that is still usable (own
    /// HTTP/1 client).
    fn checkout_own(&self, now: Instant) -> Option<Box<Connection>> {
        let mut stack = self.idle.lock();
        loop {
            let idle = stack.pop_back()?;
            if idle.expires <= now {
                continue;
            }
            // A connection in steady use is spared the system call: no
            // upstream closes a connection idle for less than a second. Plain
            // TCP is then not probed at all: the probe's read (which never
            // waits) is the one the exchange makes before it writes, which
            // finds a close or stray bytes just as well (`ClosedBeforeRequest`,
            // `Stale`: the request goes to another connection). Over TLS the
            // probe stays, as rustls may hold a close the socket no longer shows.
            let thorough = now.duration_since(idle.since) >= KERNEL_PROBE_AFTER;
            if let IdleConn::Own(mut conn) = idle.conn
                && ((!thorough && conn.is_plain()) || conn.probe_idle(thorough))
            {
                return Some(conn);
            }
        }
    }

    /// Returns a connection after its response ended.
    fn checkin_hyper(&self, sender: http1::SendRequest<UpstreamBody>, until: Option<Instant>) {
        if sender.is_closed() {
            return;
        }
        self.park(IdleConn::Hyper(sender), until);
    }

    /// Puts a connection on the idle stack, for the idle timeout or less when
    /// the upstream announced that it closes idle connections sooner (its
    /// timer fires at `until`).
    fn park(&self, conn: IdleConn, until: Option<Instant>) {
        let now = Instant::now();
        let Some(expires) = idle_expiry(now, self.idle_timeout, until) else {
            return;
        };
        if self.max_idle == 0 {
            return;
        }
        {
            let mut stack = self.idle.lock();
            if stack.len() >= self.max_idle {
                // Full: the oldest goes.
                stack.pop_front();
            }
            stack.push_back(Idle {
                conn,
                expires,
                since: now,
            });
        }
        // Started from the first checkin, which runs on the runtime (a body
        // dropped off it, at shutdown, starts nothing: no panic in a drop).
        if !self.reaper.load(Ordering::Relaxed)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
            && !self.reaper.swap(true, Ordering::Relaxed)
        {
            spawn_reaper(&runtime, self.me.clone(), self.idle_timeout);
        }
    }

    /// Drops idle connections past their lifetime or closed by the upstream.
    fn reap(&self) {
        let now = Instant::now();
        self.idle
            .lock()
            .retain_mut(|idle| idle.expires > now && !idle.conn.is_closed());
    }

    async fn connect(&self) -> Result<Conn, UpstreamRequestError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| UpstreamRequestError::ConnectTimeout)?
        .map_err(UpstreamRequestError::Connect)?;
        // Failing to tune the socket is not worth failing the request for.
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE));
        match &self.tls {
            None if self.own_h1 => Ok(Conn::Own(Box::new(Connection::new(h1client::Stream::Tcp(
                stream,
            ))))),
            None => handshake_h1(stream).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(UpstreamRequestError::Tls)?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(&b"h2"[..]);
                if h2 {
                    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                        .timer(TokioTimer::new())
                        .handshake(TokioIo::new(tls))
                        .await
                        .map_err(UpstreamRequestError::Handshake)?;
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "upstream h2 connection ended");
                        }
                    });
                    *self.h2.lock() = Some(sender.clone());
                    Ok(Conn::H2(sender))
                } else if self.own_h1 {
                    Ok(Conn::Own(Box::new(Connection::new(h1client::Stream::Tls(
                        Box::new(tls),
                    )))))
                } else {
                    handshake_h1(tls).await
                }
            }
        }
    }
}

/// Closes idle connections past their timeout while the pool lives.
fn spawn_reaper(runtime: &tokio::runtime::Handle, pool: Weak<Pool>, idle_timeout: Duration) {
    let period = idle_timeout.clamp(Duration::from_millis(100), Duration::from_secs(30));
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            match pool.upgrade() {
                Some(pool) => pool.reap(),
                None => return,
            }
        }
    });
}

impl Checkin for Pool {
    fn checkin(&self, conn: Box<Connection>) {
        let until = conn.keep_alive_until;
        self.park(IdleConn::Own(conn), until);
    }
}

/// Subtracted from an upstream's announced keep-alive timeout: its timer
/// started when it had sent the response, ours when the response head
/// arrived, and a request must reach it well before its timer fires.
const KEEP_ALIVE_MARGIN: Duration = Duration::from_secs(1);

/// When the upstream's keep-alive timer fires at the latest, for a response
/// head that has just arrived announcing `timeout` (none when it announced
/// none).
pub(crate) fn keep_alive_until(timeout: Option<Duration>) -> Option<Instant> {
    // The announced timeout is capped (a day): no overflow in practice, and
    // a far one that would overflow is as good as none.
    timeout.and_then(|timeout| Instant::now().checked_add(timeout))
}

/// Until when a connection parked `now` may sit idle: the idle timeout, or
/// sooner, [`KEEP_ALIVE_MARGIN`] before the upstream's announced keep-alive
/// timer fires at `until`. None: not worth pooling (that is already past).
fn idle_expiry(now: Instant, idle_timeout: Duration, until: Option<Instant>) -> Option<Instant> {
    let ours = now.checked_add(idle_timeout)?;
    let expires = match until {
        Some(until) => ours.min(until.checked_sub(KEEP_ALIVE_MARGIN)?),
        None => ours,
    };
    (expires > now).then_some(expires)
}

/// An upstream response body. For HTTP/1, the connection goes back to the pool
/// when the body has been read to its end (dropped earlier, it closes). It
/// also hands over the head's header lines when they were asked for as lines
/// ([`PooledBody::take_raw_headers`]): carried here rather than in the
/// response's extensions, which cost a map and two boxes per response.
pub struct PooledBody(Inner, Option<RawHeaders>);

impl PooledBody {
    /// The response head's header lines ([`HeadersAs::Lines`]), once.
    pub fn take_raw_headers(&mut self) -> Option<RawHeaders> {
        self.1.take()
    }
}

enum Inner {
    Hyper(HyperBody),
    H1(H1Body),
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, crate::BoxError>>> {
        match &mut self.get_mut().0 {
            Inner::Hyper(body) => Pin::new(body).poll_frame(cx),
            Inner::H1(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Hyper(body) => body.is_end_stream(),
            Inner::H1(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Hyper(body) => body.size_hint(),
            Inner::H1(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests;
