//! The client connection over an in-memory duplex: requests written whole and
//! in order (heads, inline and streamed bodies, flushing), hostile responses.
//! `lifecycle`: the connection around its exchanges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::exchange::{Exchanged, Pending, read_failure};
use super::request::{BodyFraming, encode_head};
use super::*;
use proptest::strategy::Strategy as _;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body::{Body, Frame, SizeHint};
use tokio::io::ReadBuf;

use crate::BoxError;
use crate::upstream::UpstreamBody;

/// An upstream played by a script over an in-memory pipe.
async fn exchange_with(
    reply: &'static [u8],
    method: Method,
    body: SendBody,
) -> (Result<(Exchanged, Vec<u8>), String>, Vec<u8>) {
    exchange_as(&[reply], method, body, response::HeadersAs::Map).await
}

/// [`exchange_with`] with the reply written in `pieces` (the task sleeps
/// between them, so the client mostly reads each on its own) and the
/// response's headers wanted as `wanted`.
async fn exchange_as(
    pieces: &[&'static [u8]],
    method: Method,
    body: SendBody,
    wanted: response::HeadersAs,
) -> (Result<(Exchanged, Vec<u8>), String>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pieces = pieces.to_vec();
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let upstream = tokio::spawn(async move {
        let mut seen = vec![0u8; 1 << 16];
        let mut got = Vec::new();
        // Read until the request head (and a short body) has arrived.
        loop {
            let n = server.read(&mut seen).await.unwrap();
            got.extend_from_slice(&seen[..n]);
            if n == 0 || got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        for piece in pieces {
            server.write_all(piece).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        drop(server);
        got
    });
    let mut conn = Box::new(Connection::new(Stream::Duplex(client)));
    let headers = HeaderMap::new();
    let outgoing = Outgoing {
        method: &method,
        target: "/x?y=1",
        headers: &headers,
        host: "upstream:8080",
        response_headers: wanted,
        fields: None,
    };
    let mut body = body;
    let result = match conn.exchange(&outgoing, &mut body).await {
        Ok(exchanged) => {
            let framing = exchanged.framing;
            let keep = exchanged.keep_alive;
            struct Nowhere;
            impl Checkin for Nowhere {
                fn checkin(&self, _conn: Box<Connection>) {}
            }
            let body = H1Body::new(conn, framing, keep, std::sync::Arc::new(Nowhere), None);
            use http_body_util::BodyExt;
            match body.collect().await {
                Ok(collected) => Ok((exchanged, collected.to_bytes().to_vec())),
                Err(error) => Err(error.to_string()),
            }
        }
        Err(error) => Err(error.to_string()),
    };
    (result, upstream.await.unwrap())
}

#[tokio::test]
async fn request_head_and_body_go_out_in_one_piece() {
    let (result, sent) = exchange_with(
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        Method::POST,
        SendBody::Full(Bytes::from_static(b"{\"a\":1}")),
    )
    .await;
    let (exchanged, body) = result.unwrap();
    assert_eq!(exchanged.response.status(), 201);
    assert_eq!(body, b"ok");
    assert_eq!(
        String::from_utf8(sent).unwrap(),
        "POST /x?y=1 HTTP/1.1\r\nhost: upstream:8080\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
    );
}

#[tokio::test]
async fn hostile_responses_fail_the_exchange() {
    for reply in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Len",
        b"",
    ] {
        let reply: &'static [u8] = reply;
        for wanted in [response::HeadersAs::Map, response::HeadersAs::Lines] {
            let (result, _) = exchange_as(&[reply], Method::GET, SendBody::None, wanted).await;
            assert!(result.is_err(), "{:?}", String::from_utf8_lossy(reply));
        }
    }
    // A body cut short or badly chunked fails while it is read.
    for reply in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let (result, _) = exchange_with(reply, Method::GET, SendBody::None).await;
        assert!(result.is_err(), "{:?}", String::from_utf8_lossy(reply));
    }
    // Close-delimited bodies end at the close.
    let (result, sent) = exchange_with(
        b"HTTP/1.0 200 OK\r\n\r\nall of it",
        Method::GET,
        SendBody::None,
    )
    .await;
    let (exchanged, body) = result.unwrap();
    assert_eq!(body, b"all of it");
    assert!(!exchanged.keep_alive);
    assert!(
        String::from_utf8(sent)
            .unwrap()
            .starts_with("GET /x?y=1 HTTP/1.1\r\nhost: upstream:8080\r\n\r\n")
    );
}

/// A request to the host `upstream` (the tests' connection has no address).
fn outgoing<'a>(method: &'a Method, target: &'a str, headers: &'a HeaderMap) -> Outgoing<'a> {
    Outgoing {
        method,
        target,
        headers,
        host: "upstream",
        response_headers: response::HeadersAs::Map,
        fields: None,
    }
}

/// One step of a [`scripted_body`].
enum Step {
    Data(Bytes),
    /// Not ready this poll (the task is woken at once).
    Wait,
    /// Never ready again.
    Stall,
}

/// A streamed request body that plays `steps`, then ends.
fn scripted_body(steps: Vec<Step>) -> UpstreamBody {
    use http_body_util::BodyExt;
    struct Scripted(std::collections::VecDeque<Step>);
    impl Body for Scripted {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            match self.0.pop_front() {
                Some(Step::Data(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
                Some(Step::Wait) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Some(Step::Stall) => {
                    self.0.push_front(Step::Stall);
                    Poll::Pending
                }
                None => Poll::Ready(None),
            }
        }
    }
    Scripted(steps.into()).boxed()
}

/// A streamed request body of the given frames, all ready at once.
fn frames_body(frames: Vec<Bytes>) -> UpstreamBody {
    scripted_body(frames.into_iter().map(Step::Data).collect())
}

/// An upstream that reads `expect` bytes of request, then answers `reply`.
async fn exchange_reading(
    expect: usize,
    reply: &'static [u8],
    body: SendBody,
) -> (Result<Exchanged, String>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let upstream = tokio::spawn(async move {
        let mut seen = vec![0u8; 1 << 16];
        let mut got = Vec::new();
        while got.len() < expect {
            let n = server.read(&mut seen).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&seen[..n]);
        }
        server.write_all(reply).await.unwrap();
        got
    });
    let mut conn = Connection::new(Stream::Duplex(client));
    let headers = HeaderMap::new();
    let outgoing = outgoing(&Method::POST, "/up", &headers);
    let mut body = body;
    let result = conn
        .exchange(&outgoing, &mut body)
        .await
        .map_err(|e| e.to_string());
    (result, upstream.await.unwrap())
}

#[tokio::test]
async fn a_big_chunk_keeps_its_crlf_before_the_next_chunk() {
    let big = Bytes::from(vec![b'a'; 70_000]);
    let small = Bytes::from_static(b"tail");
    let body = SendBody::Stream {
        body: frames_body(vec![big, small.clone(), small]),
        length: None,
    };
    let mut expected =
        b"POST /up HTTP/1.1\r\nhost: upstream\r\ntransfer-encoding: chunked\r\n\r\n11170\r\n"
            .to_vec();
    expected.extend_from_slice(&[b'a'; 70_000]);
    expected.extend_from_slice(b"\r\n4\r\ntail\r\n4\r\ntail\r\n0\r\n\r\n");
    let (result, sent) = exchange_reading(
        expected.len(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        body,
    )
    .await;
    assert_eq!(result.unwrap().response.status(), 200);
    assert!(
        sent == expected,
        "framing broken: {:?}",
        String::from_utf8_lossy(&sent[70_000..])
    );
}

// A plain test: outside a runtime the pipe has no cooperative budget that
// would stall the hand-driven loop.
#[test]
fn the_write_buffer_stays_bounded_under_a_slow_reader() {
    use tokio::io::AsyncRead;
    let (client, mut server) = tokio::io::duplex(1024);
    let mut conn = Connection::new(Stream::Duplex(client));
    // An endless ready body of 1000-byte pieces.
    let frames = vec![Bytes::from(vec![b'x'; 1000]); 2000];
    let mut body = frames_body(frames);
    let headers = HeaderMap::new();
    let outgoing = outgoing(&Method::POST, "/up", &headers);
    encode_head(&mut conn.write, &outgoing, BodyFraming::Chunked);
    let mut pending = Pending {
        written: 0,
        big: Bytes::new(),
        after_big: b"",
        flushed: false,
        body_done: false,
        taken: 0,
        write_failed: None,
        head_sent: false,
        body_taken: false,
    };
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut received = 0usize;
    let mut scratch = [0u8; 512];
    let mut largest = 0usize;
    for _ in 0..20_000 {
        conn.poll_send(&mut cx, &mut pending, Some(&mut body), BodyFraming::Chunked)
            .unwrap();
        largest = largest.max(conn.write.len());
        // The upstream reads a little at a time.
        let mut buf = ReadBuf::new(&mut scratch);
        if let Poll::Ready(Ok(())) = Pin::new(&mut server).poll_read(&mut cx, &mut buf) {
            received += buf.filled().len();
        }
    }
    assert!(
        received > 4 * INLINE_BODY,
        "the upload progressed: {received}"
    );
    assert!(
        largest <= 2 * INLINE_BODY + 4096,
        "the buffer held {largest} bytes"
    );
}

/// A body that is not ready at its first poll, then gives `data`.
fn late_body(data: &'static [u8]) -> UpstreamBody {
    scripted_body(vec![Step::Wait, Step::Data(Bytes::from_static(data))])
}

#[tokio::test]
async fn a_body_error_polled_ahead_is_kept() {
    use http_body_util::BodyExt;
    struct Broken(bool);
    impl Body for Broken {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if self.0 {
                return Poll::Ready(None);
            }
            self.0 = true;
            Poll::Ready(Some(Err("client went away".into())))
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(10)
        }
    }
    let send = SendBody::from_body(Broken(false).boxed(), &Method::POST);
    assert!(!send.replayable());
    let error = send.into_body().collect().await.unwrap_err();
    assert_eq!(error.to_string(), "client went away");
}

#[test]
fn written_pieces_are_flushed_while_the_body_waits() {
    use std::future::Future;
    use tokio::io::AsyncRead;
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let mut conn = Connection::new(Stream::Buffered(tokio::io::BufWriter::new(client)));
    let headers = HeaderMap::new();
    let outgoing = outgoing(&Method::POST, "/up", &headers);
    let mut body = SendBody::Stream {
        // One piece, then the body waits (for ever, here).
        body: late_body_forever(b"hi"),
        length: None,
    };
    let mut cx = Context::from_waker(std::task::Waker::noop());
    {
        let mut exchange = std::pin::pin!(conn.exchange(&outgoing, &mut body));
        for _ in 0..4 {
            assert!(exchange.as_mut().poll(&mut cx).is_pending());
        }
    }
    let mut scratch = [0u8; 1024];
    let mut buf = ReadBuf::new(&mut scratch);
    assert!(
        Pin::new(&mut server)
            .poll_read(&mut cx, &mut buf)
            .is_ready()
    );
    assert_eq!(
        String::from_utf8_lossy(buf.filled()),
        "POST /up HTTP/1.1\r\nhost: upstream\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n"
    );
}

/// `count` interim heads, then a final one with a body, as one reply.
fn interims_then_ok(count: usize) -> &'static [u8] {
    let mut reply = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(count);
    reply.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Up: 1\r\n\r\nok");
    reply.leak()
}

#[tokio::test]
async fn interim_heads_taken_at_the_first_look_are_counted_and_bounded() {
    for wanted in [response::HeadersAs::Lines, response::HeadersAs::Map] {
        let most = response::MAX_INTERIM;
        let (result, _) = exchange_as(
            &[interims_then_ok(most)],
            Method::GET,
            SendBody::None,
            wanted,
        )
        .await;
        let (exchanged, body) = result.unwrap();
        assert_eq!(exchanged.response.status(), 200);
        assert_eq!(body, b"ok");
        let (result, _) = exchange_as(
            &[interims_then_ok(most + 1)],
            Method::GET,
            SendBody::None,
            wanted,
        )
        .await;
        assert!(result.is_err(), "{wanted:?}");
    }
}

#[tokio::test]
async fn a_final_head_after_an_interim_one_may_come_in_pieces() {
    // The interim head is taken at the first look; the final head's start is
    // then partial (left to the search), and its rest comes later.
    let (result, _) = exchange_as(
        &[
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Le",
            b"ngth: 5\r\nX-Up: 1\r\n\r\nhel",
            b"lo",
        ],
        Method::GET,
        SendBody::None,
        response::HeadersAs::Lines,
    )
    .await;
    let (exchanged, body) = result.unwrap();
    assert_eq!(exchanged.response.status(), 200);
    assert_eq!(body, b"hello");
    let raw = exchanged.raw_headers.unwrap();
    assert_eq!(&raw.lines[..], b"x-up: 1\r\n");
    assert_eq!(raw.content_length, Some(5));
}

#[test]
fn a_trickled_head_is_parsed_once() {
    for wanted in [response::HeadersAs::Map, response::HeadersAs::Lines] {
        trickled_head_parses(wanted);
    }
}

/// A head sent a byte at a time is parsed at most twice (a first look at its
/// first byte, then once whole), not once per read.
fn trickled_head_parses(wanted: response::HeadersAs) {
    use std::future::Future;
    use tokio::io::AsyncWrite;
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..60 {
        head.extend_from_slice(format!("x-h{i}: some value here\r\n").as_bytes());
    }
    head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let mut conn = Connection::new(Stream::Duplex(client));
    let headers = HeaderMap::new();
    let mut outgoing = outgoing(&Method::GET, "/", &headers);
    outgoing.response_headers = wanted;
    let mut body = SendBody::None;
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let before = response::PARSES.with(|n| n.get());
    let mut exchange = std::pin::pin!(conn.exchange(&outgoing, &mut body));
    let mut answered = None;
    // One byte at a time, each read by the client before the next.
    for byte in &head {
        assert!(exchange.as_mut().poll(&mut cx).is_pending());
        let sent = Pin::new(&mut server).poll_write(&mut cx, std::slice::from_ref(byte));
        assert!(matches!(sent, Poll::Ready(Ok(1))));
    }
    if let Poll::Ready(result) = exchange.as_mut().poll(&mut cx) {
        answered = Some(result.map_err(|e| e.to_string()).unwrap());
    }
    assert_eq!(answered.unwrap().response.status(), 200);
    let parses = response::PARSES.with(|n| n.get()) - before;
    assert!(parses <= 2, "{wanted:?}: parsed {parses} times");
}

#[tokio::test]
async fn a_head_must_end_where_its_blank_line_is() {
    // httparse ends this head at the bare LFs; the CRLF CRLF comes later.
    let (result, _) = exchange_with(
        b"HTTP/1.1 200 OK\r\nA: b\n\nX: y\r\nContent-Length: 0\r\n\r\n",
        Method::GET,
        SendBody::None,
    )
    .await;
    assert!(result.is_err());
}

/// A body that gives `data`, then waits for ever.
fn late_body_forever(data: &'static [u8]) -> UpstreamBody {
    scripted_body(vec![Step::Data(Bytes::from_static(data)), Step::Stall])
}

mod lifecycle;

/// Request field names: the ones the gateway removes or sets, in odd cases,
/// and any token.
fn request_field_name() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    // Every name the gateway drops or sets (from the lists the code uses),
    // as written and in upper case, and names it forwards.
    let mut special: Vec<String> = crate::fields::REPLACED_BY_GATEWAY
        .iter()
        .chain(crate::headers::HOP_BY_HOP.iter())
        .flat_map(|name| [name.to_string(), name.to_ascii_uppercase()])
        .collect();
    special.extend(
        [
            "Accept-Encoding",
            "Authorization",
            "Cookie",
            "X-Custom",
            "x-custom",
            "Forwarded",
            "X-Real-IP",
            "X_Forwarded_For",
            "x_forwarded_host",
            "X-Request_Id",
            "x_real_ip",
            "x_custom",
        ]
        .map(str::to_string),
    );
    prop_oneof![
        6 => proptest::sample::select(special),
        3 => "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}",
        1 => "[\\x00-\\xff]{1,4}",
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
    /// Whatever the client sends, its fields reach the upstream the same when
    /// written as lines and when made into a map: the same names with the same
    /// values in the same order (hop-by-hop and framing fields dropped, the
    /// gateway's own set). Lines come as `name: value` and with other
    /// spacing, ended by CRLF and sometimes a bare LF (lines in the usual
    /// form are copied in runs, the others piece by piece).
    #[test]
    fn request_fields_as_lines_and_as_map_never_disagree(
        fields in proptest::collection::vec(
            (
                request_field_name(),
                proptest::prop_oneof![
                    4 => "[ -~\\t]{0,12}",
                    2 => proptest::sample::select(vec!["close", "keep-alive", "Keep-Alive, TE", "x-custom", "chunked", "5", "1.2.3.4, 5.6.7.8"]).prop_map(str::to_string),
                    1 => "[\\x00-\\xff]{0,6}",
                ],
                proptest::sample::select(vec![": ", ": ", ": ", ":", ":  ", ":\t"]),
                proptest::sample::select(vec!["\r\n", "\r\n", "\r\n", "\n"]),
            ),
            0..12,
        ),
        flags in proptest::num::u8::ANY,
    ) {
        let mut head = b"GET /p HTTP/1.1\r\n".to_vec();
        for (name, value, separator, end) in &fields {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(separator.as_bytes());
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(end.as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        proptest::prop_assert!(
            fuzz_request_lines_agree(&head, flags),
            "lines and map disagree on {:?} (flags {flags:#x})",
            String::from_utf8_lossy(&head)
        );
    }
}

/// The client these tests' requests come from (not a trusted proxy).
fn test_peer() -> crate::headers::ForwardedPeer {
    crate::headers::ForwardedPeer::new(std::net::IpAddr::from([203, 0, 113, 7]))
}

/// The gateway's part of an upstream head as these tests set it: the
/// upstream's `Host` is `up`, the peer untrusted, Accept-Encoding kept.
fn lines_plan<'a>(
    peer: &'a crate::headers::ForwardedPeer,
    up: &'a http::HeaderValue,
    proto: &'static str,
    forwarded_host: &'a str,
    request_id: Option<&'a http::HeaderValue>,
) -> crate::fields::UpstreamHead<'a> {
    crate::fields::UpstreamHead {
        host: Some(up),
        strip_accept_encoding: false,
        peer_trusted: false,
        peer,
        proto,
        forwarded_host,
        request_id,
    }
}

#[test]
fn request_lines_drop_what_the_map_path_drops_and_add_the_gateways_fields() {
    let head = b"GET /p HTTP/1.1\r\nHost: client.example\r\nConnection: keep-alive, TE\r\nTE: trailers\r\nX-Forwarded-For: 6.6.6.6\r\nX-FORWARDED-HOST: evil\r\nx-request-id: forged\r\nContent-Length: 3\r\nAuthorization: Bearer t\r\nX-Custom: 1\r\nx-custom: 2\r\n\r\n";
    assert!(fuzz_request_lines_agree(head, 0b0001_1111));
    let raw = crate::fields::fields_of_head(head).unwrap();
    let peer = test_peer();
    let up = http::HeaderValue::from_static("up:81");
    let id = http::HeaderValue::from_static("req-1");
    let plan = lines_plan(&peer, &up, "https", "client.example", Some(&id));
    assert!(plan.lines_fit(&raw));
    let empty = HeaderMap::new();
    let outgoing = Outgoing {
        method: &Method::GET,
        target: "/p",
        headers: &empty,
        host: "fallback",
        response_headers: response::HeadersAs::Map,
        fields: Some(crate::fields::OutgoingFields::new(&plan, &raw)),
    };
    let mut out = Vec::new();
    encode_head(&mut out, &outgoing, BodyFraming::Length(3));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "GET /p HTTP/1.1\r\nAuthorization: Bearer t\r\nX-Custom: 1\r\nx-custom: 2\r\nhost: up:81\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\nx-forwarded-host: client.example\r\nx-request-id: req-1\r\ncontent-length: 3\r\n\r\n"
    );
    // A Connection field naming an end-to-end field keeps the map's path.
    let named = crate::fields::fields_of_head(
        b"GET / HTTP/1.1\r\nConnection: x-custom\r\nX-Custom: 1\r\n\r\n",
    )
    .unwrap();
    assert!(!plan.lines_fit(&named));
}

/// Forwarding and client-identity fields beyond `X-Forwarded-For/-Proto/-Host`
/// and `X-Real-IP` (port, prefix, scheme, CDN client addresses) used to reach
/// the upstream from any client, and the URL overrides (IIS, Symfony: another
/// path than the one routed) from every client. Now: none of them from a
/// client that is not a trusted proxy, as lines or as a map; from a trusted
/// proxy the forwarding ones stay and the URL overrides still go.
#[test]
fn forwarding_fields_and_url_overrides_do_not_reach_the_upstream() {
    let head = b"GET /p HTTP/1.1\r\nHost: a\r\nX-Forwarded-Prefix: /admin\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Server: s\r\nX-Forwarded-Ssl: on\r\nFront-End-Https: on\r\nX-Url-Scheme: https\r\nX-Forwarded-Scheme: https\r\nTrue-Client-IP: 6.6.6.6\r\nX-Client-IP: 6.6.6.6\r\nCF-Connecting-IP: 6.6.6.6\r\nX-Cluster-Client-IP: 6.6.6.6\r\nFastly-Client-IP: 6.6.6.6\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nTrue_Client_IP: 6.6.6.6\r\nX_Original_URL: /admin\r\nX-Kept: 1\r\nAuthorization: Bearer t\r\n\r\n";
    let raw = crate::fields::fields_of_head(head).unwrap();
    let peer = test_peer();
    let up = http::HeaderValue::from_static("up:81");
    let mut plan = lines_plan(&peer, &up, "http", "a", None);
    assert!(plan.lines_fit(&raw));
    let mut out = Vec::new();
    plan.encode_fields(&mut out, &raw);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "X-Kept: 1\r\nAuthorization: Bearer t\r\nhost: up:81\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: http\r\nx-forwarded-host: a\r\n"
    );
    // The map path drops the same.
    assert!(fuzz_request_lines_agree(head, 0b0001_1111));
    let mut map = raw.to_map(0).unwrap();
    plan.apply_to_map(&mut map);
    let mut names: Vec<&str> = map.keys().map(http::HeaderName::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "authorization",
            "host",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-kept"
        ]
    );
    // A trusted proxy's forwarding fields stay; the URL overrides do not.
    plan.peer_trusted = true;
    let mut map = raw.to_map(0).unwrap();
    plan.apply_to_map(&mut map);
    assert_eq!(map["x-forwarded-port"], "443");
    assert_eq!(map["x-forwarded-prefix"], "/admin");
    assert_eq!(map["true-client-ip"], "6.6.6.6");
    for gone in ["x-original-url", "x-rewrite-url", "x_original_url"] {
        assert!(map.get(gone).is_none(), "{gone}");
    }
}

/// Lines received as `name: value` CRLF go upstream as they came, in runs
/// broken by the fields the gateway drops; the others are written anew, and
/// every value comes out the same.
#[test]
fn request_lines_in_the_usual_form_are_copied_and_the_others_rewritten() {
    let head = b"GET /p HTTP/1.1\r\nHost: a\r\nA: 1\r\nB:2\r\nC: 3\r\nConnection: close\r\nD: 4\r\nE:   5  \r\nF: 6\nG: \r\nH: 8\r\nI:\tx\r\nJ: y \r\n\r\n";
    let raw = crate::fields::fields_of_head(head).unwrap();
    let peer = test_peer();
    let up = http::HeaderValue::from_static("up:81");
    let plan = lines_plan(&peer, &up, "http", "a", None);
    assert!(plan.lines_fit(&raw));
    let mut out = Vec::new();
    plan.encode_fields(&mut out, &raw);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: \r\nH: 8\r\nI: x\r\nJ: y\r\nhost: up:81\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: http\r\nx-forwarded-host: a\r\n"
    );
}

/// A head with more fields than a fixed parse buffer would hold is still
/// compared, not reported as a disagreement (the fuzz target found the
/// comparison's own buffer too small once).
#[test]
fn heads_with_hundreds_of_fields_are_compared_too() {
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..300 {
        head.extend_from_slice(format!("x-{i}: v\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert!(fuzz_request_lines_agree(&head, 0x1f));
}
