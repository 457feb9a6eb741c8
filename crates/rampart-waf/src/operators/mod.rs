//! Operators (`@rx`, `@pm`, `@eq`, ...): one file each. An operator is compiled
//! at load from its name and argument and evaluated against one (transformed)
//! value; arguments with macros are expanded per transaction.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use crate::error::LoadErrorKind;
use crate::macros::MacroString;
use crate::services::Services;

mod begins_with;
mod compare;
mod contains;
mod contains_word;
mod detect_sqli;
mod detect_xss;
mod ends_with;
mod geo_lookup;
mod ip_match;
mod pm;
mod rbl;
pub mod rx;
mod rx_guard;
pub mod rx_translate;
mod streq;
mod validate_byte_range;
mod validate_url_encoding;
mod validate_utf8_encoding;
mod within;

pub use compare::{CompareOp, atoi as atoi_bytes};
pub use ip_match::IpList;
pub use pm::PhraseMatcher;
pub use validate_byte_range::ByteRanges;

/// Where `needle` (non-empty) first occurs in `hay`. Windows are compared
/// only when their first byte matches: a compare per window is a `memcmp`
/// call, and `@within` lists are scanned per header name.
pub(crate) fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    hay.windows(needle.len())
        .position(|w| w.first() == Some(&first) && w == needle)
}

/// What an operator needs from the running transaction.
pub trait OpEnv {
    /// Expands a macro string.
    fn expand(&self, m: &MacroString) -> Vec<u8>;
    /// The expansion of `m` borrowed from the transaction, when it is one
    /// stored value (`%{tx.restricted_headers}`): no copy per evaluation.
    /// `None` means "call [`OpEnv::expand`]".
    fn expand_borrowed(&self, _m: &MacroString) -> Option<&[u8]> {
        None
    }
    /// Outside capabilities.
    fn services(&self) -> &Services;
    /// The transaction's memo of injection verdicts, if it keeps one.
    fn injection_memo(&self) -> Option<&std::cell::RefCell<crate::services::InjectionMemo>> {
        None
    }
    /// Fills the GEO collection after a successful `@geoLookup`.
    fn set_geo(&self, fields: Vec<(String, String)>);
    /// A regex search stopped at its backtracking limit, undecided.
    fn note_match_limit_exceeded(&self) {}
}

/// Captures of a match: index 0 is the whole match, 1..=9 the groups.
pub type Captures = Vec<Option<Vec<u8>>>;

/// An operator argument: fixed, or expanded per transaction.
#[derive(Debug, Clone)]
pub enum Arg {
    /// No macros.
    Static(Vec<u8>),
    /// Contains `%{...}`.
    Dynamic(MacroString),
}

impl Arg {
    /// Parses an argument.
    pub fn parse(text: &str) -> Self {
        let m = MacroString::parse(text);
        match m.literal() {
            Some(lit) => Arg::Static(lit.into_bytes()),
            None => Arg::Dynamic(m),
        }
    }

    /// The value for this transaction.
    pub fn resolve<'a>(&'a self, env: &'a dyn OpEnv) -> Cow<'a, [u8]> {
        match self {
            Arg::Static(v) => Cow::Borrowed(v),
            Arg::Dynamic(m) => match env.expand_borrowed(m) {
                Some(v) => Cow::Borrowed(v),
                None => Cow::Owned(env.expand(m)),
            },
        }
    }
}

/// A compiled operator.
#[derive(Debug, Clone)]
pub enum Operator {
    /// `@rx` with a fixed pattern.
    Rx(Arc<rx::Compiled>),
    /// `@rx` whose pattern has macros.
    RxDynamic(Arc<rx::DynamicRx>),
    /// `@pm`, `@pmFromFile`, `@pmf`.
    Pm(Arc<PhraseMatcher>),
    /// `@within`.
    Within(Arg),
    /// `@streq`.
    StrEq(Arg),
    /// `@beginsWith`.
    BeginsWith(Arg),
    /// `@endsWith`.
    EndsWith(Arg),
    /// `@contains` (and `@strmatch`).
    Contains(Arg),
    /// `@containsWord`.
    ContainsWord(Arg),
    /// `@eq`, `@ge`, `@gt`, `@le`, `@lt`.
    Compare(CompareOp, Arg),
    /// `@ipMatch`, `@ipMatchFromFile`.
    IpMatch(Arc<IpList>),
    /// `@validateByteRange`.
    ValidateByteRange(Arc<ByteRanges>),
    /// `@validateUrlEncoding`.
    ValidateUrlEncoding,
    /// `@validateUtf8Encoding`.
    ValidateUtf8Encoding,
    /// `@detectSQLi`.
    DetectSqli,
    /// `@detectXSS`.
    DetectXss,
    /// `@unconditionalMatch` (and `SecAction`).
    Unconditional,
    /// `@noMatch`.
    NoMatch,
    /// `@geoLookup`.
    GeoLookup,
    /// `@rbl`.
    Rbl(String),
}

/// Statistics gathered while compiling operators.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileStats {
    /// `@rx` patterns that needed the backtracking fallback.
    pub rx_fallbacks: usize,
}

/// Compiles `@name arg`. `base_dir` resolves data files.
pub fn compile(
    name: &str,
    arg: &str,
    base_dir: &Path,
    backtrack_limit: usize,
    stats: &mut CompileStats,
) -> Result<Operator, LoadErrorKind> {
    let bad = |reason: String| LoadErrorKind::OperatorArgument {
        operator: name.to_string(),
        reason,
    };
    let op = match name.to_ascii_lowercase().as_str() {
        "rx" => {
            let m = MacroString::parse(arg);
            if m.has_macros() {
                Operator::RxDynamic(Arc::new(rx::DynamicRx::new(m, backtrack_limit)))
            } else {
                let compiled = rx::Compiled::new(arg, backtrack_limit).map_err(bad)?;
                if compiled.is_fallback() {
                    stats.rx_fallbacks += 1;
                }
                Operator::Rx(Arc::new(compiled))
            }
        }
        "pm" => Operator::Pm(Arc::new(PhraseMatcher::from_phrases(arg).map_err(bad)?)),
        "pmfromfile" | "pmf" => Operator::Pm(Arc::new(
            PhraseMatcher::from_files(arg, base_dir).map_err(bad)?,
        )),
        "within" => Operator::Within(Arg::parse(arg)),
        "streq" => Operator::StrEq(Arg::parse(arg)),
        "beginswith" => Operator::BeginsWith(Arg::parse(arg)),
        "endswith" => Operator::EndsWith(Arg::parse(arg)),
        "contains" | "strmatch" => Operator::Contains(Arg::parse(arg)),
        "containsword" => Operator::ContainsWord(Arg::parse(arg)),
        "eq" => Operator::Compare(CompareOp::Eq, Arg::parse(arg)),
        "ge" => Operator::Compare(CompareOp::Ge, Arg::parse(arg)),
        "gt" => Operator::Compare(CompareOp::Gt, Arg::parse(arg)),
        "le" => Operator::Compare(CompareOp::Le, Arg::parse(arg)),
        "lt" => Operator::Compare(CompareOp::Lt, Arg::parse(arg)),
        "ipmatch" => Operator::IpMatch(Arc::new(IpList::parse(arg).map_err(bad)?)),
        "ipmatchfromfile" | "ipmatchf" => {
            Operator::IpMatch(Arc::new(IpList::from_files(arg, base_dir).map_err(bad)?))
        }
        "validatebyterange" => {
            Operator::ValidateByteRange(Arc::new(ByteRanges::parse(arg).map_err(bad)?))
        }
        "validateurlencoding" => Operator::ValidateUrlEncoding,
        "validateutf8encoding" => Operator::ValidateUtf8Encoding,
        "detectsqli" => Operator::DetectSqli,
        "detectxss" => Operator::DetectXss,
        "unconditionalmatch" => Operator::Unconditional,
        "nomatch" => Operator::NoMatch,
        "geolookup" => Operator::GeoLookup,
        "rbl" => Operator::Rbl(arg.trim().to_string()),
        _ => return Err(LoadErrorKind::UnsupportedOperator(name.to_string())),
    };
    Ok(op)
}

/// `@rx` on one value; a search over the backtracking limit is no match, told
/// to the transaction.
fn rx_eval(env: &dyn OpEnv, re: &rx::Compiled, value: &[u8], capture: bool) -> Option<Captures> {
    re.matches_within_limit(value, capture).unwrap_or_else(|_| {
        env.note_match_limit_exceeded();
        None
    })
}

impl Operator {
    /// Evaluates against one value: `Some(captures)` on a match (before any
    /// negation; captures are filled only when `capture` is set).
    pub fn eval(&self, env: &dyn OpEnv, value: &[u8], capture: bool) -> Option<Captures> {
        let yes = |b: bool| b.then(Vec::new);
        match self {
            Operator::Rx(re) => rx_eval(env, re, value, capture),
            Operator::RxDynamic(d) => {
                let pattern = match env.expand_borrowed(&d.template) {
                    Some(p) => Cow::Borrowed(p),
                    None => Cow::Owned(env.expand(&d.template)),
                };
                rx_eval(env, &*d.get(&pattern)?, value, capture)
            }
            Operator::Pm(pm) => pm.find(value).map(|hit| {
                if capture {
                    vec![Some(hit.to_vec())]
                } else {
                    Vec::new()
                }
            }),
            Operator::Within(a) => yes(within::matches(value, &a.resolve(env))),
            Operator::StrEq(a) => yes(streq::matches(value, &a.resolve(env))),
            Operator::BeginsWith(a) => yes(begins_with::matches(value, &a.resolve(env))),
            Operator::EndsWith(a) => yes(ends_with::matches(value, &a.resolve(env))),
            Operator::Contains(a) => yes(contains::matches(value, &a.resolve(env))),
            Operator::ContainsWord(a) => yes(contains_word::matches(value, &a.resolve(env))),
            Operator::Compare(op, a) => yes(op.matches(value, &a.resolve(env))),
            Operator::IpMatch(list) => yes(list.matches(value)),
            Operator::ValidateByteRange(ranges) => yes(ranges.violates(value)),
            Operator::ValidateUrlEncoding => yes(validate_url_encoding::invalid(value)),
            Operator::ValidateUtf8Encoding => yes(validate_utf8_encoding::invalid(value)),
            Operator::DetectSqli => detect_sqli::eval(env, value, capture),
            Operator::DetectXss => yes(detect_xss::eval(env, value)),
            Operator::Unconditional => Some(Vec::new()),
            Operator::NoMatch => None,
            Operator::GeoLookup => yes(geo_lookup::eval(env, value)),
            Operator::Rbl(zone) => yes(rbl::eval(env.services(), zone, value)),
        }
    }

    /// The compiled regex behind `@rx`, for prefiltering.
    pub fn static_regex(&self) -> Option<&rx::Compiled> {
        match self {
            Operator::Rx(re) => Some(re),
            _ => None,
        }
    }
}
