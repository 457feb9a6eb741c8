//! Names that stand for others: suggestions for misspelt names in
//! configurations ("did you mean ...?"), and header names CGI-style upstreams
//! read as another's.

/// Whether the header name `name` (any case) is `canonical` (lower case) with
/// some `-` written `_`: PHP, WSGI and Rack read `X_Forwarded_For` as
/// `HTTP_X_FORWARDED_FOR`, the same variable as `X-Forwarded-For`.
#[inline]
pub fn is_underscore_spelling(canonical: &str, name: &[u8]) -> bool {
    name.contains(&b'_') && is_spelling(canonical, name)
}

/// Whether the header name `name` (any case) is `canonical` (lower case) as
/// it is or with any `-` written `_` (what CGI-style upstreams read alike).
#[inline]
pub fn is_spelling(canonical: &str, name: &[u8]) -> bool {
    canonical.len() == name.len()
        && canonical
            .bytes()
            .zip(name)
            .all(|(want, got)| want == got.to_ascii_lowercase() || (want == b'-' && *got == b'_'))
}

/// The candidate most like `name`, when one is close enough to be a typo
/// (Jaro-Winkler similarity above 0.85; ties go to the smaller name, so the
/// answer does not depend on the candidates' order).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn underscore_spellings_of_a_header_name_are_recognised() {
        use super::is_underscore_spelling as same;
        assert!(same("x-consumer-id", b"X_Consumer_Id"));
        assert!(same("x-consumer-id", b"x-consumer_id"));
        // Not the name itself (no underscore), nor another name.
        assert!(!same("x-consumer-id", b"x-consumer-id"));
        assert!(!same("x-consumer-id", b"x_consumer_ix"));
        assert!(!same("x-consumer-id", b"x_consumer"));
    }

    #[test]
    fn a_typo_gets_the_closest_declared_name() {
        let declared = ["DELETE /orders/{id}", "GET /orders/{id}", "POST /login"];
        assert_eq!(
            closest("DELETE /order/{id}", declared),
            Some("DELETE /orders/{id}")
        );
        assert_eq!(closest("PUT /something/else", declared), None);
    }
}
