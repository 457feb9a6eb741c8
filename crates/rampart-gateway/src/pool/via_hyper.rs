//! The pool's hyper side: HTTP/2 upstreams, and HTTP/1 upstreams when
//! `RAMPART_UPSTREAM_H1=hyper` selects hyper's client: the request path over
//! hyper's connection API, the lease that brings an HTTP/1 connection back,
//! and the response body that does it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;

use super::{
    Conn, Inner, Pool, PooledBody, UpstreamClient, UpstreamRequestError, h1client, request_target,
};
use crate::h1client::response::HeadersAs;
use crate::upstream::UpstreamBody;

impl UpstreamClient {
    /// [`UpstreamClient::request`] over hyper (HTTP/2, or HTTP/1 when
    /// `RAMPART_UPSTREAM_H1=hyper`), without its deadline.
    pub(super) async fn request_hyper(
        &self,
        mut request: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, UpstreamRequestError> {
        let pool = &self.pool;
        if let Some(mut sender) = pool.shared_h2() {
            if sender.ready().await.is_ok() {
                return send_h2(&mut sender, request, pool.body_timeout).await;
            }
            pool.forget_h2();
        }
        if pool.own_h1 {
            // A shared HTTP/2 connection that closed: the own client (its
            // deadline is the one around this call).
            let now = std::time::Instant::now();
            let far = tokio::time::Instant::from_std(now) + self.pool.header_timeout;
            return self
                .request_own(request, now, far, HeadersAs::Map, None)
                .await;
        }
        // HTTP/1 wants the origin form (authority form for CONNECT); the absolute
        // URI is kept for a new connection that turns out to speak h2.
        let absolute = request.uri().clone();
        *request.uri_mut() = request_target(&absolute, request.method());
        // A connection whose request body is still being sent when the response
        // ends (an upstream that answered early) is not pooled: the next request
        // would wait behind the rest of that upload.
        let body_sent = if request.body().is_end_stream() {
            None
        } else {
            let sent = Arc::new(AtomicBool::new(false));
            let tracked = sent.clone();
            request = request.map(|inner| {
                TrackedBody {
                    inner,
                    sent: tracked,
                }
                .boxed()
            });
            Some(sent)
        };
        loop {
            let (mut sender, reused) = match pool.checkout().await {
                Some(sender) => (sender, true),
                // Boxed: the connect path (TCP, TLS, h2 handshakes) is rare and
                // its future is kilobytes; inline, every request's future would
                // carry (and copy) that size.
                None => match Box::pin(pool.connect()).await? {
                    Conn::H1(sender) => (sender, false),
                    // A pool in hyper mode never makes its own connections.
                    Conn::Own(_) => return Err(UpstreamRequestError::NoHost),
                    Conn::H2(mut sender) => {
                        *request.uri_mut() = absolute;
                        return send_h2(&mut sender, request, pool.body_timeout).await;
                    }
                },
            };
            // A bodiless idempotent request on a reused connection keeps a copy
            // of its head: if the upstream closes without answering (its
            // keep-alive timer crossed the request), it goes again, as with
            // the own client. hyper gives back only requests it never sent.
            let again = (reused && body_sent.is_none() && h1client::idempotent(request.method()))
                .then(|| bodiless_copy(&request));
            match sender.try_send_request(request).await {
                Ok(mut response) => {
                    // Dropped with the sender: such a connection is never reused.
                    if let Err(refused) = ambiguous_framing(&response) {
                        return Err(UpstreamRequestError::Exchange(
                            h1client::ExchangeError::Response(refused),
                        ));
                    }
                    // hyper decodes the chunked body; as with the own client,
                    // the stages and the client side see no upstream framing.
                    response
                        .headers_mut()
                        .remove(http::header::TRANSFER_ENCODING);
                    let lease = Lease {
                        sender,
                        pool: Arc::clone(pool),
                        body_sent,
                        keep_alive_until: super::keep_alive_until(keep_alive_hint(
                            response.headers(),
                        )),
                    };
                    let bound = pool.body_timeout;
                    return Ok(response.map(|body| PooledBody::hyper(body, Some(lease), bound)));
                }
                Err(mut error) => match (error.take_message(), again) {
                    // Given back unsent by a connection that sat idle: the
                    // upstream closed it; try the next one (or a new one).
                    (Some(unsent), _) if reused => request = unsent,
                    (None, Some(copy)) if error.error().is_incomplete_message() => request = copy,
                    _ => return Err(UpstreamRequestError::Request(error.into_error())),
                },
            }
        }
    }
}

/// The framing checks of the own client's head parser that hyper does not
/// make (it reads Content-Length with Transfer-Encoding, or a coding list
/// ending in `chunked`, by RFC 9112's precedence rules): a proxy that takes a
/// framing its upstream may not mean is open to response splitting, so such
/// a response is a 502, as with the own client.
fn ambiguous_framing<B>(response: &Response<B>) -> Result<(), h1client::response::ResponseError> {
    use h1client::response::ResponseError;
    let headers = response.headers();
    if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(ResponseError::Upgrade);
    }
    let lengths = headers.get_all(http::header::CONTENT_LENGTH).iter().count();
    // hyper takes `5, 5` as 5; the own client takes only plain decimal digits.
    if headers
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|value| {
            let digits = value.as_bytes();
            digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit)
        })
    {
        return Err(ResponseError::Length);
    }
    let mut codings = headers.get_all(http::header::TRANSFER_ENCODING).iter();
    match (lengths, codings.next(), codings.next()) {
        (2.., _, _) => Err(ResponseError::DuplicateLength),
        (1, Some(_), _) => Err(ResponseError::LengthAndEncoding),
        (_, Some(_), Some(_)) => Err(ResponseError::Encoding),
        (_, Some(coding), None) if !coding.as_bytes().eq_ignore_ascii_case(b"chunked") => {
            Err(ResponseError::Encoding)
        }
        _ => Ok(()),
    }
}

pub(super) async fn send_h2(
    sender: &mut http2::SendRequest<UpstreamBody>,
    request: Request<UpstreamBody>,
    body_timeout: Duration,
) -> Result<Response<PooledBody>, UpstreamRequestError> {
    match sender.send_request(request).await {
        Ok(response) => Ok(response.map(|body| PooledBody::hyper(body, None, body_timeout))),
        Err(error) => Err(UpstreamRequestError::Request(error)),
    }
}

/// A bodiless request like `request` (method, target, version, headers).
fn bodiless_copy(request: &Request<UpstreamBody>) -> Request<UpstreamBody> {
    let mut copy = Request::new(
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed(),
    );
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

pub(super) async fn handshake_h1<T>(io: T) -> Result<Conn, UpstreamRequestError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    // The own client's limits on a response head (hyper's defaults are
    // larger: a 70 KB head would wait for the header timeout, a 504).
    let (sender, connection) = http1::Builder::new()
        .max_buf_size(h1client::response::MAX_HEAD_BYTES.max(8192))
        .max_headers(h1client::response::MAX_HEADERS)
        .handshake(TokioIo::new(io))
        .await
        .map_err(UpstreamRequestError::Handshake)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream connection ended");
        }
    });
    Ok(Conn::H1(sender))
}

/// A connection lent to one HTTP/1 exchange.
pub(super) struct Lease {
    sender: http1::SendRequest<UpstreamBody>,
    pool: Arc<Pool>,
    /// Set once the request body was sent whole (None: the request had none).
    body_sent: Option<Arc<AtomicBool>>,
    /// When the upstream's keep-alive timer fires (`Keep-Alive: timeout=`
    /// on this response), counted from the head's arrival (see the own
    /// client's `Connection::keep_alive_until`).
    keep_alive_until: Option<std::time::Instant>,
}

/// A request body that records when it has been sent to its end.
struct TrackedBody {
    inner: UpstreamBody,
    sent: Arc<AtomicBool>,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, crate::BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.sent.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // hyper stops polling a body that says it has ended.
        let end = self.inner.is_end_stream();
        if end {
            self.sent.store(true, Ordering::Release);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The `timeout=` of a response's `Keep-Alive` header: how long the upstream
/// keeps the connection open while idle (hyper's client; the own client's
/// parser reads it with the head).
pub(super) fn keep_alive_hint(headers: &http::HeaderMap) -> Option<Duration> {
    const KEEP_ALIVE: http::HeaderName = http::HeaderName::from_static("keep-alive");
    h1client::response::announced_timeout(headers.get(&KEEP_ALIVE)?.as_bytes())
}

impl PooledBody {
    pub(super) fn hyper(inner: Incoming, lease: Option<Lease>, body_timeout: Duration) -> Self {
        PooledBody(
            Inner::Hyper(HyperBody {
                inner,
                lease,
                ended: false,
                idle: crate::body::ReadIdle::new(body_timeout),
            }),
            None,
        )
    }
}

/// A response body of hyper's HTTP/1 or HTTP/2 client.
pub(super) struct HyperBody {
    inner: Incoming,
    lease: Option<Lease>,
    ended: bool,
    /// The bound on each wait for the next frame.
    idle: crate::body::ReadIdle,
}

impl Drop for HyperBody {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take()
            && (self.ended || self.inner.is_end_stream())
            && lease
                .body_sent
                .as_ref()
                .is_none_or(|sent| sent.load(Ordering::Acquire))
        {
            lease
                .pool
                .checkin_hyper(lease.sender, lease.keep_alive_until);
        }
    }
}

impl Body for HyperBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, crate::BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.ended = true,
            Poll::Ready(Some(Ok(_))) => self.idle.progress(),
            Poll::Ready(Some(Err(_))) => {}
            Poll::Pending => {
                if self.idle.expired(cx) {
                    // Dropped with the body: the connection is not reused.
                    self.lease = None;
                    return Poll::Ready(Some(Err(Box::new(h1client::ResponseBodyError::TimedOut))));
                }
            }
        }
        polled.map(|frame| frame.map(|frame| frame.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
