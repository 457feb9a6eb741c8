//! The SecLang loader: reads files (following `Include`), splits them into
//! directives and feeds them to a [`RulesetBuilder`].
//!
//! Every directive this engine does not implement is a load error naming file
//! and line. Directives that only configure things the gateway owns (audit and
//! debug logs, temporary directories) are accepted and have no effect; they are
//! listed in [`GATEWAY_OWNED_DIRECTIVES`]. A directive that configures the
//! engine but is not implemented, and is common enough in the files people
//! load to be accepted (`SecUnicodeMapFile`), loads with a warning naming file
//! and line ([`crate::error::LoadWarning`]).

pub mod actions;
pub mod lines;
pub mod rule_builder;
pub mod targets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actions::{EngineMode, IdRange, parse_actions};
use lines::{logical_lines, split_args};
use rule_builder::{Defaults, RuleSource, build_rule};

use crate::error::{LoadError, LoadErrorKind, LoadWarning, LoadWarningKind, Location};
use crate::ruleset::{BodyLimitAction, BuildEntry, RulesetBuilder};

/// Directives accepted without effect: they configure logging, storage and
/// upload handling, which the gateway (not the engine) owns.
pub const GATEWAY_OWNED_DIRECTIVES: &[&str] = &[
    "SecAuditEngine",
    "SecAuditLog",
    "SecAuditLog2",
    "SecAuditLogParts",
    "SecAuditLogType",
    "SecAuditLogFormat",
    "SecAuditLogRelevantStatus",
    "SecAuditLogStorageDir",
    "SecAuditLogDirMode",
    "SecAuditLogFileMode",
    "SecDebugLog",
    "SecDebugLogLevel",
    "SecTmpDir",
    "SecDataDir",
    "SecUploadDir",
    "SecUploadKeepFiles",
    "SecUploadFileMode",
    "SecUploadFileLimit",
    "SecTmpSaveUploadedFiles",
    "SecStatusEngine",
    "SecRequestBodyInMemoryLimit",
    "SecPcreMatchLimitRecursion",
    "SecServerSignature",
    "SecWebAppId",
    "SecHttpBlKey",
    "SecGeoLookupDb",
];

/// Includes nested deeper than this are refused (cycle guard).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Loads a path or glob.
pub(crate) fn load_path(
    b: &mut RulesetBuilder,
    path: &Path,
    from: Option<&Location>,
    optional: bool,
    depth: usize,
) -> Result<(), LoadError> {
    let here = || {
        from.cloned().unwrap_or_else(|| Location {
            file: path.to_path_buf(),
            line: 0,
        })
    };
    if depth > MAX_INCLUDE_DEPTH {
        return Err(LoadError::new(
            here(),
            LoadErrorKind::IncludeTooDeep(MAX_INCLUDE_DEPTH),
        ));
    }
    let files = expand_glob(path).map_err(|e| LoadError::new(here(), e))?;
    if files.is_empty() {
        if optional {
            return Ok(());
        }
        return Err(LoadError::new(
            here(),
            LoadErrorKind::IncludeNotFound(path.display().to_string()),
        ));
    }
    for file in files {
        let src = std::fs::read_to_string(&file).map_err(|source| {
            LoadError::new(
                here(),
                LoadErrorKind::Io {
                    path: file.clone(),
                    source,
                },
            )
        })?;
        load_source(b, &src, &file, depth)?;
    }
    Ok(())
}

/// Files a path names: itself, or the sorted matches of a glob in its last component.
fn expand_glob(path: &Path) -> Result<Vec<PathBuf>, LoadErrorKind> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(if path.exists() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(_) => return Ok(Vec::new()),
    };
    let mut out: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| glob_match(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// `*` and `?` wildcard match.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => {
            (0..=name.len()).any(|i| glob_match(rest, name.get(i..).unwrap_or_default()))
        }
        Some((b'?', rest)) => name.split_first().is_some_and(|(_, n)| glob_match(rest, n)),
        Some((c, rest)) => name
            .split_first()
            .is_some_and(|(d, n)| c == d && glob_match(rest, n)),
    }
}

/// Loads rules text; `name` is the file (for errors, includes and data files).
pub(crate) fn load_source(
    b: &mut RulesetBuilder,
    src: &str,
    name: &Path,
    depth: usize,
) -> Result<(), LoadError> {
    let file = Arc::new(name.to_path_buf());
    let base_dir = name.parent().map(Path::to_path_buf).unwrap_or_default();
    for line in logical_lines(src) {
        let loc = Location {
            file: name.to_path_buf(),
            line: line.line,
        };
        let args = split_args(&line.text)
            .map_err(|e| LoadError::new(loc.clone(), LoadErrorKind::Syntax(e)))?;
        directive(b, &args, &loc, &file, &base_dir, depth)?;
    }
    if let Some((_, loc)) = &b.pending_chain
        && loc.file == name
    {
        return Err(LoadError::new(loc.clone(), LoadErrorKind::UnfinishedChain));
    }
    Ok(())
}

fn on_off(args: &[String], loc: &Location) -> Result<bool, LoadError> {
    match args.get(1).map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        _ => Err(arg_err(args, loc, "On or Off")),
    }
}

fn arg_err(args: &[String], loc: &Location, expected: &'static str) -> LoadError {
    LoadError::new(
        loc.clone(),
        LoadErrorKind::Arguments {
            directive: args.first().cloned().unwrap_or_default(),
            expected,
        },
    )
}

fn number(args: &[String], loc: &Location) -> Result<usize, LoadError> {
    args.get(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| arg_err(args, loc, "a number"))
}

fn directive(
    b: &mut RulesetBuilder,
    args: &[String],
    loc: &Location,
    file: &Arc<PathBuf>,
    base_dir: &Path,
    depth: usize,
) -> Result<(), LoadError> {
    let at = |kind| LoadError::new(loc.clone(), kind);
    let Some(name) = args.first() else {
        return Ok(());
    };
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "secrule" | "secaction" => {
            let is_rule = lower == "secrule";
            let (targets, operator, actions) = if is_rule {
                if !(3..=4).contains(&args.len()) {
                    return Err(arg_err(args, loc, "VARIABLES OPERATOR [ACTIONS]"));
                }
                (
                    args.get(1).map(String::as_str),
                    args.get(2).map(String::as_str),
                    args.get(3),
                )
            } else {
                if args.len() != 2 {
                    return Err(arg_err(args, loc, "ACTIONS"));
                }
                (None, None, args.get(1))
            };
            let actions = parse_actions(actions.map(String::as_str).unwrap_or("")).map_err(at)?;
            let parent_phase = b.pending_chain.as_ref().map(|(r, _)| r.phase);
            let mut stats = b.stats;
            let rule = build_rule(
                RuleSource {
                    targets,
                    operator,
                    actions,
                    parent_phase,
                    file: file.clone(),
                    line: loc.line,
                },
                &b.defaults,
                base_dir,
                b.settings.backtrack_limit,
                &mut stats,
            )
            .map_err(at)?;
            b.stats = stats;
            let continues = rule.chain;
            match b.pending_chain.take() {
                Some((mut starter, start_loc)) => {
                    starter.last_link_mut().chained = Some(Box::new(rule));
                    if continues {
                        b.pending_chain = Some((starter, start_loc));
                    } else {
                        b.push_rule(*starter, &start_loc)?;
                    }
                }
                None => {
                    if continues {
                        b.pending_chain = Some((Box::new(rule), loc.clone()));
                    } else {
                        b.push_rule(rule, loc)?;
                    }
                }
            }
        }
        "secmarker" => {
            let m = args
                .get(1)
                .ok_or_else(|| arg_err(args, loc, "a marker name"))?;
            b.entries.push(BuildEntry::Marker(m.clone()));
        }
        "secdefaultaction" => {
            let text = args.get(1).ok_or_else(|| arg_err(args, loc, "ACTIONS"))?;
            let actions = parse_actions(text).map_err(at)?;
            let mut d = Defaults::default();
            let mut phase = None;
            for a in actions {
                match a {
                    actions::Action::Phase(p) => phase = Some(p),
                    actions::Action::Disruptive(x) => d.disruptive = x,
                    actions::Action::Log => d.log = true,
                    actions::Action::NoLog => d.log = false,
                    actions::Action::Transform(None) => d.transforms.clear(),
                    actions::Action::Transform(Some(t)) => d.transforms.push(t),
                    actions::Action::Status(s) => d.status = Some(s),
                    actions::Action::AuditLog
                    | actions::Action::NoAuditLog
                    | actions::Action::Meta => {}
                    actions::Action::Tag(_)
                    | actions::Action::Msg(_)
                    | actions::Action::Severity(_) => {}
                    _ => {
                        return Err(at(LoadErrorKind::Rule(
                            "SecDefaultAction takes only phase, disruptive, log and t: actions"
                                .into(),
                        )));
                    }
                }
            }
            let p = phase
                .ok_or_else(|| at(LoadErrorKind::Rule("SecDefaultAction needs a phase".into())))?;
            if matches!(d.disruptive, actions::Disruptive::Block) {
                return Err(at(LoadErrorKind::Rule(
                    "SecDefaultAction cannot use block".into(),
                )));
            }
            if let Some(slot) = b.defaults.get_mut(usize::from(p - 1)) {
                *slot = d;
            }
        }
        "secruleremovebyid" => {
            let mut ranges = Vec::new();
            for a in args.iter().skip(1) {
                for part in a.split([' ', ',']).filter(|x| !x.is_empty()) {
                    ranges.push(
                        IdRange::parse(part)
                            .ok_or_else(|| arg_err(args, loc, "rule ids or ranges"))?,
                    );
                }
            }
            b.remove_by_id(&ranges);
        }
        "secruleremovebytag" | "secruleremovebymsg" => {
            let pattern = args.get(1).ok_or_else(|| arg_err(args, loc, "a regex"))?;
            let re = regex::bytes::Regex::new(pattern)
                .map_err(|e| at(LoadErrorKind::Syntax(format!("bad regex: {e}"))))?;
            if lower == "secruleremovebytag" {
                b.remove_where(|r| r.has_tag_matching(&re));
            } else {
                b.remove_where(|r| {
                    r.msg
                        .as_ref()
                        .and_then(|m| m.literal())
                        .is_some_and(|m| re.is_match(m.as_bytes()))
                });
            }
        }
        "secruleupdatetargetbyid" | "secruleupdatetargetbytag" | "secruleupdatetargetbymsg" => {
            let (Some(sel), Some(targets)) = (args.get(1), args.get(2)) else {
                return Err(arg_err(args, loc, "ID|TAG TARGETS [REPLACED]"));
            };
            let replaced = args.get(3).map(String::as_str);
            let n = if lower.ends_with("byid") {
                let range = IdRange::parse(sel).ok_or_else(|| arg_err(args, loc, "a rule id"))?;
                let n = b
                    .update_targets(|r| range.contains(r.id), targets, replaced)
                    .map_err(at)?;
                if n == 0 {
                    return Err(at(LoadErrorKind::UnknownRuleId(range.start)));
                }
                n
            } else {
                let re = regex::bytes::Regex::new(sel)
                    .map_err(|e| at(LoadErrorKind::Syntax(format!("bad regex: {e}"))))?;
                if lower.ends_with("bytag") {
                    b.update_targets(|r| r.has_tag_matching(&re), targets, replaced)
                        .map_err(at)?
                } else {
                    b.update_targets(
                        |r| {
                            r.msg
                                .as_ref()
                                .and_then(|m| m.literal())
                                .is_some_and(|m| re.is_match(m.as_bytes()))
                        },
                        targets,
                        replaced,
                    )
                    .map_err(at)?
                }
            };
            let _ = n;
        }
        "secruleupdateactionbyid" => {
            let (Some(id), Some(actions)) = (args.get(1), args.get(2)) else {
                return Err(arg_err(args, loc, "ID ACTIONS"));
            };
            let range = IdRange::parse(id).ok_or_else(|| arg_err(args, loc, "a rule id"))?;
            if b.update_actions(range, actions).map_err(at)? == 0 {
                return Err(at(LoadErrorKind::UnknownRuleId(range.start)));
            }
        }
        "include" | "includeoptional" => {
            let target = args.get(1).ok_or_else(|| arg_err(args, loc, "a path"))?;
            let p = Path::new(target);
            let full = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            };
            load_path(b, &full, Some(loc), lower == "includeoptional", depth + 1)?;
        }
        "seccomponentsignature" => {
            let s = args
                .get(1)
                .ok_or_else(|| arg_err(args, loc, "a signature"))?;
            b.settings.component_signatures.push(s.clone());
        }
        "secruleengine" => {
            b.settings.engine = args
                .get(1)
                .and_then(|s| EngineMode::parse(s))
                .ok_or_else(|| arg_err(args, loc, "On, Off or DetectionOnly"))?;
        }
        "secrequestbodyaccess" => b.settings.request_body_access = on_off(args, loc)?,
        "secresponsebodyaccess" => b.settings.response_body_access = on_off(args, loc)?,
        "secrequestbodylimit" => b.settings.request_body_limit = number(args, loc)?,
        // Version 0 cookies are what the engine parses; version 1 quoting is
        // not implemented.
        "seccookieformat" => {
            if args.get(1).map(String::as_str) != Some("0") {
                return Err(arg_err(
                    args,
                    loc,
                    "0 (version 1 cookies are not supported)",
                ));
            }
        }
        "secrequestbodynofileslimit" => {
            b.settings.request_body_no_files_limit = number(args, loc)?;
        }
        "secresponsebodylimit" => b.settings.response_body_limit = number(args, loc)?,
        "secresponsebodylimitaction" => {
            b.settings.response_body_limit_action = args
                .get(1)
                .and_then(|a| BodyLimitAction::parse(a))
                .ok_or_else(|| arg_err(args, loc, "Reject or ProcessPartial"))?;
        }
        // The gateway refuses request bodies past the limit (413) before the
        // engine sees them; inspecting a prefix of a longer request body and
        // forwarding the rest unseen is not offered.
        "secrequestbodylimitaction" => match args.get(1).and_then(|a| BodyLimitAction::parse(a)) {
            Some(BodyLimitAction::Reject) => {}
            Some(BodyLimitAction::ProcessPartial) => {
                return Err(arg_err(
                    args,
                    loc,
                    "Reject (ProcessPartial is not supported: request bodies past SecRequestBodyLimit are refused with 413)",
                ));
            }
            None => return Err(arg_err(args, loc, "Reject or ProcessPartial")),
        },
        "seccollectiontimeout" => {
            b.settings.collections.idle_timeout_secs = i64::try_from(number(args, loc)?)
                .map_err(|_| arg_err(args, loc, "a number of seconds"))?;
        }
        "secresponsebodymimetype" => {
            if args.len() < 2 {
                return Err(arg_err(args, loc, "media types"));
            }
            for a in args.iter().skip(1) {
                for t in a.split_ascii_whitespace() {
                    let t = t.to_ascii_lowercase();
                    if !b.settings.response_mime_types.contains(&t) {
                        b.settings.response_mime_types.push(t);
                    }
                }
            }
        }
        "secresponsebodymimetypesclear" => b.settings.response_mime_types.clear(),
        "secpcrematchlimit" => b.settings.backtrack_limit = number(args, loc)?,
        "secrequestbodyjsondepthlimit" => b.settings.json_depth_limit = number(args, loc)?,
        "secargumentslimit" => b.settings.arguments_limit = number(args, loc)?,
        "secargumentseparator" => {
            b.settings.argument_separator = match args.get(1).map(String::as_bytes) {
                Some([c]) => *c,
                _ => return Err(arg_err(args, loc, "one character")),
            }
        }
        "secxmlexternalentity" => {
            if on_off(args, loc)? {
                return Err(at(LoadErrorKind::Rule(
                    "external XML entities are never loaded".into(),
                )));
            }
        }
        "secunicodemapfile" => {
            // ModSecurity's recommended configuration names the map
            // (`SecUnicodeMapFile unicode.mapping 20127`), so it is not
            // refused; but no map is loaded, which must not go unsaid.
            if !(2..=3).contains(&args.len()) {
                return Err(arg_err(args, loc, "FILE [CODE_PAGE]"));
            }
            b.warnings.push(LoadWarning {
                location: loc.clone(),
                kind: LoadWarningKind::UnicodeMapFileIgnored,
            });
        }
        _ => {
            if GATEWAY_OWNED_DIRECTIVES
                .iter()
                .any(|d| d.eq_ignore_ascii_case(name))
            {
                tracing::debug!(directive = %name, at = %loc, "directive owned by the gateway; no effect");
            } else {
                return Err(at(LoadErrorKind::UnsupportedDirective(name.clone())));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
