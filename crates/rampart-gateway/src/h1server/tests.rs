//! Rampart's HTTP/1 connection: body decoding edge cases and head parsing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::decode::{BodyError, Decoded, Decoder, fuzz_decode};
use super::*;
use crate::test_support::{CountingWaker, Mutator, spend_budget};

fn decode_all(input: &[u8], step: usize) -> (Vec<u8>, Result<bool, BodyError>) {
    fuzz_decode(input, step, true)
}

#[test]
fn chunked_bodies_decode_in_every_split() {
    let input = b"5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
    for step in 1..input.len() {
        let (body, outcome) = decode_all(input, step);
        assert_eq!(body, b"hello world", "step {step}");
        assert_eq!(outcome, Ok(true), "step {step}");
    }
}

#[test]
fn chunked_decoding_stops_at_the_body_end() {
    // The next pipelined head stays in the buffer.
    let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n"[..]);
    let mut decoder = Decoder::chunked();
    assert_eq!(
        decoder.decode(&mut buf, 1024),
        Ok(Decoded::Data(Bytes::from_static(b"abc")))
    );
    assert_eq!(decoder.decode(&mut buf, 1024), Ok(Decoded::Done));
    assert_eq!(&buf[..], b"GET / HTTP/1.1\r\n");
}

#[test]
fn malformed_chunk_framing_is_refused() {
    let cases: &[(&[u8], BodyError)] = &[
        (b"x\r\n", BodyError::ChunkSize),
        (b"\r\n", BodyError::ChunkSize),
        (b"-1\r\n", BodyError::ChunkSize),
        (b"5\nhello\r\n0\r\n\r\n", BodyError::ChunkSize),
        (b"5;ext\nhello", BodyError::ChunkSize),
        (b"5\rhello", BodyError::ChunkSize),
        (b"5;a\x01b\r\nhello", BodyError::ChunkSize),
        (b"11111111111111111\r\n", BodyError::ChunkSize),
        // Leading zeros count: 1*16HEXDIG, as the guard reads sizes.
        (b"00000000000000001\r\nx\r\n0\r\n\r\n", BodyError::ChunkSize),
        (b"5\r\nhelloXY0\r\n\r\n", BodyError::ChunkEnd),
        (b"5\r\nhello\n0\r\n\r\n", BodyError::ChunkEnd),
        (b"0\r\nbad\n\r\n", BodyError::Trailer),
        (b"0\r\na\rb\r\n\r\n", BodyError::Trailer),
    ];
    for (input, expected) in cases {
        for step in [1, 3, input.len()] {
            let (_, outcome) = decode_all(input, step);
            assert_eq!(
                outcome,
                Err(*expected),
                "{:?} step {step}",
                String::from_utf8_lossy(input)
            );
        }
    }
}

#[test]
fn chunk_sizes_at_the_limits() {
    // 16 hex digits are accepted (the guard's bound); the value is not trusted
    // for any allocation, only counted down.
    let mut buf = BytesMut::from(&b"000000000000000a\r\n0123456789\r\n0\r\n\r\n"[..]);
    let mut decoder = Decoder::chunked();
    assert_eq!(
        decoder.decode(&mut buf, 64),
        Ok(Decoded::Data(Bytes::from_static(b"0123456789")))
    );
    assert_eq!(decoder.decode(&mut buf, 64), Ok(Decoded::Done));
    let mut huge = BytesMut::from(&b"ffffffffffffffff\r\nab"[..]);
    let mut decoder = Decoder::chunked();
    assert_eq!(
        decoder.decode(&mut huge, 64),
        Ok(Decoded::Data(Bytes::from_static(b"ab")))
    );
    assert_eq!(decoder.decode(&mut huge, 64), Ok(Decoded::NeedMore));
}

#[test]
fn overlong_size_lines_and_trailers_are_refused() {
    let mut line = b"5;".to_vec();
    line.extend(std::iter::repeat_n(b'a', 5000));
    assert_eq!(decode_all(&line, 100).1, Err(BodyError::TooLong));
    let mut trailers = b"0\r\n".to_vec();
    for _ in 0..1000 {
        trailers.extend_from_slice(b"X-Trailer: 0123456789\r\n");
    }
    assert_eq!(decode_all(&trailers, 512).1, Err(BodyError::TooLong));
}

#[test]
fn content_length_bodies_end_exactly() {
    let mut buf = BytesMut::from(&b"abcdefGET"[..]);
    let mut decoder = Decoder::length(6);
    assert_eq!(
        decoder.decode(&mut buf, 0),
        Ok(Decoded::Data(Bytes::from_static(b"abcdef")))
    );
    assert!(decoder.is_done());
    assert_eq!(&buf[..], b"GET");
    assert!(Decoder::length(0).is_done());
}

#[test]
fn heads_are_parsed_once_into_request_parts() {
    let head = Bytes::from_static(
        b"POST /a/b?x=1 HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\nX-Two: a\r\nX-Two: b\r\nExpect: 100-continue\r\n\r\n",
    );
    let parsed = parse_head(head, 32).unwrap();
    assert_eq!(parsed.parts.method, Method::POST);
    assert_eq!(parsed.parts.uri, "/a/b?x=1");
    assert_eq!(parsed.parts.version, Version::HTTP_11);
    // The fields stay raw (the map is made only if the request path needs it).
    assert!(parsed.parts.headers.is_empty());
    assert_eq!(parsed.fields.len(), 5);
    let two = http::HeaderName::from_static("x-two");
    assert_eq!(parsed.fields.values(&two).collect::<Vec<_>>(), [b"a", b"b"]);
    let map = parsed.fields.to_map(0).unwrap();
    assert_eq!(map.get_all("x-two").iter().count(), 2);
    assert_eq!(map["host"], "api.test");
    assert_eq!(parsed.framing, BodyFraming::Length(5));
    assert!(parsed.expect_continue);
    assert!(!parsed.close);
}

#[test]
fn smuggling_heads_are_refused_by_the_parse() {
    let refused: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n",
        b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    for head in refused {
        assert_eq!(
            parse_head(Bytes::from_static(head), 32).err(),
            Some(GatewayError::Malformed),
            "{}",
            String::from_utf8_lossy(head)
        );
    }
    let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(40));
    assert_eq!(
        parse_head(Bytes::from(many), 32).err(),
        Some(GatewayError::HeadersTooLarge)
    );
}

#[test]
fn connection_close_and_http10_end_the_connection() {
    let close = parse_head(
        Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"),
        32,
    )
    .unwrap();
    assert!(close.close);
    let old = parse_head(Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n"), 32).unwrap();
    assert!(old.close);
    let old_kept = parse_head(
        Bytes::from_static(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        32,
    )
    .unwrap();
    assert!(!old_kept.close);
}

#[test]
fn raw_targets_are_encoded_as_the_guard_does() {
    let parsed = parse_head(
        Bytes::from_static(b"GET /x?input=<script>| HTTP/1.1\r\nHost: a\r\n\r\n"),
        32,
    )
    .unwrap();
    assert_eq!(parsed.parts.uri, "/x?input=%3Cscript%3E%7C");
    // Raw UTF-8 (which `http` would take as it is, and the path normaliser
    // then refused): encoded, normalised as its escapes, forwarded so.
    let parsed = parse_head(
        Bytes::from_static(b"GET /caf\xc3\xa9?q=\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"),
        32,
    )
    .unwrap();
    assert_eq!(parsed.parts.uri, "/caf%C3%A9?q=%C3%A9");
    assert_eq!(
        crate::normalize::normalize_path(parsed.parts.uri.path()).as_deref(),
        Ok("/caf%C3%A9")
    );
}

#[test]
fn the_piece_size_never_changes_the_body_or_the_verdict() {
    // What the fuzz target checks, on a fixed pseudo-random corpus built from
    // valid framing with bytes flipped.
    let base: &[u8] =
        b"4\r\nwiki\r\n5;x=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nA: b\r\n\r\n";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..2000 {
        let mut input = base.to_vec();
        for _ in 0..(round % 4) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % input.len();
            input[at] = (seed >> 32) as u8;
        }
        let (whole, whole_outcome) = decode_all(&input, input.len());
        for step in [1, 2, 5, 13] {
            let (body, outcome) = decode_all(&input, step);
            assert!(body.len() <= input.len());
            assert_eq!(
                outcome.is_err(),
                whole_outcome.is_err(),
                "{input:?} step {step}"
            );
            if outcome == Ok(true) && whole_outcome == Ok(true) {
                assert_eq!(body, whole, "{input:?} step {step}");
            }
        }
    }
    assert_eq!(
        decode_all(base, 3),
        (b"wikipedia in\r\n\r\nchunks.".to_vec(), Ok(true))
    );
}

/// A peer that uploads everything before it reads, as simple clients do.
async fn upload_then_read(mut peer: tokio::io::DuplexStream, upload: usize) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if peer.write_all(&vec![b'u'; upload]).await.is_err() {
        return 0;
    }
    let mut got = Vec::new();
    let _ = peer.read_to_end(&mut got).await;
    got.len()
}

#[tokio::test]
async fn a_waiting_write_reads_and_drops_an_unwanted_upload() {
    let (mut ours, peer) = tokio::io::duplex(4096);
    let client = tokio::spawn(upload_then_read(peer, 256 * 1024));
    let response = vec![b'r'; 64 * 1024];
    assert!(send_all(&mut ours, &response, Duration::from_secs(5), true).await);
    drop(ours);
    assert_eq!(client.await.unwrap(), response.len());
}

#[tokio::test]
async fn a_write_nobody_takes_gives_up_after_the_send_timeout() {
    // The same peer, but the upload is not read: neither side can move.
    let (mut ours, peer) = tokio::io::duplex(4096);
    let _client = tokio::spawn(upload_then_read(peer, 256 * 1024));
    let response = vec![b'r'; 64 * 1024];
    assert!(!send_all(&mut ours, &response, Duration::from_millis(200), false).await);
}

/// The drain signal, first polled after the task spent its cooperative
/// budget (a poll tokio refuses registers nothing), still wakes the
/// connection when the server drains, and is then seen as fired; polled
/// again with the same waker before that, it stays pending.
#[tokio::test]
async fn the_drain_signal_wakes_the_connection_even_first_polled_without_budget() {
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut signal = DrainSignal::new(drain_rx);
    let counter = Arc::new(CountingWaker::default());
    let waker = std::task::Waker::from(counter.clone());
    poll_fn(|task| {
        spend_budget(task);
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(signal.poll_fired(&mut cx).is_pending());
        Poll::Ready(())
    })
    .await;
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(signal.poll_fired(&mut cx).is_pending());
    drain_tx.send(true).unwrap();
    assert_eq!(counter.woken(), 1);
    assert!(signal.poll_fired(&mut cx).is_ready());
}

#[test]
fn the_first_look_and_the_search_agree_on_every_head() {
    let corpus: &[&[u8]] = &[
        b"GET /a?b=c HTTP/1.1\r\nHost: a\r\nX-Request-Id: r1\r\nAuthorization: Bearer t\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\n\nX: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: 1\r\nX: 2\r\nX: 3\r\nX: 4\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /x?input=<script>| HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nX:   \r\nY:\t\r\n\r\n",
        // 64 bytes: at the small limit exactly.
        b"GET /0123456789012345678901234xxxx HTTP/1.1\r\nHost: abcdefghi\r\n\r\n",
        b"GET /0123456789012345678901234xxxxx HTTP/1.1\r\nHost: abcdefghi\r\n\r\n",
    ];
    assert_eq!(corpus[corpus.len() - 2].len(), 64);
    assert_eq!(corpus[corpus.len() - 1].len(), 65);
    let mut decided = 0;
    for head in corpus {
        for flags in 0..8u8 {
            let mut data = vec![flags];
            data.extend_from_slice(head);
            let agree = head_reads_agree(&data);
            decided += usize::from(agree.is_some());
            assert_ne!(
                agree,
                Some(false),
                "{flags} {}",
                String::from_utf8_lossy(head)
            );
        }
    }
    // Not vacuous: most of the corpus's heads are taken at the first look.
    assert!(decided > 60, "{decided}");
    // Bytes flipped, inserted as CR, LF or NUL, and cut short.
    let mut mutator = Mutator::new(0x9e37_79b9_7f4a_7c15);
    for round in 0..20_000 {
        let base = corpus[round % corpus.len()];
        // Mostly the default limits, so that many heads stay whole.
        let flags = if round % 4 == 0 {
            mutator.next() as u8 & 7
        } else {
            0
        };
        let mut data = vec![flags];
        data.extend_from_slice(base);
        // The flags byte stays as chosen.
        mutator.mutate(&mut data, 1, round);
        let agree = head_reads_agree(&data);
        decided += usize::from(agree.is_some());
        assert_ne!(agree, Some(false), "{data:?}");
    }
    // About a tenth of the mutated heads are still whole heads (a byte changed
    // inside a value; a name made invalid and refused by both).
    assert!(decided > 1_500, "{decided}");
}

#[test]
fn a_head_that_came_whole_is_taken_at_the_first_look() {
    let limits = HeadLimits {
        max_header_bytes: 8192,
        max_headers: 100,
        header_read_timeout: std::time::Duration::from_secs(1),
    };
    let mut rbuf = BytesMut::from(&b"GET /x HTTP/1.1\r\nHost: a\r\n\r\nnext"[..]);
    let Some(HeadRead::Head(parsed)) = first_look(&mut rbuf, &limits) else {
        panic!("not taken");
    };
    assert_eq!(parsed.parts.uri, "/x");
    assert_eq!(&rbuf[..], b"next");
    // Anything else is left to the search.
    for undecided in [
        &b"GET /x HTTP/1.1\r\nHost: a\r\n"[..],
        b"\r\nGET /x HTTP/1.1\r\n\r\n",
        b"GET /x HTTP/1.1\nHost: a\n\n",
    ] {
        let mut rbuf = BytesMut::from(undecided);
        assert!(first_look(&mut rbuf, &limits).is_none());
        assert_eq!(&rbuf[..], undecided);
    }
}

/// An early final response (the handler refuses before reading the body)
/// completing while `100 Continue` is half written: the interim response is
/// finished first, so the client reads two whole responses, never the final
/// one spliced into the interim one.
#[tokio::test]
async fn a_final_response_never_lands_inside_a_half_written_continue() {
    use http_body_util::{BodyExt, Full};
    use tokio::io::AsyncReadExt;
    // Room for 8 bytes: the 25-byte interim response is written in pieces.
    let (mut ours, mut peer) = tokio::io::duplex(8);
    let (mut body, sender) = body::RequestBody::channel(Some(5));
    let mut feed = Some(Feed::new(sender, Decoder::length(5), true));
    let (respond_tx, respond_rx) = tokio::sync::oneshot::channel::<()>();
    // The handler asks for the body once (so `100 Continue` starts), then
    // answers without it when told to.
    let handler = async move {
        poll_fn(|cx| {
            let _ = std::pin::Pin::new(&mut body).poll_frame(cx);
            Poll::Ready(())
        })
        .await;
        let _ = respond_rx.await;
        let refusal = Full::new(Bytes::from_static(b"no"))
            .map_err(|never| match never {})
            .boxed();
        Ok::<_, std::convert::Infallible>(
            Response::builder()
                .status(413)
                .body(ResponseBody::new(refusal, None))
                .unwrap(),
        )
    };
    let mut slot = Box::pin(Some(handler));
    let mut rbuf = BytesMut::new();
    let mut out = Vec::new();
    let server = async {
        let exchange = Exchange {
            io: &mut ours,
            rbuf: &mut rbuf,
            out: &mut out,
            feed: &mut feed,
            max_trailers: 1024,
            send_timeout: Duration::from_secs(5),
        };
        exchange.run(slot.as_mut(), false, false, true).await;
        drop(ours);
    };
    let client = async {
        // Let the interim response fill the pipe, then have the handler answer.
        let mut first = [0u8; 8];
        tokio::task::yield_now().await;
        peer.read_exact(&mut first[..1]).await.unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        respond_tx.send(()).unwrap();
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).await.unwrap();
        let mut all = first[..1].to_vec();
        all.extend(rest);
        all
    };
    let ((), wire) = tokio::join!(server, client);
    let wire = String::from_utf8_lossy(&wire).into_owned();
    assert!(
        wire.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413 "),
        "{wire:?}"
    );
    assert!(wire.ends_with("no"), "{wire:?}");
}
