//! Request-target normalisation, before routing and every check.
//!
//! Routing must see the path the upstream will see, or `/admin` could be reached as
//! `/public/../admin` or `/%61dmin`. So: percent-escapes of unreserved characters
//! (RFC 3986 §2.3) are decoded, repeated slashes merged (many servers merge them,
//! so `//admin` would be `/admin` there), dot segments are removed (§5.2.4), hex
//! digits of the remaining escapes are upper-cased, and anything ambiguous is
//! refused: escapes that are not two hex digits, encoded NUL, raw control
//! characters, paths that do not start with `/`, a backslash raw or encoded (a
//! separator to Node, IIS and Windows servers: `/public/..\admin`), and a dot
//! segment with parameters (`..;x`, a `..` to Tomcat and Spring) or beside an
//! encoded slash (`a%2F..%2Fb`, a `..` to servers that decode `%2F` first).
//! Reserved escapes such as `%2F` stay encoded (decoding them would change the
//! path's structure).
//! The result is what is routed and what is forwarded.

/// Why a request target was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/` (asterisk or authority form, or empty).
    #[error("path must start with /")]
    NotOriginForm,
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding")]
    BadEscape,
    /// `%00` or a raw control character.
    #[error("control character in path")]
    ControlCharacter,
    /// A backslash, raw or `%5C`: a separator to some servers, not to routing.
    #[error("backslash in path")]
    Backslash,
    /// A `.` or `..` segment with parameters (`..;x`, `.%3Bx`): a dot segment
    /// to servers that drop parameters first, a name to routing.
    #[error("dot segment with parameters")]
    DotSegmentParameters,
    /// A `.` or `..` beside an encoded slash (`upload%2F..%2Fusers`): a dot
    /// segment to servers that decode `%2F` before resolving the path (an
    /// nginx `proxy_pass` with a URI, many frameworks), a name to routing.
    #[error("dot segment beside an encoded slash")]
    EncodedSlashDotSegment,
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Normalises a request path (without query).
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotOriginForm);
    }
    if is_plain(raw) {
        // Nothing to decode and no dot segment: normalisation would not change it.
        return Ok(raw.to_string());
    }
    let decoded = decode_unreserved(raw.as_bytes())?;
    remove_dot_segments(&decoded)
}

/// Whether a path is already normal: visible ASCII, no escapes, no backslash,
/// no empty segment (`//`) and no segment that starts with a dot (so none is
/// `.` or `..`), which is most paths.
fn is_plain(raw: &str) -> bool {
    // One pass; `str::contains("/.")` set up a substring searcher per request.
    let mut after_slash = false;
    raw.bytes().all(|b| {
        let plain = b.is_ascii_graphic()
            && b != b'%'
            && b != b'\\'
            && !(after_slash && (b == b'.' || b == b'/'));
        after_slash = b == b'/';
        plain
    })
}

/// Decodes escapes of unreserved characters; keeps (upper-cased) other escapes.
fn decode_unreserved(raw: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte == b'%' {
            let (Some(high), Some(low)) = (
                rest.first().copied().and_then(hex_value),
                rest.get(1).copied().and_then(hex_value),
            ) else {
                return Err(PathError::BadEscape);
            };
            rest = rest.get(2..).unwrap_or_default();
            let value = high << 4 | low;
            if value == 0 {
                return Err(PathError::ControlCharacter);
            }
            if value == b'\\' {
                return Err(PathError::Backslash);
            }
            if is_unreserved(value) {
                out.push(char::from(value));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(high)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(low)]));
            }
        } else if byte.is_ascii_control() {
            return Err(PathError::ControlCharacter);
        } else if byte == b'\\' {
            return Err(PathError::Backslash);
        } else if byte.is_ascii() {
            out.push(char::from(byte));
        } else {
            // hyper only admits visible ASCII in the request target; be strict anyway.
            return Err(PathError::ControlCharacter);
        }
    }
    Ok(out)
}

/// RFC 3986 §5.2.4 on a path that starts with `/`, with empty segments
/// merged away (`/a//b` is `/a/b`; a last, empty one is the trailing slash)
/// and dot segments with parameters refused.
fn remove_dot_segments(path: &str) -> Result<String, PathError> {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/').skip(1) {
        trailing_slash = false;
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            other if is_dot_with_parameters(other) => {
                return Err(PathError::DotSegmentParameters);
            }
            // The decoder left `%2F` upper-cased: one spelling to look for.
            other if other.contains("%2F") && other.split("%2F").any(is_dot_segment) => {
                return Err(PathError::EncodedSlashDotSegment);
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether a piece of a segment between encoded slashes is a dot segment
/// once they are decoded (with parameters too: `..;x`).
fn is_dot_segment(piece: &str) -> bool {
    piece == "." || piece == ".." || is_dot_with_parameters(piece)
}

/// Whether `segment` is `.` or `..` followed by parameters (`;`, raw or as
/// the `%3B` the decoder leaves upper-cased): Tomcat and Spring drop the
/// parameters and then see a dot segment.
fn is_dot_with_parameters(segment: &str) -> bool {
    let rest = segment
        .strip_prefix("..")
        .or_else(|| segment.strip_prefix('.'))
        .unwrap_or(segment);
    rest.len() < segment.len() && (rest.starts_with(';') || rest.starts_with("%3B"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_take_the_short_way_to_the_same_result() {
        for path in [
            "/",
            "/a",
            "/a/",
            "/users/v1/orders/42",
            "/a-b_c~d/e;f=g",
            "/a/b.json",
            "/a./b..",
        ] {
            assert!(is_plain(path), "{path}");
            let slow = remove_dot_segments(&decode_unreserved(path.as_bytes()).unwrap()).unwrap();
            assert_eq!(normalize_path(path).unwrap(), slow, "{path}");
        }
        for path in [
            "/a/./b",
            "/a//b",
            "/a\\b",
            "/a/../b",
            "/.well-known",
            "/a//.b",
            "/a/..",
            "/%61",
            "/a b",
            "/caf\u{e9}",
        ] {
            assert!(!is_plain(path), "{path}");
        }
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(normalize_path("/a/b/../c").unwrap(), "/a/c");
        assert_eq!(normalize_path("/a/./b/.").unwrap(), "/a/b/");
        assert_eq!(normalize_path("/../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(normalize_path("/a/..").unwrap(), "/");
        assert_eq!(normalize_path("/").unwrap(), "/");
    }

    #[test]
    fn encoded_dots_and_unreserved_characters_are_decoded_first() {
        assert_eq!(normalize_path("/a/%2e%2e/b").unwrap(), "/b");
        assert_eq!(normalize_path("/a/%2E%2E/%2e/b").unwrap(), "/b");
        assert_eq!(
            normalize_path("/users/v1/%5Fdebug").unwrap(),
            "/users/v1/_debug"
        );
        assert_eq!(normalize_path("/%61dmin").unwrap(), "/admin");
    }

    #[test]
    fn reserved_escapes_stay_encoded_and_upper_cased() {
        assert_eq!(normalize_path("/a%2fb").unwrap(), "/a%2Fb");
        assert_eq!(normalize_path("/a%2F.b%2F..c").unwrap(), "/a%2F.b%2F..c");
        assert_eq!(normalize_path("/caf%c3%a9").unwrap(), "/caf%C3%A9");
    }

    /// `upload%2F..%2Fusers` is one segment here and `/upload/../users`, so
    /// `/users`, to an upstream that decodes `%2F` before resolving dots.
    #[test]
    fn dot_segments_beside_encoded_slashes_are_refused() {
        for raw in [
            "/api/upload%2F..%2Fusers",
            "/api/upload%2f..%2fusers",
            "/api/..%2Fadmin",
            "/api/x%2F%2e%2e",
            "/api/x%2F.%2Fy",
            "/api/x%2F..;y%2Fz",
        ] {
            assert_eq!(
                normalize_path(raw),
                Err(PathError::EncodedSlashDotSegment),
                "{raw}"
            );
        }
    }

    #[test]
    fn ambiguous_targets_are_refused() {
        assert_eq!(normalize_path("*"), Err(PathError::NotOriginForm));
        assert_eq!(normalize_path(""), Err(PathError::NotOriginForm));
        assert_eq!(normalize_path("/a%"), Err(PathError::BadEscape));
        assert_eq!(normalize_path("/a%4"), Err(PathError::BadEscape));
        assert_eq!(normalize_path("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize_path("/a%00b"), Err(PathError::ControlCharacter));
        assert_eq!(normalize_path("/a\u{1}b"), Err(PathError::ControlCharacter));
    }

    /// Paths other servers read as another one than routing would: a
    /// backslash (a separator to Node and IIS), a dot segment with
    /// parameters (`..` to Tomcat and Spring) are refused; repeated slashes
    /// (merged by many servers) are merged here too, so `/admin` is routed
    /// as the upstream will serve it.
    #[test]
    fn paths_other_servers_read_differently_are_refused_or_merged() {
        for raw in [
            "/public/..;/admin",
            "/public/..;x=1/admin",
            "/public/.;/admin",
            "/public/%2e%2e;/admin",
            "/public/..%3b/admin",
            "/public/..%3B/admin",
            "/..;",
        ] {
            assert_eq!(
                normalize_path(raw),
                Err(PathError::DotSegmentParameters),
                "{raw}"
            );
        }
        for raw in ["/public/..\\admin", "/public/..%5Cadmin", "/a%5cb", "/a\\b"] {
            assert_eq!(normalize_path(raw), Err(PathError::Backslash), "{raw}");
        }
        assert_eq!(normalize_path("//admin").unwrap(), "/admin");
        assert_eq!(normalize_path("/public//admin").unwrap(), "/public/admin");
        assert_eq!(normalize_path("/a//b//").unwrap(), "/a/b/");
        assert_eq!(normalize_path("//").unwrap(), "/");
        assert_eq!(normalize_path("/public//..//admin").unwrap(), "/admin");
        // Parameters elsewhere, and dots that are not a dot segment, pass.
        assert_eq!(normalize_path("/a;b/c").unwrap(), "/a;b/c");
        assert_eq!(normalize_path("/a/...;x").unwrap(), "/a/...;x");
        assert_eq!(normalize_path("/a/.x;y").unwrap(), "/a/.x;y");
        assert_eq!(normalize_path("/a/..x").unwrap(), "/a/..x");
    }

    #[test]
    fn normalisation_is_idempotent() {
        for raw in [
            "/a/%2e%2e/b",
            "/x/./y/../z/",
            "/%7Euser/%41",
            "/a%2fb/../c",
            "//a//b/",
        ] {
            let once = normalize_path(raw).unwrap();
            assert_eq!(normalize_path(&once).unwrap(), once, "{raw}");
        }
    }
}
