//! Which response bodies phase 4 inspects: `SecResponseBodyAccess` on and the
//! response's media type in `SecResponseBodyMimeType`.

use super::Transaction;

/// Whether a `Content-Type` value's media type (parameters and surrounding
/// space dropped, case ignored) is `expected` (lower-case). Compares in place:
/// it runs on every request and response.
pub(crate) fn is_media_type(content_type: &[u8], expected: &str) -> bool {
    let end = content_type
        .iter()
        .position(|&c| c == b';')
        .unwrap_or(content_type.len());
    content_type
        .get(..end)
        .unwrap_or_default()
        .trim_ascii()
        .eq_ignore_ascii_case(expected.as_bytes())
}

impl Transaction {
    /// Whether phase 4 sees the response body: body access is on and the
    /// response's `Content-Type` (added with
    /// [`Transaction::add_response_header`]) is one of the inspected types. A
    /// response without `Content-Type` is not inspected, as in ModSecurity.
    pub fn response_body_inspected(&self) -> bool {
        let s = &self.rs.settings;
        s.response_body_access
            && self
                .data
                .response_headers
                .iter()
                .find(|h| h.key.eq_ignore_ascii_case(b"content-type"))
                .is_some_and(|h| {
                    s.response_mime_types
                        .iter()
                        .any(|t| is_media_type(&h.value, t))
                })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::RulesetBuilder;

    const RULES: &str = "SecRuleEngine On\nSecResponseBodyAccess On\nSecResponseBodyLimit 64\n\
        SecResponseBodyMimeTypesClear\nSecResponseBodyMimeType text/html application/json\n\
        SecRule RESPONSE_STATUS \"@streq 500\" \"id:1,phase:3,deny,status:502\"\n\
        SecRule RESPONSE_HEADERS:X-Powered-By \"@contains PHP\" \"id:2,phase:3,pass,log,setvar:tx.php=1\"\n\
        SecRule RESPONSE_BODY \"@contains SQL syntax\" \"id:3,phase:4,deny\"\n";

    fn tx(status: u16, content_type: &str, body: &[u8]) -> Transaction {
        let mut b = RulesetBuilder::new();
        b.load_str(RULES, Path::new("r.conf")).unwrap();
        let mut tx = Transaction::new(Arc::new(b.build().unwrap()));
        tx.set_request_line("GET", "/", "HTTP/1.1");
        tx.process_request_body();
        tx.set_response_status(status, "HTTP/1.1");
        tx.add_response_header("Content-Type", content_type.as_bytes());
        tx.add_response_header("X-Powered-By", b"PHP/8.2");
        tx.process_response_headers();
        tx.append_response_body(body);
        tx.process_response_body();
        tx
    }

    #[test]
    fn media_types_drop_parameters_and_case() {
        assert!(is_media_type(
            b"Application/JSON; charset=utf-8",
            "application/json"
        ));
        assert!(is_media_type(b" text/html ", "text/html"));
        assert!(is_media_type(b"", ""));
    }

    #[test]
    fn phase_3_sees_status_and_headers() {
        let t = tx(500, "text/html", b"");
        assert_eq!(
            t.interruption().map(|i| (i.rule_id, i.status)),
            Some((1, 502))
        );
        let t = tx(200, "text/html", b"fine");
        assert!(t.interruption().is_none());
        assert_eq!(t.tx("php"), Some(&b"1"[..]));
    }

    #[test]
    fn phase_4_inspects_listed_types_up_to_the_limit() {
        let leak = b"You have an error in your SQL syntax near ''";
        assert!(
            tx(200, "application/json; charset=utf-8", leak)
                .interruption()
                .is_some()
        );
        assert!(tx(200, "text/html", leak).interruption().is_some());
        // Not a listed type: not inspected.
        assert!(tx(200, "image/png", leak).interruption().is_none());
        assert!(
            tx(200, "text/plain", leak).interruption().is_none(),
            "cleared from the list"
        );
        // Past the 64-byte limit: not seen.
        let mut late = vec![b' '; 64];
        late.extend_from_slice(leak);
        assert!(tx(200, "text/html", &late).interruption().is_none());
        assert!(
            tx(200, "text/html", b"{\"ok\":true}")
                .interruption()
                .is_none()
        );
    }
}
