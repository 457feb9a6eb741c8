//! The response-head parser and framing against well-formed and hostile
//! upstream responses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn head(raw: &str) -> Head {
    match parse(raw.as_bytes(), false) {
        Ok(Parsed::Final(len, head)) => {
            assert_eq!(len, raw.len(), "whole head consumed");
            head
        }
        other => panic!("{raw:?}: {other:?}"),
    }
}

fn refused(raw: &str) -> ResponseError {
    match parse(raw.as_bytes(), false) {
        Err(error) => error,
        other => panic!("{raw:?} accepted: {other:?}"),
    }
}

#[test]
fn content_length_and_chunked_and_close_delimited() {
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(12));
    assert!(h.keep_alive);
    assert_eq!(h.headers.get("content-length").unwrap(), "12");
    assert_eq!(h.headers.get("x-a").unwrap(), "b");

    let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    assert!(h.headers.get("transfer-encoding").is_none(), "decoded here");

    let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);

    let h = head("HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(h.framing, Framing::Close);
    assert!(!h.keep_alive, "a close-delimited body ends the connection");

    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.framing, Framing::Empty);
}

#[test]
fn bodiless_statuses_and_head_requests_have_no_body() {
    // A 204 announcing a body: no body read, and the connection not reused.
    for raw in [
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let h = head(raw);
        assert_eq!(h.framing, Framing::Empty, "{raw:?}");
        assert!(!h.keep_alive, "{raw:?}");
    }
    assert!(head("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").keep_alive);
    assert!(head("HTTP/1.1 204 No Content\r\n\r\n").keep_alive);
    for raw in [
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(head(raw).framing, Framing::Empty, "{raw:?}");
    }
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    match parse(raw, true).unwrap() {
        Parsed::Final(_, h) => {
            assert_eq!(h.framing, Framing::Empty);
            // The length of the representation is kept for the client.
            assert_eq!(h.headers.get("content-length").unwrap(), "5");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn interim_responses_are_skipped_and_upgrades_refused() {
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    match parse(raw, false).unwrap() {
        Parsed::Interim(len) => assert_eq!(len, 25),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false),
        Ok(Parsed::Interim(_))
    ));
    assert_eq!(
        refused("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
        ResponseError::Upgrade
    );
    assert_eq!(
        fuzz_response(raw, 3, false),
        Some(Vec::new()),
        "the final response after the interim one"
    );
}

#[test]
fn keep_alive_follows_version_and_connection() {
    assert!(!head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
    assert!(
        !head("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n")
            .keep_alive
    );
    assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    let h = head("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
    assert!(h.keep_alive);
    assert!(
        h.headers.get("connection").is_none(),
        "nothing for the proxy to strip"
    );
    // A Connection header naming other headers stays, for the proxy to act on.
    let h =
        head("HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: 1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.headers.get("connection").unwrap(), "x-secret");
}

#[test]
fn ambiguous_framing_is_refused() {
    // CL + TE (either order), two CLs (even equal), bad numbers.
    assert_eq!(
        refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ResponseError::LengthAndEncoding
    );
    assert_eq!(
        refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
        ResponseError::LengthAndEncoding
    );
    assert_eq!(
        refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        ResponseError::DuplicateLength
    );
    assert_eq!(
        refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
        ResponseError::DuplicateLength
    );
    for bad in [
        "-1",
        "+5",
        "5, 5",
        "0x10",
        "1 2",
        "",
        "99999999999999999999",
        "1e3",
    ] {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
        assert!(parse(raw.as_bytes(), false).is_err(), "{bad:?}");
    }
    // Largest accepted: 18 digits.
    assert_eq!(
        head("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n").framing,
        Framing::Length(999_999_999_999_999_999)
    );
    // Codings other than exactly `chunked`, twice chunked, or in HTTP/1.0.
    for te in [
        "gzip",
        "gzip, chunked",
        "chunked, gzip",
        "chunked, chunked",
        "identity",
        "chunked;q=1",
    ] {
        let raw = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(
            parse(raw.as_bytes(), false).unwrap_err(),
            ResponseError::Encoding,
            "{te:?}"
        );
    }
    assert_eq!(
        refused(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
        ResponseError::Encoding
    );
    assert_eq!(
        refused("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ResponseError::Encoding
    );
}

#[test]
fn malformed_heads_are_refused() {
    for raw in [
        "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX A: a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "garbage\r\n\r\n",
    ] {
        assert!(parse(raw.as_bytes(), false).is_err(), "{raw:?}");
    }
    assert_eq!(
        refused("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
        ResponseError::BareLf
    );
    assert_eq!(
        refused("HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 0\r\n\r\n"),
        ResponseError::BareLf
    );
}

#[test]
fn head_limits() {
    let mut many = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..=MAX_HEADERS {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(refused(&many), ResponseError::TooManyHeaders);

    let mut fine = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..MAX_HEADERS - 1 {
        fine.push_str(&format!("X-{i}: v\r\n"));
    }
    fine.push_str("Content-Length: 0\r\n\r\n");
    assert_eq!(head(&fine).headers.len(), MAX_HEADERS);

    // A head that never ends is refused once past the limit, not buffered on.
    let endless = format!("HTTP/1.1 200 OK\r\nX-Long: {}", "a".repeat(MAX_HEAD_BYTES));
    assert_eq!(refused(&endless), ResponseError::TooLarge);
    let partial = "HTTP/1.1 200 OK\r\nX-Long: aaaa";
    assert!(matches!(
        parse(partial.as_bytes(), false),
        Ok(Parsed::Partial)
    ));
}

#[test]
fn bodies_decode_and_bad_chunks_fail() {
    let ok = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
    for step in [1, 2, 7, 100] {
        assert_eq!(fuzz_response(ok, step, false).unwrap(), b"hello world");
    }
    let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
    assert_eq!(fuzz_response(cl, 3, false).unwrap(), b"hello");
    for bad in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\nhello\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
        // Closed early: the body is incomplete, never "whole".
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ] {
        assert_eq!(
            fuzz_response(bad, 4, false),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn an_announced_keep_alive_timeout_is_read_with_the_head() {
    let secs = |n| Some(std::time::Duration::from_secs(n));
    let h = head("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=1000\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.keep_alive_timeout, secs(5));
    assert!(
        h.headers.contains_key("keep-alive"),
        "left for the proxy to strip"
    );
    assert_eq!(
        head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive_timeout,
        None
    );
    assert_eq!(announced_timeout(b"max=100, Timeout = \"15\""), secs(15));
    assert_eq!(announced_timeout(b"timeout=99999"), secs(86_400), "capped");
    for bad in [
        &b"timeout="[..],
        b"timeout=-1",
        b"timeout=5s",
        b"timeout=1.5",
        b"timeout=9999999999999999999999",
        b"max=5",
        b"x",
        b"=",
    ] {
        assert_eq!(
            announced_timeout(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}
