//! `@pm`, `@pmFromFile`: case-insensitive phrase match with one Aho-Corasick
//! automaton built at load.

use std::path::Path;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// A compiled phrase set.
#[derive(Debug)]
pub struct PhraseMatcher {
    automaton: AhoCorasick,
    /// The phrases, ASCII lower-case (for the prefilter).
    phrases: Vec<Vec<u8>>,
}

impl PhraseMatcher {
    /// From a space-separated phrase list (`@pm`).
    pub fn from_phrases(arg: &str) -> Result<Self, String> {
        Self::build(arg.split_ascii_whitespace().map(str::to_string).collect())
    }

    /// From data files, one phrase per line, `#` comments (`@pmFromFile`);
    /// paths are relative to the directory of the rules file.
    pub fn from_files(arg: &str, base_dir: &Path) -> Result<Self, String> {
        let mut phrases = Vec::new();
        for name in arg.split_ascii_whitespace() {
            let path = base_dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            phrases.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        Self::build(phrases)
    }

    fn build(phrases: Vec<String>) -> Result<Self, String> {
        if phrases.is_empty() {
            return Err("no phrases".into());
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(&phrases)
            .map_err(|e| e.to_string())?;
        let phrases = phrases
            .iter()
            .map(|p| p.as_bytes().to_ascii_lowercase())
            .collect();
        Ok(Self { automaton, phrases })
    }

    /// The phrases, ASCII lower-case.
    pub fn phrases(&self) -> &[Vec<u8>] {
        &self.phrases
    }

    /// The first phrase found in `value`.
    pub fn find<'a>(&self, value: &'a [u8]) -> Option<&'a [u8]> {
        let m = self.automaton.find(value)?;
        value.get(m.start()..m.end())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn finds_phrases_case_insensitively() {
        let pm = PhraseMatcher::from_phrases("nikto sqlmap").unwrap();
        assert_eq!(pm.find(b"Mozilla SQLMap/1.0"), Some(&b"SQLMap"[..]));
        assert_eq!(pm.find(b"Mozilla/5.0"), None);
        assert!(PhraseMatcher::from_phrases("  ").is_err());
    }

    #[test]
    fn reads_data_files_relative_to_rules() {
        let dir = std::env::temp_dir().join(format!("rampart-waf-pm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.data"), "# comment\n\n.htaccess\nweb.config\n").unwrap();
        let pm = PhraseMatcher::from_files("x.data", &dir).unwrap();
        assert!(pm.find(b"/a/.HTACCESS").is_some());
        assert!(pm.find(b"/a/comment").is_none());
        assert!(PhraseMatcher::from_files("missing.data", &dir).is_err());
    }
}
