//! Rule actions: `"id:1,phase:2,deny,t:lowercase,setvar:'tx.x=+1',ctl:..."`.

use std::sync::Arc;

use regex::bytes::{Regex, RegexBuilder};

use super::targets::{Exclusion, parse_targets};
use crate::error::LoadErrorKind;
use crate::macros::MacroString;
use crate::transformations::Transform;

/// What a rule does to the transaction when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disruptive {
    /// Continue.
    Pass,
    /// Use the phase's default disruptive action (`SecDefaultAction`).
    Block,
    /// Stop with an error status.
    Deny,
    /// Stop and close the connection (the gateway answers like `deny`).
    Drop,
    /// Stop evaluating rules.
    Allow(AllowScope),
    /// Answer with a redirect to this URL.
    Redirect(String),
}

/// How far `allow` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowScope {
    /// All remaining request and response phases (not logging).
    All,
    /// The rest of the current phase.
    Phase,
    /// The rest of the request phases.
    Request,
}

/// An inclusive range of rule ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id.
    pub start: u64,
    /// Last id.
    pub end: u64,
}

impl IdRange {
    /// Whether `id` is in the range.
    pub fn contains(&self, id: u64) -> bool {
        (self.start..=self.end).contains(&id)
    }

    /// Parses `123` or `100-200`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().trim_matches(['"', '\'']);
        match s.split_once('-') {
            Some((a, b)) => {
                let (start, end) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                (start <= end).then_some(IdRange { start, end })
            }
            None => s.parse().ok().map(|id| IdRange { start: id, end: id }),
        }
    }
}

/// How the rule engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    /// Rules run and disruptive actions take effect.
    On,
    /// Rules do not run.
    Off,
    /// Rules run; disruptive actions are only recorded.
    DetectionOnly,
}

impl EngineMode {
    /// Parses `On`, `Off`, `DetectionOnly`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "on" => Some(EngineMode::On),
            "off" => Some(EngineMode::Off),
            "detectiononly" => Some(EngineMode::DetectionOnly),
            _ => None,
        }
    }
}

/// Request body processors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyProcessor {
    /// `application/x-www-form-urlencoded`.
    Urlencoded,
    /// `multipart/form-data`.
    Multipart,
    /// XML.
    Xml,
    /// JSON.
    Json,
}

impl BodyProcessor {
    /// Parses a processor name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "URLENCODED" => Some(BodyProcessor::Urlencoded),
            "MULTIPART" => Some(BodyProcessor::Multipart),
            "XML" => Some(BodyProcessor::Xml),
            "JSON" => Some(BodyProcessor::Json),
            _ => None,
        }
    }

    /// The name REQBODY_PROCESSOR shows.
    pub fn name(self) -> &'static str {
        match self {
            BodyProcessor::Urlencoded => "URLENCODED",
            BodyProcessor::Multipart => "MULTIPART",
            BodyProcessor::Xml => "XML",
            BodyProcessor::Json => "JSON",
        }
    }
}

/// `ctl:` actions: per-transaction configuration changes.
#[derive(Debug, Clone)]
pub enum Ctl {
    /// `ruleRemoveById`.
    RuleRemoveById(Vec<IdRange>),
    /// `ruleRemoveByTag` (the tag is a regex, as in ModSecurity).
    RuleRemoveByTag(Arc<Regex>),
    /// `ruleRemoveTargetById=ID;TARGET`.
    RuleRemoveTargetById(Vec<IdRange>, Exclusion),
    /// `ruleRemoveTargetByTag=TAG;TARGET`.
    RuleRemoveTargetByTag(Arc<Regex>, Exclusion),
    /// `ruleEngine`.
    RuleEngine(EngineMode),
    /// `requestBodyAccess`.
    RequestBodyAccess(bool),
    /// `requestBodyProcessor`.
    RequestBodyProcessor(BodyProcessor),
    /// `forceRequestBodyVariable` (REQUEST_BODY is always available here).
    ForceRequestBodyVariable(bool),
    /// `auditEngine`, `auditLogParts`, `debugLogLevel`: auditing belongs to the
    /// gateway, so these change nothing.
    AuditOnly(&'static str),
}

/// Operation of a `setvar`.
#[derive(Debug, Clone)]
pub enum SetVarOp {
    /// `name=value`.
    Set(MacroString),
    /// `name=+value`.
    Add(MacroString),
    /// `name=-value`.
    Sub(MacroString),
    /// `!name`.
    Delete,
}

/// `setvar:collection.name=value`.
#[derive(Debug, Clone)]
pub struct SetVar {
    /// Collection, lower-case (`tx`, `ip`, ...).
    pub collection: String,
    /// Variable name (may hold macros).
    pub name: MacroString,
    /// What to do.
    pub op: SetVarOp,
}

/// `expirevar:col.name=secs` or `deprecatevar:col.name=amount/secs`.
#[derive(Debug, Clone)]
pub struct VarTimer {
    /// Collection, lower-case.
    pub collection: String,
    /// Variable name (may hold macros).
    pub name: MacroString,
    /// `secs` or `amount/secs` (may hold macros).
    pub value: MacroString,
}

/// One parsed action.
#[derive(Debug, Clone)]
pub enum Action {
    /// `id`.
    Id(u64),
    /// `phase`.
    Phase(u8),
    /// `msg`.
    Msg(MacroString),
    /// `logdata`.
    LogData(MacroString),
    /// `tag`.
    Tag(String),
    /// `severity`, as a number 0..=7.
    Severity(u8),
    /// `ver`, `rev`, `maturity`, `accuracy`: metadata without effect.
    Meta,
    /// `chain`.
    Chain,
    /// `t:name`; `None` is `t:none`.
    Transform(Option<Transform>),
    /// `setvar`.
    SetVar(SetVar),
    /// `capture`.
    Capture,
    /// `multiMatch`.
    MultiMatch,
    /// `log`.
    Log,
    /// `nolog`.
    NoLog,
    /// `auditlog`.
    AuditLog,
    /// `noauditlog`.
    NoAuditLog,
    /// A disruptive action.
    Disruptive(Disruptive),
    /// `skipAfter`.
    SkipAfter(String),
    /// `skip`.
    Skip(u32),
    /// `ctl`.
    Ctl(Ctl),
    /// `initcol:collection=key` (collection lower-case, key may hold macros).
    InitCol(String, MacroString),
    /// `expirevar:collection.name=seconds`.
    ExpireVar(VarTimer),
    /// `deprecatevar:collection.name=amount/seconds`.
    DeprecateVar(VarTimer),
    /// `status`.
    Status(u16),
    /// `setenv:name=value`.
    SetEnv(String, MacroString),
}

/// Parses an action list.
pub fn parse_actions(text: &str) -> Result<Vec<Action>, LoadErrorKind> {
    split_actions(text)
        .into_iter()
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, value)| parse_action(&name, value.as_deref()))
        .collect()
}

/// Splits on `,` outside single quotes; each item is `name` or `name:value`
/// (a value wrapped in single quotes is unwrapped).
fn split_actions(text: &str) -> Vec<(String, Option<String>)> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                if let Some(&n) = chars.peek()
                    && n == '\''
                {
                    current.push(n);
                    chars.next();
                    continue;
                }
                current.push(c);
            }
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|item| {
            let item = item.trim();
            match item.split_once(':') {
                Some((n, v)) => {
                    let v = v.trim();
                    let v = v
                        .strip_prefix('\'')
                        .and_then(|x| x.strip_suffix('\''))
                        .unwrap_or(v);
                    (n.trim().to_string(), Some(v.to_string()))
                }
                None => (item.to_string(), None),
            }
        })
        .collect()
}

fn parse_action(name: &str, value: Option<&str>) -> Result<Action, LoadErrorKind> {
    let bad = |reason: &str| LoadErrorKind::ActionArgument {
        action: name.to_string(),
        reason: reason.to_string(),
    };
    let need = || value.ok_or_else(|| bad("missing value"));
    let action = match name.to_ascii_lowercase().as_str() {
        "id" => Action::Id(need()?.trim().parse().map_err(|_| bad("not a number"))?),
        "phase" => Action::Phase(match need()?.trim().to_ascii_lowercase().as_str() {
            "request" => 2,
            "response" => 4,
            "logging" => 5,
            n => match n.parse::<u8>() {
                Ok(p @ 1..=5) => p,
                _ => return Err(bad("phase must be 1-5")),
            },
        }),
        "msg" => Action::Msg(MacroString::parse(need()?)),
        "logdata" => Action::LogData(MacroString::parse(need()?)),
        "tag" => Action::Tag(need()?.to_string()),
        "severity" => {
            Action::Severity(parse_severity(need()?).ok_or_else(|| bad("unknown severity"))?)
        }
        "ver" | "rev" | "maturity" | "accuracy" => Action::Meta,
        "chain" => Action::Chain,
        "t" => {
            let v = need()?;
            if v.eq_ignore_ascii_case("none") {
                Action::Transform(None)
            } else {
                Action::Transform(Some(
                    Transform::from_name(v)
                        .ok_or_else(|| LoadErrorKind::UnsupportedTransformation(v.to_string()))?,
                ))
            }
        }
        "setvar" => Action::SetVar(
            parse_setvar(need()?).ok_or_else(|| bad("expected collection.name[=value]"))?,
        ),
        "capture" => Action::Capture,
        "multimatch" => Action::MultiMatch,
        "log" => Action::Log,
        "nolog" => Action::NoLog,
        "auditlog" => Action::AuditLog,
        "noauditlog" => Action::NoAuditLog,
        "pass" => Action::Disruptive(Disruptive::Pass),
        "block" => Action::Disruptive(Disruptive::Block),
        "deny" => Action::Disruptive(Disruptive::Deny),
        "drop" => Action::Disruptive(Disruptive::Drop),
        "allow" => Action::Disruptive(Disruptive::Allow(
            match value.map(str::to_ascii_lowercase).as_deref() {
                None => AllowScope::All,
                Some("phase") => AllowScope::Phase,
                Some("request") => AllowScope::Request,
                Some(_) => return Err(bad("expected phase or request")),
            },
        )),
        "redirect" => Action::Disruptive(Disruptive::Redirect(need()?.to_string())),
        "skipafter" => Action::SkipAfter(need()?.trim().to_string()),
        "skip" => Action::Skip(need()?.trim().parse().map_err(|_| bad("not a number"))?),
        "ctl" => Action::Ctl(parse_ctl(need()?)?),
        "initcol" => {
            let v = need()?;
            let (col, key) = v
                .split_once('=')
                .ok_or_else(|| bad("expected collection=key"))?;
            let col = col.trim().to_ascii_lowercase();
            if matches!(col.as_str(), "tx" | "env" | "geo" | "rule") || col.is_empty() {
                return Err(bad("not a persistent collection"));
            }
            Action::InitCol(col, MacroString::parse(key.trim()))
        }
        "setsid" => Action::InitCol("session".into(), MacroString::parse(need()?.trim())),
        "setuid" => Action::InitCol("user".into(), MacroString::parse(need()?.trim())),
        "expirevar" => Action::ExpireVar(
            parse_timer(need()?).ok_or_else(|| bad("expected collection.name=seconds"))?,
        ),
        "deprecatevar" => Action::DeprecateVar(
            parse_timer(need()?)
                .filter(|t| t.value.literal().is_none_or(|v| v.contains('/')))
                .ok_or_else(|| bad("expected collection.name=amount/seconds"))?,
        ),
        "status" => Action::Status(need()?.trim().parse().map_err(|_| bad("not a status"))?),
        "setenv" => {
            let v = need()?;
            let (n, val) = v.split_once('=').unwrap_or((v, "1"));
            Action::SetEnv(n.trim().to_ascii_lowercase(), MacroString::parse(val))
        }
        _ => return Err(LoadErrorKind::UnsupportedAction(name.to_string())),
    };
    Ok(action)
}

fn parse_severity(v: &str) -> Option<u8> {
    const NAMES: [&str; 8] = [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ];
    let v = v.trim();
    if let Ok(n) = v.parse::<u8>() {
        return (n < 8).then_some(n);
    }
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(v))
        .and_then(|p| u8::try_from(p).ok())
}

fn parse_setvar(v: &str) -> Option<SetVar> {
    let v = v.trim();
    let (delete, v) = match v.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (lhs, rhs) = match v.split_once('=') {
        Some((l, r)) => (l, Some(r)),
        None => (v, None),
    };
    let (collection, name) = lhs.trim().split_once('.')?;
    if name.is_empty() {
        return None;
    }
    let op = if delete {
        SetVarOp::Delete
    } else {
        match rhs {
            None => SetVarOp::Set(MacroString::parse("1")),
            Some(r) => {
                if let Some(n) = r.strip_prefix('+') {
                    SetVarOp::Add(MacroString::parse(n))
                } else if let Some(n) = r.strip_prefix('-') {
                    SetVarOp::Sub(MacroString::parse(n))
                } else {
                    SetVarOp::Set(MacroString::parse(r))
                }
            }
        }
    };
    Some(SetVar {
        collection: collection.to_ascii_lowercase(),
        name: MacroString::parse(name),
        op,
    })
}

fn parse_timer(v: &str) -> Option<VarTimer> {
    let (lhs, rhs) = v.trim().split_once('=')?;
    let (collection, name) = lhs.trim().split_once('.')?;
    if name.is_empty() || rhs.trim().is_empty() {
        return None;
    }
    Some(VarTimer {
        collection: collection.to_ascii_lowercase(),
        name: MacroString::parse(name),
        value: MacroString::parse(rhs.trim()),
    })
}

fn tag_regex(tag: &str) -> Result<Arc<Regex>, String> {
    RegexBuilder::new(tag)
        .unicode(false)
        .build()
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

fn parse_ctl(v: &str) -> Result<Ctl, LoadErrorKind> {
    let bad = |reason: String| LoadErrorKind::ActionArgument {
        action: "ctl".into(),
        reason,
    };
    let (name, arg) = v
        .split_once('=')
        .ok_or_else(|| bad(format!("expected name=value in {v}")))?;
    let arg = arg.trim();
    let ids = |s: &str| -> Result<Vec<IdRange>, LoadErrorKind> {
        s.split([' ', ','])
            .filter(|x| !x.is_empty())
            .map(|x| IdRange::parse(x).ok_or_else(|| bad(format!("bad rule id {x}"))))
            .collect()
    };
    let exclusion = |s: &str| -> Result<Exclusion, LoadErrorKind> {
        let list = parse_targets(s).map_err(|(t, r)| bad(format!("{t}: {r}")))?;
        list.targets
            .into_iter()
            .next()
            .map(|t| Exclusion {
                var: t.var,
                selector: t.selector,
            })
            .ok_or_else(|| bad(format!("no target in {s}")))
    };
    let on_off = |s: &str| match s.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(bad(format!("expected On or Off, got {s}"))),
    };
    let ctl = match name.trim().to_ascii_lowercase().as_str() {
        "ruleremovebyid" => Ctl::RuleRemoveById(ids(arg)?),
        "ruleremovebytag" => Ctl::RuleRemoveByTag(tag_regex(arg).map_err(bad)?),
        "ruleremovetargetbyid" => {
            let (i, t) = arg
                .split_once(';')
                .ok_or_else(|| bad("expected ID;TARGET".into()))?;
            Ctl::RuleRemoveTargetById(ids(i)?, exclusion(t)?)
        }
        "ruleremovetargetbytag" => {
            let (g, t) = arg
                .split_once(';')
                .ok_or_else(|| bad("expected TAG;TARGET".into()))?;
            Ctl::RuleRemoveTargetByTag(tag_regex(g).map_err(bad)?, exclusion(t)?)
        }
        "ruleengine" => Ctl::RuleEngine(
            EngineMode::parse(arg).ok_or_else(|| bad(format!("bad engine mode {arg}")))?,
        ),
        "requestbodyaccess" => Ctl::RequestBodyAccess(on_off(arg)?),
        "requestbodyprocessor" => Ctl::RequestBodyProcessor(
            BodyProcessor::parse(arg)
                .ok_or_else(|| bad(format!("unknown body processor {arg}")))?,
        ),
        "forcerequestbodyvariable" => Ctl::ForceRequestBodyVariable(on_off(arg)?),
        "auditengine" => Ctl::AuditOnly("auditEngine"),
        "auditlogparts" => Ctl::AuditOnly("auditLogParts"),
        "debugloglevel" => Ctl::AuditOnly("debugLogLevel"),
        other => return Err(bad(format!("unsupported ctl {other}"))),
    };
    Ok(ctl)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_crs_style_actions() {
        let actions = parse_actions(
            "id:942100,phase:2,block,capture,t:none,t:utf8toUnicode,msg:'SQL Injection, detected',\
             severity:'CRITICAL',setvar:'tx.sql_injection_score=+%{tx.critical_anomaly_score}',\
             ctl:ruleRemoveTargetById=942100;ARGS:pwd,tag:'a,b',ver:'OWASP_CRS/3.3.4'",
        )
        .unwrap();
        assert!(matches!(actions[0], Action::Id(942100)));
        assert!(matches!(actions[1], Action::Phase(2)));
        assert!(matches!(actions[2], Action::Disruptive(Disruptive::Block)));
        assert!(matches!(actions[4], Action::Transform(None)));
        assert!(matches!(
            actions[5],
            Action::Transform(Some(Transform::Utf8ToUnicode))
        ));
        assert!(
            matches!(&actions[6], Action::Msg(m) if m.literal().unwrap() == "SQL Injection, detected")
        );
        assert!(matches!(actions[7], Action::Severity(2)));
        assert!(
            matches!(&actions[8], Action::SetVar(s) if s.collection == "tx" && matches!(s.op, SetVarOp::Add(_)))
        );
        assert!(
            matches!(&actions[9], Action::Ctl(Ctl::RuleRemoveTargetById(ids, _)) if ids[0].start == 942100)
        );
        assert!(matches!(&actions[10], Action::Tag(t) if t == "a,b"));
    }

    #[test]
    fn rejects_unknown_actions_and_transformations() {
        assert!(matches!(
            parse_actions("id:1,exec:/bin/sh"),
            Err(LoadErrorKind::UnsupportedAction(_))
        ));
        assert!(matches!(
            parse_actions("t:md4"),
            Err(LoadErrorKind::UnsupportedTransformation(_))
        ));
        assert!(parse_actions("phase:9").is_err());
        assert!(parse_actions("ctl:bogus=1").is_err());
    }

    #[test]
    fn id_ranges() {
        assert!(IdRange::parse("100-200").unwrap().contains(150));
        assert!(IdRange::parse("200-100").is_none());
        assert_eq!(IdRange::parse("7").unwrap().end, 7);
    }
}
