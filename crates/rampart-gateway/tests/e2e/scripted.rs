//! A raw HTTP/1 upstream played by a script, for the upstream client's tests:
//! it answers every request (head plus a `Content-Length` body) with fixed
//! bytes, and can close, trickle, stall, or race its keep-alive timer against
//! the next request. It counts connections, requests and closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the upstream behaves.
#[derive(Clone)]
pub struct Script {
    /// Written for every request.
    pub reply: &'static [u8],
    /// Close each connection after this many responses (after `linger`).
    pub close_after: Option<usize>,
    /// Pause before closing after `close_after` responses (so the gateway has
    /// pooled the connection by then).
    pub linger: Duration,
    /// Pause before each response.
    pub delay: Duration,
    /// Keep-alive timer racing the request: a request arriving on a
    /// connection idle this long is read, left unanswered, and the connection
    /// closed (the close crossed the request on the wire).
    pub drop_after_idle: Option<Duration>,
    /// Writes the reply in pieces of this many bytes, pausing between them.
    pub trickle: Option<(usize, Duration)>,
    /// Answers as soon as a request head has arrived, ignoring its body.
    pub early: bool,
}

impl Script {
    /// Answers every request with `reply`, keeping connections open.
    pub fn reply(reply: &'static [u8]) -> Self {
        Script {
            reply,
            close_after: None,
            linger: Duration::ZERO,
            delay: Duration::ZERO,
            drop_after_idle: None,
            trickle: None,
            early: false,
        }
    }

    /// Answers `ok` (`Content-Length: 2`).
    pub fn ok() -> Self {
        Script::reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    }

    /// Closes each connection after `n` responses.
    pub fn close_after(mut self, n: usize) -> Self {
        self.close_after = Some(n);
        self
    }
}

/// A running scripted upstream.
pub struct Scripted {
    pub addr: SocketAddr,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// Connections that ended (closed by either side).
    pub closed: Arc<AtomicUsize>,
    /// Requests received (answered or not).
    pub requests: Arc<AtomicUsize>,
}

impl Scripted {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Starts an upstream playing `script`.
pub async fn scripted(script: Script) -> Scripted {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = Scripted {
        addr,
        accepted: Arc::new(AtomicUsize::new(0)),
        closed: Arc::new(AtomicUsize::new(0)),
        requests: Arc::new(AtomicUsize::new(0)),
    };
    let (accepted, closed, requests) = (
        upstream.accepted.clone(),
        upstream.closed.clone(),
        upstream.requests.clone(),
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let (script, closed, requests) = (script.clone(), closed.clone(), requests.clone());
            tokio::spawn(async move {
                serve(stream, &script, &requests).await;
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    upstream
}

/// Serves one connection until it ends.
async fn serve(mut stream: TcpStream, script: &Script, requests: &AtomicUsize) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    let mut served = 0;
    let mut idle_since = Instant::now();
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(len) = request_len(&pending, script.early) {
            if pending.len() < len {
                break;
            }
            pending.drain(..len);
            requests.fetch_add(1, Ordering::SeqCst);
            if script
                .drop_after_idle
                .is_some_and(|limit| idle_since.elapsed() >= limit)
            {
                return;
            }
            tokio::time::sleep(script.delay).await;
            if write_reply(&mut stream, script).await.is_err() {
                return;
            }
            served += 1;
            idle_since = Instant::now();
        }
        if script.close_after == Some(served) {
            tokio::time::sleep(script.linger).await;
            return;
        }
    }
}

async fn write_reply(stream: &mut TcpStream, script: &Script) -> std::io::Result<()> {
    let Some((piece, pause)) = script.trickle else {
        return stream.write_all(script.reply).await;
    };
    for (i, chunk) in script.reply.chunks(piece.max(1)).enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        stream.write_all(chunk).await?;
    }
    Ok(())
}

/// The length of the first request in `buf` (head and `Content-Length` body,
/// unless `head_only`), once its head is complete.
fn request_len(buf: &[u8], head_only: bool) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if head_only {
        return Some(end);
    }
    let head = String::from_utf8_lossy(&buf[..end]);
    let body = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Some(end + body)
}
