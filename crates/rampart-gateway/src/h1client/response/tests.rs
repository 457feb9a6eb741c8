//! The response-head parser and framing against well-formed and hostile
//! upstream responses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use proptest::strategy::Strategy;

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

fn head_as_lines(raw: &[u8], head_request: bool) -> Result<Parsed, ResponseError> {
    parse_shared(
        &bytes::Bytes::copy_from_slice(raw),
        head_request,
        HeadersAs::Lines,
    )
}

fn client_view(head: &Head) -> Vec<(String, Vec<u8>)> {
    client_headers(head).expect("lines parse back")
}

#[test]
fn lines_leave_out_what_the_proxy_removes_and_the_map_holds_what_the_gateway_sets() {
    let raw = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nX-Powered-By: PHP\r\nDate: Sun, 29 Nov 2026 07:00:00 GMT\r\nContent-Type: application/json\r\nX-Request-Id: up-1\r\nStrict-Transport-Security: max-age=1\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\nProxy-Connection: keep-alive\r\nProxy-Authenticate: Basic\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nX-Custom: A b\r\nContent-Length: 5\r\n\r\n";
    let Ok(Parsed::Final(len, head)) = head_as_lines(raw, false) else {
        panic!("refused");
    };
    assert_eq!(len, raw.len());
    let lines = head.raw.as_ref().unwrap();
    assert_eq!(
        &lines.lines[..],
        &b"date: Sun, 29 Nov 2026 07:00:00 GMT\r\ncontent-type: application/json\r\nx-custom: A b\r\n"[..]
    );
    assert!(lines.has_date);
    assert_eq!(lines.content_length, Some(5));
    assert_eq!(head.headers.len(), 2);
    assert_eq!(head.headers["x-request-id"], "up-1");
    assert_eq!(head.headers["strict-transport-security"], "max-age=1");
    assert_eq!(head.framing, Framing::Length(5));
    assert_eq!(
        head.keep_alive_timeout,
        Some(std::time::Duration::from_secs(5))
    );

    // The same head in a map gives the client the same headers.
    let Ok(Parsed::Final(_, mapped)) = parse(raw, false) else {
        panic!("refused");
    };
    assert!(mapped.raw.is_none());
    assert_eq!(client_view(&head), client_view(&mapped));
}

/// Lines received as `Name: value` CRLF are copied whole (the name then
/// lower-cased); others are written anew in that form.
#[test]
fn lines_in_any_spacing_come_out_in_one_form() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Type: a\r\nX-A:b\r\nX-B:  c \r\nX-C:\td\r\nX-Empty: \r\nX-D: e\r\nX-E: f \r\nContent-Length: 0\r\n\r\n";
    let Ok(Parsed::Final(_, head)) = head_as_lines(raw, false) else {
        panic!("refused");
    };
    assert_eq!(
        &head.raw.as_ref().unwrap().lines[..],
        &b"content-type: a\r\nx-a: b\r\nx-b: c\r\nx-c: d\r\nx-empty: \r\nx-d: e\r\nx-e: f\r\n"[..]
    );
}

#[test]
fn a_connection_header_naming_other_headers_puts_them_in_the_map() {
    let raw = b"HTTP/1.1 200 OK\r\nX-Hop: 1\r\nConnection: x-hop\r\nContent-Length: 0\r\n\r\n";
    let Ok(Parsed::Final(_, head)) = head_as_lines(raw, false) else {
        panic!("refused");
    };
    assert!(head.raw.is_none(), "the map's path strips named headers");
    assert!(head.headers.contains_key("connection"));
    assert!(client_view(&head).iter().all(|(name, _)| name != "x-hop"));
}

/// Header names: ones the parse treats specially, in odd cases, and any token.
fn header_name_strategy() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        6 => proptest::sample::select(vec![
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "KEEP-ALIVE",
            "Server",
            "x-powered-by",
            "X-Request-Id",
            "strict-transport-security",
            "Date",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Connection",
            "Proxy-Authorization",
            "Set-Cookie",
            // Sharing a length with one the parse knows, and a near miss of it.
            "Content-Type",
            "content-typf",
            "x-request-ie",
        ])
        .prop_map(str::to_string),
        3 => "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}",
        // Anything at all: bad names must be refused alike.
        1 => "[\\x00-\\xff]{1,4}",
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
    /// Whatever the upstream sends, the lines and the map agree: both refuse
    /// it with the same error, or both accept it with the same framing and
    /// the same headers for the client.
    #[test]
    fn lines_and_map_never_disagree(
        status in proptest::sample::select(vec![200u16, 200, 204, 304, 404, 100, 101, 999]),
        headers in proptest::collection::vec(
            (
                header_name_strategy(),
                proptest::prop_oneof![
                    4 => "[ -~\\t]{0,12}",
                    2 => "[0-9]{1,3}",
                    2 => proptest::sample::select(vec!["chunked", "close", "keep-alive", "x-a, close", "timeout=3"]).prop_map(str::to_string),
                    1 => "[\\x00-\\xff]{0,6}",
                ],
                // Lines as most upstreams write them (copied whole) and not.
                proptest::sample::select(vec![": ", ": ", ": ", ":", ":  ", ":\t"]),
            ),
            0..10,
        ),
        head_request in proptest::bool::ANY,
    ) {
        let mut raw = format!("HTTP/1.1 {status} X\r\n").into_bytes();
        for (name, value, separator) in &headers {
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(separator.as_bytes());
            raw.extend_from_slice(value.as_bytes());
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        proptest::prop_assert!(
            fuzz_lines_agree(&raw, head_request),
            "map and lines disagree on {:?}",
            String::from_utf8_lossy(&raw)
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
    /// The bare-LF check (the bytes before each name and at the end) refuses
    /// exactly the heads httparse accepts that have an LF not preceded by a CR,
    /// wherever CRs and LFs fall: before or in the status line, in names,
    /// values, or at the end.
    #[test]
    fn a_bare_lf_is_refused_exactly_when_one_is_there(
        lead in proptest::sample::select(vec!["", "", "", "\r\n", "\n", "\r\n\n"]),
        reason in "[ A-Za-z\r\n]{0,4}",
        status_end in proptest::sample::select(vec!["\r\n", "\r\n", "\n"]),
        fields in proptest::collection::vec(
            (
                "[A-Za-z-]{1,4}",
                "[A-Za-z \t]{0,4}",
                proptest::sample::select(vec!["\r\n", "\r\n", "\n"]),
                // Now and then a line of anything in the alphabet instead.
                proptest::option::weighted(0.2, "[A-Za-z:\r\n \t-]{0,10}"),
            ),
            0..6,
        ),
        end in proptest::sample::select(vec!["\r\n", "\n", "\r\n\r\n", "\n\n", "\r\n\n", "\n\r\n"]),
    ) {
        let mut raw = format!("{lead}HTTP/1.1 200 {reason}{status_end}").into_bytes();
        for (name, value, line_end, junk) in &fields {
            match junk {
                Some(junk) => raw.extend_from_slice(junk.as_bytes()),
                None => raw.extend_from_slice(format!("{name}: {value}{line_end}").as_bytes()),
            }
        }
        raw.extend_from_slice(end.as_bytes());
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let Ok(httparse::Status::Complete(len)) = httparse::Response::new(&mut slots).parse(&raw)
        else {
            return Ok(());
        };
        let head = &raw[..len];
        let bare = head
            .iter()
            .enumerate()
            .any(|(at, &b)| b == b'\n' && (at == 0 || head[at - 1] != b'\r'));
        let refused_bare = matches!(parse(&raw, false), Err(ResponseError::BareLf));
        proptest::prop_assert_eq!(bare, refused_bare, "{:?}", String::from_utf8_lossy(head));
    }
}

/// What a first look decides on `input`, checked against the search:
/// `Some(agreed)` when it took a head, `None` when it left it to the search.
fn first_look_agrees(input: &[u8]) -> Option<bool> {
    let head_request = input.len().is_multiple_of(7);
    fuzz_first_look_agrees(input, head_request)
}

#[test]
fn the_first_look_and_the_search_agree_on_every_response_head() {
    let corpus: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 29 Nov 2026 21:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-Request-Id: up\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: x-secret, keep-alive\r\nX-Secret: s\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"e\"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Powered-By: php\r\nSet-Cookie: a=b\r\nX:\t\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
    ];
    let mut decided = 0;
    for head in corpus {
        let agree = first_look_agrees(head);
        decided += usize::from(agree.is_some());
        assert_ne!(agree, Some(false), "{}", String::from_utf8_lossy(head));
    }
    // Not vacuous: most of the corpus's heads are taken at the first look.
    assert!(decided >= 8, "{decided}");
    // Bytes flipped, inserted as CR, LF or NUL, and cut short.
    let mut mutator = crate::test_support::Mutator::new(0x2545_f491_4f6c_dd1d);
    for round in 0..20_000 {
        let mut data = corpus[round % corpus.len()].to_vec();
        mutator.mutate(&mut data, 0, round);
        let agree = first_look_agrees(&data);
        decided += usize::from(agree.is_some());
        assert_ne!(agree, Some(false), "{data:?}");
    }
    assert!(decided > 1_500, "{decided}");
}
