//! `@within`: the value occurs somewhere in the argument (e.g. a method in
//! `%{tx.allowed_methods}`). An empty value never matches.

/// Evaluates the operator.
pub fn matches(value: &[u8], arg: &[u8]) -> bool {
    !value.is_empty() && super::find_bytes(arg, value).is_some()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn finds_value_in_list() {
        assert!(matches(b"GET", b"GET HEAD POST"));
        assert!(!matches(b"PUT", b"GET HEAD POST"));
        assert!(!matches(b"", b"GET"));
    }

    /// The first-byte-filtered search finds what a plain window scan finds.
    #[test]
    fn find_bytes_agrees_with_a_window_scan() {
        let alphabet = b"ab/";
        let words = |len: usize| {
            (0..3usize.pow(len as u32)).map(move |mut n| {
                (0..len)
                    .map(|_| {
                        let c = alphabet[n % 3];
                        n /= 3;
                        c
                    })
                    .collect::<Vec<u8>>()
            })
        };
        for hay_len in 0..6 {
            for hay in words(hay_len) {
                for needle_len in 1..4 {
                    for needle in words(needle_len) {
                        let plain = hay
                            .windows(needle.len())
                            .position(|w| w == needle.as_slice());
                        assert_eq!(super::super::find_bytes(&hay, &needle), plain);
                    }
                }
            }
        }
        assert_eq!(super::super::find_bytes(b"abc", b""), None);
    }
}
