//! The guard's framing, in-place passing and refusals, fed in every split.

use super::*;

#[test]
fn targets_with_raw_unsafe_characters_are_encoded() {
    assert!(matches!(encode_target("/a/b?c=d"), TargetCheck::Fine));
    assert!(matches!(
        encode_target("/a?q={\"x\"}"),
        TargetCheck::Fine | TargetCheck::Encoded(_)
    ));
    match encode_target("/x?input=<script>|\\") {
        TargetCheck::Encoded(e) => assert_eq!(e, "/x?input=%3Cscript%3E%7C%5C"),
        _ => panic!("expected an encoding"),
    }
    // Bytes past ASCII are encoded, in the path and the query, and whatever
    // else the target holds with them.
    for (raw, want) in [
        ("/caf\u{e9}", "/caf%C3%A9"),
        ("/a?q=caf\u{e9}", "/a?q=caf%C3%A9"),
        ("/caf\u{e9}/{x}", "/caf%C3%A9/%7Bx%7D"),
    ] {
        match encode_target(raw) {
            TargetCheck::Encoded(e) => assert_eq!(e, want),
            _ => panic!("{raw} not encoded"),
        }
    }
    assert!(matches!(encode_target("/a\u{7f}b"), TargetCheck::Invalid));
    match encode_target("?id=1") {
        TargetCheck::Encoded(e) => assert_eq!(e, "/?id=1"),
        _ => panic!("a bare query should get the root path"),
    }
    assert!(matches!(
        encode_target("www.example.com:443"),
        TargetCheck::Invalid
    ));
    assert!(matches!(encode_target("/a?b=1#frag"), TargetCheck::Invalid));
}

#[test]
fn request_id_is_found_in_heads_that_do_not_parse() {
    let head = b"GET / HTTP/3.0\r\nHost: a\r\nX-Request-ID: ftw-123\r\n\r\n";
    assert_eq!(raw_request_id(head).as_deref(), Some("ftw-123"));
    assert_eq!(raw_request_id(b"GET / HTTP/3.0\r\n\r\n"), None);
}

fn guard() -> GuardedIo<()> {
    detached_guard()
}

const CHUNKED_THEN_GET: &[u8] = b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nPUT /c HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";

#[test]
fn whole_requests_pass_in_place_without_a_copy() {
    let mut guard = guard();
    assert_eq!(guard.accept(CHUNKED_THEN_GET), CHUNKED_THEN_GET.len());
    assert!(guard.ready.is_empty() && guard.head.is_empty());
    assert_eq!(guard.heads_passed, 3);
    assert!(guard.refusal.is_none());
}

#[test]
fn every_split_passes_the_same_bytes() {
    for split in 0..=CHUNKED_THEN_GET.len() {
        let (passed, refused) = fuzz_feed(CHUNKED_THEN_GET, split);
        assert!(!refused, "split {split}");
        assert_eq!(passed, CHUNKED_THEN_GET, "split {split}");
    }
}

/// The framing of a chunked body is followed to its end, so a smuggled head
/// pipelined after it is still checked (and refused), however the bytes arrive.
#[test]
fn a_head_after_a_chunked_body_is_checked() {
    let mut input =
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            .to_vec();
    let accepted = input.len();
    input.extend_from_slice(
        b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for split in 0..=input.len() {
        let (passed, refused) = fuzz_feed(&input, split);
        assert!(refused, "split {split}");
        assert_eq!(passed, input[..accepted], "split {split}");
    }
}

/// Chunked framing the guard cannot follow (here a 17-digit size, which
/// hyper accepts as leading zeros) ends hyper's input at the bad byte: it
/// used to pass the rest of the connection unchecked, so the smuggled
/// CL+TE head after it reached hyper.
#[test]
fn chunk_framing_the_guard_cannot_follow_passes_nothing_after_it() {
    let head = b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut input = head.to_vec();
    input.extend_from_slice(b"00000000000000001\r\nx\r\n0\r\n\r\n");
    input.extend_from_slice(
        b"GET /b HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    // The head, the 16 digits allowed and the 17th, then nothing.
    let passed_at_most = head.len() + 17;
    for split in 0..=input.len() {
        let (passed, refused) = fuzz_feed(&input, split);
        assert!(refused, "split {split}");
        assert_eq!(passed, input[..passed_at_most], "split {split}");
    }
    // Sixteen digits (leading zeros) are a size, and the next head is checked.
    let mut input = head.to_vec();
    input
        .extend_from_slice(b"0000000000000001\r\nx\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    let (passed, refused) = fuzz_feed(&input, input.len());
    assert!(!refused);
    assert_eq!(passed, input);
    // Other framing errors end the input the same way.
    for body in [&b"5\n"[..], b"5;x\nhello", b"5\r\nhelloXY", b"zz\r\n"] {
        let mut input = head.to_vec();
        input.extend_from_slice(body);
        input.extend_from_slice(b"GET /c HTTP/1.1\r\nHost: a\r\n\r\n");
        let (passed, refused) = fuzz_feed(&input, input.len());
        assert!(refused, "{}", String::from_utf8_lossy(body));
        assert!(
            passed.len() <= head.len() + body.len(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

/// A raw UTF-8 path reaches hyper percent-encoded (hyper mode): it used to
/// go raw, and the path normaliser refused it with 400.
#[test]
fn a_raw_utf8_target_reaches_hyper_encoded() {
    let input = b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n";
    let (passed, refused) = fuzz_feed(input, input.len());
    assert!(!refused);
    assert_eq!(passed, b"GET /caf%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        crate::normalize::normalize_path("/caf%C3%A9").as_deref(),
        Ok("/caf%C3%A9")
    );
}

#[test]
fn re_encoded_targets_and_the_bytes_after_them_keep_their_order() {
    let input = b"GET /x?q=<a> HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n";
    let expected =
        b"GET /x?q=%3Ca%3E HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n";
    for split in 0..=input.len() {
        let (passed, refused) = fuzz_feed(input, split);
        assert!(!refused, "split {split}");
        assert_eq!(passed, expected, "split {split}");
    }
}

#[test]
fn oversized_heads_are_refused_in_place_and_when_split() {
    let mut input = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    input.extend(std::iter::repeat_n(b'a', 9000));
    input.extend_from_slice(b"\r\n\r\n");
    for split in [0, 10, 4000, input.len()] {
        let (passed, refused) = fuzz_feed(&input, split);
        assert!(refused && passed.is_empty(), "split {split}");
    }
}

#[test]
fn head_end_skips_leading_empty_lines_and_spans_reads() {
    assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 0), Some(18));
    assert_eq!(find_head_end(b"\r\nGET / HTTP/1.1\r\n\r\nx", 0), Some(20));
    assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
}

proptest::proptest! {
    /// The head's end is the first `\r\n\r\n` at or after `from` (and after
    /// any leading empty lines), as a plain substring search finds it.
    #[test]
    fn head_end_is_the_first_blank_line(
        buf in proptest::collection::vec(proptest::sample::select(vec![b'\r', b'\n', b'a']), 0..64),
        from in 0usize..70,
    ) {
        let start = buf.iter().position(|&b| b != b'\r' && b != b'\n');
        let expected = start.and_then(|start| {
            let from = from.max(start);
            let hay = buf.get(from..)?;
            hay.windows(4).position(|w| w == b"\r\n\r\n").map(|i| from + i + 4)
        });
        proptest::prop_assert_eq!(find_head_end(&buf, from), expected);
    }
}

#[test]
fn many_pipelined_heads_after_a_copied_one_are_taken_one_by_one() {
    // A first head whose target is re-encoded puts the guard on its copying
    // path; every head after it in the same read used to recurse once more
    // (a stack that grew with the count), and each took a copy of all the
    // bytes after it (quadratic). 20,000 of them now go in a loop, each
    // copying only its own head.
    let mut guard = guard();
    let mut input = b"GET /a<b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    for _ in 0..20_000 {
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    assert_eq!(guard.accept(&input), 0, "copied, not passed in place");
    assert!(guard.refusal.is_none());
    assert_eq!(guard.heads_passed, 20_001);
    assert!(guard.ready.starts_with(b"GET /a%3Cb HTTP/1.1\r\n"));
    assert_eq!(guard.ready.len(), input.len() + 2, "every byte, once");
}

#[test]
fn the_copying_path_copies_a_head_not_what_follows_it() {
    // Half a head came in an earlier read; the next read completes it and
    // holds 1 MB more. Only the head's own bytes are copied: the copying path
    // tells how many of the read it took, the rest stays where it was read.
    let mut guard = guard();
    assert_eq!(guard.accept(b"GET /a HTTP/1.1\r\nHo"), 0);
    let mut read = b"st: a\r\n\r\n".to_vec();
    let tail = read.len();
    read.extend(std::iter::repeat_n(b'x', 1 << 20));
    assert_eq!(guard.accept_head_copied(&read), Some(tail));
    assert!(guard.head.capacity() < 1 << 16, "{}", guard.head.capacity());
    assert_eq!(guard.ready, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
    // A head past the limit (8 KiB here) is refused having copied no more.
    let mut limited = detached_guard();
    assert_eq!(limited.accept(b"GET /a HTTP/1.1\r\nX: "), 0);
    let long = vec![b'y'; 1 << 20];
    assert_eq!(limited.accept_head_copied(&long), None);
    assert!(limited.refusal.is_some());
    assert!(
        limited.head.capacity() < 1 << 16,
        "{}",
        limited.head.capacity()
    );
}

#[test]
fn a_refused_absolute_form_target_is_recorded_without_its_authority() {
    for (head, want) in [
        (
            &b"GET http://u:pw@h.test/x?q=1 HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            "/x?q=1",
        ),
        (b"GET https://u:pw@h.test HTTP/1.1\r\n\r\n", "/"),
        (b"GET http://u:pw@h.test?q=1 HTTP/1.1\r\n\r\n", "?q=1"),
        (b"GET /plain?a=b HTTP/1.1\r\n\r\n", "/plain?a=b"),
        (b"GET /a://b HTTP/1.1\r\n\r\n", "/a://b"),
    ] {
        let facts = refused_head_facts(head, 8);
        assert_eq!(
            facts.target.as_deref(),
            Some(want),
            "{}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn a_refused_target_is_recorded_without_its_fragment() {
    for (head, want) in [
        (
            &b"GET /cb?state=x#access_token=SECRET HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            "/cb?state=x",
        ),
        (b"GET /cb#access_token=SECRET HTTP/1.1\r\n\r\n", "/cb"),
        (b"GET http://h.test/x?q=1#SECRET HTTP/1.1\r\n\r\n", "/x?q=1"),
        (b"GET http://h.test#@evil/SECRET HTTP/1.1\r\n\r\n", "/"),
        (b"GET #SECRET HTTP/1.1\r\n\r\n", ""),
    ] {
        let facts = refused_head_facts(head, 8);
        assert_eq!(
            facts.target.as_deref(),
            Some(want),
            "{}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn a_refused_host_is_recorded_without_its_user_information() {
    for (host, want) in [
        ("alice:S3CRET@api.example.com", "api.example.com"),
        ("a@b:c@api.example.com:8443", "api.example.com:8443"),
        ("@h", "h"),
        ("api.example.com", "api.example.com"),
    ] {
        let head = format!("GET /x HTTP/1.1\r\nHost: {host}\r\nContent-Length: x\r\n\r\n");
        let facts = refused_head_facts(head.as_bytes(), 8);
        assert_eq!(facts.host.as_deref(), Some(want), "{host}");
    }
}
