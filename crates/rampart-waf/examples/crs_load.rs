//! Loads a Core Rule Set tree (CRS 3.3 or 4.x, unmodified) the way the gateway
//! does and prints what loaded, or the first load error with file and line.
//!
//! ```text
//! cargo run -p rampart-waf --example crs_load -- /path/to/coreruleset
//! ```
//!
//! The directory is a CRS release as downloaded from the CRS project: it
//! holds `crs-setup.conf` (or `crs-setup.conf.example`, used unmodified when
//! there is no `crs-setup.conf`) and `rules/*.conf` with the `.data` files.
//! Exit status 0 when everything loaded, 1 on a load error, 2 on bad usage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use rampart_waf::WafConfig;

fn setup_file(dir: &Path) -> Option<PathBuf> {
    ["crs-setup.conf", "crs-setup.conf.example"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

fn main() {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: crs_load <crs-directory>");
        std::process::exit(2);
    };
    let Some(setup) = setup_file(&dir) else {
        eprintln!(
            "{}: no crs-setup.conf or crs-setup.conf.example",
            dir.display()
        );
        std::process::exit(2);
    };
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": [setup, dir.join("rules").join("*.conf")],
        "response_body_limit": 524288,
    }))
    .unwrap();
    match config.build() {
        Ok(waf) => {
            let rs = &waf.ruleset;
            println!("loaded: {} rules", rs.rule_count());
            for phase in 1..=5u8 {
                println!(
                    "  phase {phase}: {}",
                    if rs.has_rules_in(phase) {
                        "rules"
                    } else {
                        "none"
                    }
                );
            }
            println!(
                "regex fallbacks (backtracking engine): {}",
                rs.regex_fallbacks()
            );
            println!(
                "component signatures: {}",
                rs.settings().component_signatures.join(", ")
            );
        }
        Err(e) => {
            eprintln!("load failed: {e}");
            std::process::exit(1);
        }
    }
}
