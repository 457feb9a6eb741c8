//! The WAF section of a per-API configuration, and its validation into a
//! [`CompiledWaf`]: the rules loaded once (in the order given, this
//! section's engine directives last), plus per-route exclusions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::bytes::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{LoadError, LoadWarning};
use crate::ruleset::{Ruleset, RulesetBuilder};
use crate::seclang::actions::IdRange;
use crate::seclang::targets::{Exclusion, parse_targets};
use crate::services::Services;

/// Blocking or detection-only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WafMode {
    /// Disruptive actions refuse the request (403 `waf-blocked`).
    #[default]
    Blocking,
    /// Rules run and matches are recorded; nothing is refused.
    DetectionOnly,
}

/// WAF configuration of one API.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WafConfig {
    /// Rule files or globs (`rules/*.conf`), loaded in order. The first entry is
    /// the setup file (`crs-setup.conf`): the settings below are applied right
    /// after it, so they override it; `mode` and the body settings also win
    /// over any file's engine directives.
    pub rules: Vec<PathBuf>,
    /// Blocking (default) or detection-only.
    #[serde(default)]
    pub mode: WafMode,
    /// CRS paranoia level 1..=4 (sets `tx.paranoia_level`); unset keeps the
    /// setup file's choice (CRS default 1).
    #[serde(default)]
    pub paranoia_level: Option<u8>,
    /// CRS inbound anomaly score threshold (sets `tx.inbound_anomaly_score_threshold`).
    #[serde(default)]
    pub inbound_anomaly_threshold: Option<u32>,
    /// Request body bytes inspected; `null` turns request body inspection off.
    /// The gateway buffers this much and refuses larger bodies with 413.
    // Three-way (absent `None` = the default, `null` = `Some(None)`), so that
    // a value the user wrote can be checked against the API's own body limit
    // while the default is simply capped by it: read it through
    // `body_limit` and `written_body_limit`.
    #[serde(default, deserialize_with = "written")]
    #[schemars(with = "Option<usize>", extend("default" = DEFAULT_REQUEST_BODY_LIMIT))]
    pub request_body_limit: Option<Option<usize>>,
    /// Response body bytes inspected in phase 4 (CRS `RESPONSE-95x` data
    /// leakage rules), at most 16 MiB (the gateway's response buffer); null
    /// (the default) leaves `SecResponseBodyAccess` to the rule files (off
    /// unless they turn it on). Response status and headers (phase 3) are
    /// always inspected; bodies only for the media types in
    /// `response_body_types`.
    #[serde(default)]
    pub response_body_limit: Option<usize>,
    /// Media types whose response bodies are inspected when
    /// `response_body_limit` is set (`SecResponseBodyMimeType`).
    #[serde(default = "default_response_types")]
    pub response_body_types: Vec<String>,
    /// Add ModSecurity's recommended rules 200000-200005, 200007 and 200008:
    /// JSON (also `+json` types) and XML body processors by Content-Type,
    /// refusing unparseable bodies, multipart bodies that fail strict
    /// validation or hold a line that starts with the boundary but is not
    /// one, requests a regex could not be decided on within the
    /// backtracking limit, requests with more arguments than are inspected
    /// and requests that made the rules write more TX variables than are
    /// kept. Off, those requests are not refused but pass partly uninspected
    /// (a warning is logged when the configuration is loaded).
    #[serde(default = "yes")]
    pub recommended_rules: bool,
    /// Exclusions for false positives.
    #[serde(default)]
    pub exclusions: Vec<WafExclusion>,
}

/// Request body bytes inspected when `request_body_limit` is absent.
pub const DEFAULT_REQUEST_BODY_LIMIT: usize = 128 * 1024;

/// A field that is present, even as `null`: `Some(value)` (absent fields
/// take `#[serde(default)]`, i.e. `None`).
fn written<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

fn default_response_types() -> Vec<String> {
    ["text/plain", "text/html", "text/xml", "application/json"]
        .map(String::from)
        .to_vec()
}

/// Largest `response_body_limit`: what the gateway buffers of a response.
pub const MAX_RESPONSE_BODY_LIMIT: usize = rampart_core::stage::RESPONSE_BUFFER_LIMIT;

fn yes() -> bool {
    true
}

/// Rules or targets switched off for some requests.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WafExclusion {
    /// Route templates (e.g. `POST /login`) this applies to; empty means every route.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Rule ids or ranges (`942100`, `942100-942199`) to switch off.
    #[serde(default)]
    pub rule_ids: Vec<String>,
    /// Rules carrying one of these tags are switched off (exact tag).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Targets to remove from some rules.
    #[serde(default)]
    pub targets: Vec<TargetExclusion>,
}

/// A target (`ARGS:password`, `REQUEST_COOKIES:/^_ga/`) removed from rules.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetExclusion {
    /// The target, in SecLang syntax.
    pub target: String,
    /// From rules with these ids or ranges.
    #[serde(default)]
    pub rule_ids: Vec<String>,
    /// From rules with these tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Invalid WAF configuration; `field` is the path of the offending field.
#[derive(Debug, thiserror::Error)]
pub enum WafConfigError {
    /// A field value is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the field, e.g. `exclusions[0].rule_ids[1]`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A rules file failed to load.
    #[error("{field}: {source}")]
    Rules {
        /// Path of the field, e.g. `rules[2]`.
        field: String,
        /// The load error, with file and line.
        source: LoadError,
    },
}

/// A validated exclusion.
#[derive(Debug, Clone)]
pub(crate) struct CompiledExclusion {
    pub routes: Vec<String>,
    pub ids: Vec<IdRange>,
    pub tags: Vec<Arc<Regex>>,
    pub targets: Vec<(Vec<IdRange>, Vec<Arc<Regex>>, Exclusion)>,
}

/// The engine built from a [`WafConfig`].
#[derive(Debug, Clone)]
pub struct CompiledWaf {
    /// The loaded rules.
    pub ruleset: Arc<Ruleset>,
    /// Blocking or detection-only.
    pub mode: WafMode,
    pub(crate) exclusions: Vec<CompiledExclusion>,
    pub(crate) warnings: Vec<WafWarning>,
}

impl CompiledWaf {
    /// What the configuration asks for that loads but leaves requests less
    /// inspected than it says (for the gateway to log when it builds the stage).
    pub fn warnings(&self) -> &[WafWarning] {
        &self.warnings
    }
}

/// Something a WAF configuration says that is accepted but weakens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WafWarning {
    /// A rule file directive that has no effect, with file and line.
    Rules(LoadWarning),
    /// `recommended_rules: false`: what those rules refuse passes.
    RecommendedRulesOff,
}

impl std::fmt::Display for WafWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rules(w) => write!(f, "rules: {w}"),
            Self::RecommendedRulesOff => f.write_str(
                "recommended_rules: false: requests the engine cannot fully inspect pass \
                 instead of being refused (unparseable bodies, 200002; multipart bodies \
                 that fail strict validation, 200003-200004; a regex stopped at the \
                 backtracking limit, 200005; arguments past SecArgumentsLimit, 200007; \
                 more TX variables than are kept, 200008) unless the rule files refuse them",
            ),
        }
    }
}

/// Rule id of the generated `SecAction` carrying the paranoia level and
/// threshold (the next two ids raise the executing/detection level).
pub const SETTINGS_RULE_ID: u64 = 9_990_001;

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> WafConfigError {
    WafConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn id_ranges(field: &str, list: &[String]) -> Result<Vec<IdRange>, WafConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            IdRange::parse(s)
                .ok_or_else(|| invalid(format!("{field}[{i}]"), "expected a rule id or range"))
        })
        .collect()
}

fn exact_tags(list: &[String]) -> Vec<Arc<Regex>> {
    list.iter()
        .filter_map(|t| {
            Regex::new(&format!("^{}$", regex::escape(t)))
                .ok()
                .map(Arc::new)
        })
        .collect()
}

impl WafConfig {
    /// Request body bytes inspected (`None`: body inspection off).
    pub fn body_limit(&self) -> Option<usize> {
        self.request_body_limit
            .unwrap_or(Some(DEFAULT_REQUEST_BODY_LIMIT))
    }

    /// The request body limit as written in the configuration, when it was
    /// written and is a number (not the default, not `null`).
    pub fn written_body_limit(&self) -> Option<usize> {
        self.request_body_limit.flatten()
    }

    /// Loads the rules and validates everything.
    pub fn build(&self) -> Result<CompiledWaf, WafConfigError> {
        self.build_with(Services::default())
    }

    /// Like [`WafConfig::build`], with custom outside capabilities.
    pub fn build_with(&self, services: Services) -> Result<CompiledWaf, WafConfigError> {
        if self.rules.is_empty() {
            return Err(invalid("rules", "at least one rules file is needed"));
        }
        if let Some(pl) = self.paranoia_level
            && !(1..=4).contains(&pl)
        {
            return Err(invalid("paranoia_level", "must be 1, 2, 3 or 4"));
        }
        if self.body_limit() == Some(0) {
            return Err(invalid(
                "request_body_limit",
                "must be positive (or null to turn body inspection off)",
            ));
        }
        match self.response_body_limit {
            Some(0) => {
                return Err(invalid(
                    "response_body_limit",
                    "must be positive (or null to leave response bodies uninspected)",
                ));
            }
            Some(n) if n > MAX_RESPONSE_BODY_LIMIT => {
                return Err(invalid(
                    "response_body_limit",
                    format!("must be at most {MAX_RESPONSE_BODY_LIMIT}"),
                ));
            }
            _ => {}
        }
        for (i, t) in self.response_body_types.iter().enumerate() {
            let ok = t.split_once('/').is_some_and(|(a, b)| {
                let token = |x: &str| {
                    !x.is_empty()
                        && x.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
                };
                token(a) && token(b)
            });
            if !ok {
                return Err(invalid(
                    format!("response_body_types[{i}]"),
                    "expected a media type such as application/json",
                ));
            }
        }
        let b = self.load(services)?;
        let ruleset = b.build().map_err(|source| WafConfigError::Rules {
            field: "rules".into(),
            source,
        })?;
        let mut exclusions = Vec::new();
        for (i, e) in self.exclusions.iter().enumerate() {
            let base = format!("exclusions[{i}]");
            // Routes alone select requests but switch nothing off.
            if e.rule_ids.is_empty() && e.tags.is_empty() && e.targets.is_empty() {
                return Err(invalid(
                    base,
                    "name rule_ids, tags or targets to switch off",
                ));
            }
            let mut targets = Vec::new();
            for (j, t) in e.targets.iter().enumerate() {
                let field = format!("{base}.targets[{j}]");
                let list = parse_targets(&t.target)
                    .map_err(|(_, reason)| invalid(format!("{field}.target"), reason))?;
                let target = list.targets.into_iter().next().ok_or_else(|| {
                    invalid(format!("{field}.target"), "expected VARIABLE[:selector]")
                })?;
                if t.rule_ids.is_empty() && t.tags.is_empty() {
                    return Err(invalid(field, "name rule_ids or tags"));
                }
                targets.push((
                    id_ranges(&format!("{field}.rule_ids"), &t.rule_ids)?,
                    exact_tags(&t.tags),
                    Exclusion {
                        var: target.var,
                        selector: target.selector,
                    },
                ));
            }
            exclusions.push(CompiledExclusion {
                routes: e.routes.clone(),
                ids: id_ranges(&format!("{base}.rule_ids"), &e.rule_ids)?,
                tags: exact_tags(&e.tags),
                targets,
            });
        }
        let mut warnings: Vec<WafWarning> = ruleset
            .warnings()
            .iter()
            .cloned()
            .map(WafWarning::Rules)
            .collect();
        if !self.recommended_rules {
            warnings.push(WafWarning::RecommendedRulesOff);
        }
        Ok(CompiledWaf {
            ruleset: Arc::new(ruleset),
            mode: self.mode,
            exclusions,
            warnings,
        })
    }

    /// Loads ModSecurity's recommended rules (when asked for), the rule files
    /// and this section's engine directives into a builder, without freezing
    /// it (for tools that adjust [`crate::ruleset::Settings`] first).
    pub fn load(&self, services: Services) -> Result<RulesetBuilder, WafConfigError> {
        let rules_error = |source| WafConfigError::Rules {
            field: "rules".into(),
            source,
        };
        let mut b = RulesetBuilder::new().services(services);
        if self.recommended_rules {
            b.load_str(RECOMMENDED_RULES, Path::new("<rampart-preamble>"))
                .map_err(rules_error)?;
        }
        for (i, path) in self.rules.iter().enumerate() {
            b.load_file(path).map_err(|source| WafConfigError::Rules {
                field: format!("rules[{i}]"),
                source,
            })?;
            if i == 0 {
                b.load_str(&self.settings_rule(), Path::new("<rampart-settings>"))
                    .map_err(|source| WafConfigError::Rules {
                        field: "paranoia_level".into(),
                        source,
                    })?;
            }
        }
        if self.recommended_rules {
            // After the files: their phase-2 rules run first, so a search
            // of theirs that hits the limit is caught too.
            b.load_str(RECOMMENDED_RULES_LAST, Path::new("<rampart-postamble>"))
                .map_err(rules_error)?;
        }
        // Last, so that what this section says wins over the files' own
        // directives: a `SecRuleEngine DetectionOnly` in a file (ModSecurity's
        // recommended configuration has one) would otherwise leave
        // `mode: blocking` blocking nothing.
        b.load_str(&self.engine_directives(), Path::new("<rampart-engine>"))
            .map_err(rules_error)?;
        let settings = &b.settings;
        if settings.response_body_access && settings.response_body_limit > MAX_RESPONSE_BODY_LIMIT {
            // A limit a file set must fit the gateway's response buffer like
            // this section's.
            return Err(invalid(
                "rules",
                format!(
                    "a rule file sets SecResponseBodyLimit {}; at most {MAX_RESPONSE_BODY_LIMIT} (the gateway's response buffer)",
                    settings.response_body_limit
                ),
            ));
        }
        Ok(b)
    }

    /// The engine directives this section sets.
    fn engine_directives(&self) -> String {
        let mut s = String::new();
        let engine = match self.mode {
            WafMode::Blocking => "On",
            WafMode::DetectionOnly => "DetectionOnly",
        };
        let _ = writeln!(s, "SecRuleEngine {engine}");
        match self.body_limit() {
            Some(limit) => {
                let _ = writeln!(s, "SecRequestBodyAccess On\nSecRequestBodyLimit {limit}");
            }
            None => s.push_str("SecRequestBodyAccess Off\n"),
        }
        if let Some(limit) = self.response_body_limit {
            let _ = writeln!(
                s,
                "SecResponseBodyAccess On\nSecResponseBodyLimit {limit}\n\
                 SecResponseBodyMimeTypesClear\nSecResponseBodyMimeType {}",
                self.response_body_types.join(" ")
            );
        }
        s
    }

    /// The paranoia level and threshold as CRS variables, for CRS 3
    /// (`tx.paranoia_level`, `tx.executing_paranoia_level`) and CRS 4
    /// (`tx.blocking_paranoia_level`, `tx.detection_paranoia_level`). The
    /// executing/detection level is only raised: a setup file may run more
    /// rules than it scores (CRS 4 refuses every request when detection is
    /// below blocking), and when unset CRS defaults it to the level.
    fn settings_rule(&self) -> String {
        let mut setvars = Vec::new();
        if let Some(pl) = self.paranoia_level {
            setvars.push(format!("setvar:tx.paranoia_level={pl}"));
            setvars.push(format!("setvar:tx.blocking_paranoia_level={pl}"));
        }
        if let Some(t) = self.inbound_anomaly_threshold {
            setvars.push(format!("setvar:tx.inbound_anomaly_score_threshold={t}"));
        }
        if setvars.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "SecAction \"id:{SETTINGS_RULE_ID},phase:1,pass,nolog,t:none,{}\"\n",
            setvars.join(",")
        );
        if let Some(pl) = self.paranoia_level {
            for (i, var) in ["executing_paranoia_level", "detection_paranoia_level"]
                .iter()
                .enumerate()
            {
                let _ = writeln!(
                    out,
                    "SecRule TX:{var} \"@lt {pl}\" \"id:{},phase:1,pass,nolog,t:none,setvar:tx.{var}={pl}\"",
                    SETTINGS_RULE_ID + 1 + i as u64
                );
            }
        }
        out
    }
}

/// ModSecurity's `modsecurity.conf-recommended` rules 200000-200004, the
/// JSON processor also for structured `+json` types (`application/problem+json`,
/// `application/cloudevents+json`: frameworks bind them as JSON, so their
/// members must be ARGS too), and 200007 in our words: arguments past
/// `SecArgumentsLimit` are not inspected, so such a request is refused
/// rather than let through with its tail unread.
///
/// The content-type patterns are anchored at the start (as ModSecurity's
/// are): unanchored, `text/xml` or `application/json` inside a parameter
/// (`application/x-www-form-urlencoded;type=text/xml`) switched a form body
/// to the XML or JSON processor, which found no arguments in it, while the
/// application parsed the form.
const RECOMMENDED_RULES: &str = r#"SecRule REQUEST_HEADERS:Content-Type "@rx ^\s*(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "@rx ^\s*application/(?:[a-z0-9.+-]+\+)?json\s*(?:;|$)" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'"
SecRule MULTIPART_UNMATCHED_BOUNDARY "@eq 1" "id:200004,phase:2,t:none,log,deny,status:400,msg:'Multipart parser detected a possible unmatched boundary.'"
SecRule INBOUND_DATA_ERROR "@eq 1" "id:200007,phase:2,t:none,log,deny,status:400,msg:'More arguments than are inspected'"
"#;

/// ModSecurity's recommended rule 200005 for its internal error flag we
/// set: a regex search in phase 1 or 2 stopped at the backtracking limit
/// (`SecPcreMatchLimit`) without deciding whether its rule matched. Loaded
/// after the rule files, so it sees their phase-2 searches as well.
///
/// And 200008, ours: a TX variable a rule wrote was dropped because TX held
/// its limit of keys (`TX:RAMPART_TX_LIMIT_EXCEEDED`), so later rules were
/// decided on missing variables (CRS 922150 writes one per multipart part
/// header; past the limit 931130's were lost). After the files too, so it
/// sees their phase-2 writes.
const RECOMMENDED_RULES_LAST: &str = r#"SecRule TX:MSC_PCRE_LIMITS_EXCEEDED "@eq 1" "id:200005,phase:2,t:none,log,deny,status:400,msg:'Regex backtracking limit reached: the request could not be inspected'"
SecRule TX:RAMPART_TX_LIMIT_EXCEEDED "@eq 1" "id:200008,phase:2,t:none,log,deny,status:400,msg:'Too many transaction variables: the request could not be inspected'"
"#;
