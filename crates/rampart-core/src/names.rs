//! Suggestions for misspelt names in configurations ("did you mean ...?").

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
    fn a_typo_gets_the_closest_declared_name() {
        let declared = ["DELETE /orders/{id}", "GET /orders/{id}", "POST /login"];
        assert_eq!(
            closest("DELETE /order/{id}", declared),
            Some("DELETE /orders/{id}")
        );
        assert_eq!(closest("PUT /something/else", declared), None);
    }
}
