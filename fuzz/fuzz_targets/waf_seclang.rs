//! The SecLang loader on arbitrary text: never panics; errors name a line
//! inside the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rampart_waf::RulesetBuilder;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lower = text.to_ascii_lowercase();
    // Directives that read other files are exercised by unit tests instead.
    if lower.contains("include") || lower.contains("fromfile") || lower.contains("pmf") {
        return;
    }
    let mut b = RulesetBuilder::new();
    match b.load_str(text, Path::new("<fuzz>")) {
        Ok(()) => {
            let _ = b.build();
        }
        Err(e) => {
            let lines = text.lines().count().max(1);
            assert!(e.location.line <= lines, "error line {} beyond input ({lines})", e.location.line);
        }
    }
});
