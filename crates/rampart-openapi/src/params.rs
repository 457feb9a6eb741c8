//! Parameters: path, query, header and cookie values decoded per `style`/`explode`,
//! coerced to the schema's type and validated with the compiled schema.
//!
//! Supported forms: `simple` (path, header), `form` exploded and not (query, cookie),
//! `spaceDelimited`, `pipeDelimited`, `deepObject` (query), `label` and `matrix` (path).
//! A scalar query parameter given twice is refused (parameter pollution: the gateway
//! and the upstream could read different values); so is a scalar or JSON header on
//! several lines, while the lines of an array or object header are joined with
//! `, ` (as the upstream reads them) and checked as one list. A query key
//! `name[…]` (brackets raw or percent-encoded) is parameter `name` to qs, Rack and
//! PHP: refused unless `name` is a `deepObject` and the key is `name[member]`, or
//! an exploded `form` array and the key is `name[]` (its items, never beside `name`), and
//! a `deepObject` whose schema names properties is closed as a body's is (its
//! undeclared members follow `undeclared_properties`). A key that is a declared
//! query parameter to some upstream but spelt otherwise (`[email][$ne]` to qs and
//! Rack 2, `+limit` or `user.id` for `user_id` to PHP) is refused (`spelling`).
//! A key naming a parameter in another letter case (`LIMIT`) is that parameter,
//! as ASP.NET binds it: checked with it, and a second value beside it.
//! A raw `;` in a query the
//! operation checks is refused (some servers split pairs at it). More than 256 query
//! pairs, cookies, list items or object members is refused (`max-parameters`),
//! never cut short: what is past a cut would reach the upstream unchecked.

use std::borrow::Cow;
use std::collections::HashMap;

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::problems::{Failure, In, push_schema_failures, push_segment};

/// The rule of a query key that names a declared parameter under another
/// spelling than the spec's (see [`base_names`]).
pub const SPELLING: &str = "spelling";

/// Most query pairs accepted.
pub const MAX_QUERY_PAIRS: usize = 256;

/// The primitive type a raw string is coerced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// Kept as a string.
    String,
    /// A signed integer.
    Integer,
    /// A finite number.
    Number,
    /// `true` / `false`.
    Boolean,
}

/// The parameter's shape after decoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// One value.
    Scalar(Scalar),
    /// A list of values.
    Array(Scalar),
    /// Named members.
    Object(HashMap<String, Scalar>),
    /// A JSON document (a `content: {application/json: ...}` parameter), parsed
    /// within [`crate::json::JsonLimits`]' defaults.
    Json,
}

/// Serialization style (OpenAPI `style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `a,b,c`.
    Simple,
    /// `name=a&name=b` or `name=a,b`.
    Form,
    /// `a b c`.
    SpaceDelimited,
    /// `a|b|c`.
    PipeDelimited,
    /// `name[key]=v`.
    DeepObject,
    /// `.a.b` / `.a,b`.
    Label,
    /// `;name=a`.
    Matrix,
}

impl Style {
    /// Parses the spec's style name.
    pub fn parse(name: &str) -> Option<Style> {
        Some(match name {
            "simple" => Style::Simple,
            "form" => Style::Form,
            "spaceDelimited" => Style::SpaceDelimited,
            "pipeDelimited" => Style::PipeDelimited,
            "deepObject" => Style::DeepObject,
            "label" => Style::Label,
            "matrix" => Style::Matrix,
            _ => return None,
        })
    }
}

/// One compiled parameter.
#[derive(Debug)]
pub struct Param {
    /// Name (lower-case for headers).
    pub name: String,
    /// Location.
    pub location: In,
    /// Must be present.
    pub required: bool,
    /// Style.
    pub style: Style,
    /// Explode.
    pub explode: bool,
    /// Decoded shape.
    pub kind: Kind,
    /// The schema validator.
    pub validator: Option<jsonschema::Validator>,
    /// For [`Kind::Json`] and `deepObject` query parameters: what the schema
    /// declares, for the mass-assignment walk.
    pub shapes: Option<crate::shape::Shapes>,
    /// A query key equal to the name but for ASCII case (`LIMIT` for `limit`)
    /// is this parameter, checked as it: ASP.NET binds query keys
    /// case-insensitively. False when the operation declares that other case
    /// as a parameter too.
    pub fold_case: bool,
}

/// The request's parameter sources, decoded once.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    /// Path parameters, percent-decoded.
    pub path: Vec<(&'a str, String)>,
    /// Query pairs, decoded.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: Option<&'a HeaderMap>,
    /// Cookie pairs.
    pub cookies: Vec<(&'a str, &'a str)>,
}

/// Splits and decodes a query string; `Err(rule)` when it cannot be used.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, &'static str> {
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        if out.len() >= MAX_QUERY_PAIRS {
            return Err("max-parameters");
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((
            form_decode(k).ok_or("encoding")?,
            form_decode(v).ok_or("encoding")?,
        ));
    }
    Ok(out)
}

/// The query pairs of a request to an operation declaring `params`, as
/// [`parse_query`]. Rack 2 (Rails up to 7.0), older Django and Python, and Go
/// before 1.17 split pairs at a raw `;` too, so `q=a;limit=99999` is a `limit`
/// there that no check here saw: when the query is checked at all (a declared
/// query parameter, or `strict`), a key only that reading has is
/// `Err("semicolon")` if it names a declared query parameter (any spelling
/// [`base_names`] knows), or under `strict` at all. A `;` inside a value
/// (`sort=name;desc`) is left alone otherwise.
pub fn parse_request_query(
    raw: &str,
    params: &[Param],
    strict: bool,
) -> Result<Vec<(String, String)>, &'static str> {
    let checked = strict || params.iter().any(|p| p.location == In::Query);
    if checked && raw.contains(';') {
        let declared = |key: &str| {
            params.iter().filter(|p| p.location == In::Query).any(|p| {
                let target = php_name(&p.name);
                key == p.name
                    || (p.fold_case && key.eq_ignore_ascii_case(&p.name))
                    || base_names(key).contains(&target)
            })
        };
        for pair in raw.split('&').filter(|p| p.contains(';')) {
            for extra in pair.split(';').skip(1).filter(|p| !p.is_empty()) {
                let key = extra.split_once('=').map_or(extra, |(k, _)| k);
                let key = form_decode(key).ok_or("encoding")?;
                if strict || declared(&key) {
                    return Err(crate::problems::SEMICOLON);
                }
            }
        }
    }
    parse_query(raw)
}

/// Percent-decodes (and `+` to space); `None` on malformed escapes or invalid UTF-8.
pub fn form_decode(text: &str) -> Option<String> {
    decode(text, true)
}

/// Percent-decodes; `None` on malformed escapes or invalid UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    decode(text, false)
}

fn decode(text: &str, plus: bool) -> Option<String> {
    if !text.bytes().any(|b| b == b'%' || (plus && b == b'+')) {
        return Some(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                out.push(rampart_core::percent::hex_byte(bytes.get(i + 1..i + 3)?)?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `Cookie` header values into pairs; more than [`MAX_QUERY_PAIRS`] in all
/// is `Err("max-parameters")` (a cookie past a cut would go unchecked).
pub fn parse_cookies<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(&'a str, &'a str)>, &'static str> {
    let mut out = Vec::new();
    for value in values {
        for c in value.split(';') {
            let Some((k, v)) = c.trim().split_once('=') else {
                continue;
            };
            if out.len() >= MAX_QUERY_PAIRS {
                return Err("max-parameters");
            }
            out.push((k.trim(), v.trim().trim_matches('"')));
        }
    }
    Ok(out)
}

/// Coerces a raw string to a JSON value of the scalar type.
pub fn coerce(raw: &str, scalar: Scalar) -> Option<Value> {
    match scalar {
        Scalar::String => Some(Value::String(raw.to_string())),
        Scalar::Integer => raw.parse::<i64>().ok().map(Value::from),
        Scalar::Number => {
            let n = raw.parse::<f64>().ok().filter(|n| n.is_finite())?;
            serde_json::Number::from_f64(n).map(Value::Number)
        }
        Scalar::Boolean => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

impl Param {
    /// Validates this parameter, appending failures.
    pub fn check(&self, src: &Sources<'_>, failures: &mut Vec<Failure>) {
        self.check_with(src, None, None, failures);
    }

    /// As [`Param::check`], with an extra schema from configuration that the
    /// decoded value must satisfy too, and the operation's policy for the members
    /// of JSON (`content`) parameters: undeclared ones are refused as in bodies
    /// (never stripped: a query cannot be rewritten safely).
    pub fn check_with(
        &self,
        src: &Sources<'_>,
        extra: Option<&jsonschema::Validator>,
        policy: Option<&crate::config::Policy>,
        failures: &mut Vec<Failure>,
    ) {
        let mut pointer = String::new();
        push_segment(&mut pointer, &self.name);
        if self.location == In::Path {
            // A path parameter may have two readings (`42` and `42;x`, see
            // `crate::routes`): each must pass; the first that fails is reported.
            let mut values = src.path.iter().filter(|(n, _)| *n == self.name).peekable();
            if values.peek().is_none() {
                self.check_value(Ok(None), &pointer, extra, policy, failures);
            }
            for (_, raw) in values {
                let before = failures.len();
                let value = self.read_path(raw).map(Some);
                self.check_value(value, &pointer, extra, policy, failures);
                if failures.len() > before {
                    break;
                }
            }
            return;
        }
        self.check_value(self.extract(src), &pointer, extra, policy, failures);
    }

    /// Validates one extracted value (see [`Param::check_with`]).
    fn check_value(
        &self,
        extracted: Result<Option<Value>, &'static str>,
        pointer: &str,
        extra: Option<&jsonschema::Validator>,
        policy: Option<&crate::config::Policy>,
        failures: &mut Vec<Failure>,
    ) {
        let value = match extracted {
            Ok(Some(v)) => v,
            Ok(None) => {
                if self.required {
                    failures.push(Failure::new(self.location, pointer, "required"));
                }
                return;
            }
            Err(rule) => {
                failures.push(Failure::new(self.location, pointer, rule));
                return;
            }
        };
        for validator in self.validator.iter().chain(extra) {
            push_schema_failures(validator, &value, self.location, pointer, failures);
        }
        if let (Some(shapes), Some(policy)) = (&self.shapes, policy) {
            let refusing;
            let policy = if policy.undeclared == crate::config::UndeclaredMode::Strip {
                refusing = crate::config::Policy {
                    undeclared: crate::config::UndeclaredMode::Refuse,
                    ..policy.clone()
                };
                &refusing
            } else {
                policy
            };
            let mut value = value;
            crate::massign::check_at(shapes, &mut value, policy, self.location, pointer, failures);
        }
    }

    /// The raw strings of this parameter: `Ok(None)` when absent.
    fn extract(&self, src: &Sources<'_>) -> Result<Option<Value>, &'static str> {
        match self.location {
            // Read by `check_with`, every reading of the value.
            In::Path => Ok(None),
            In::Header => {
                let Some(headers) = src.headers else {
                    return Ok(None);
                };
                let mut lines = headers.get_all(self.name.as_str()).iter();
                let Some(first) = lines.next() else {
                    return Ok(None);
                };
                let mut text = Cow::Borrowed(first.to_str().map_err(|_| "encoding")?.trim());
                for line in lines {
                    if matches!(self.kind, Kind::Scalar(_) | Kind::Json) {
                        return Err("duplicate");
                    }
                    // Repeated lines are one list to the upstream (RFC 9110 5.3):
                    // every line is checked, not only the first.
                    let line = line.to_str().map_err(|_| "encoding")?.trim();
                    let joined = text.to_mut();
                    joined.push_str(", ");
                    joined.push_str(line);
                }
                self.read_delimited(&text, ',').map(Some)
            }
            In::Cookie => {
                let mut found = src.cookies.iter().filter(|(n, _)| *n == self.name);
                let Some((_, raw)) = found.next() else {
                    return Ok(None);
                };
                if found.next().is_some() {
                    return Err("duplicate");
                }
                let raw = percent_decode(raw).ok_or("encoding")?;
                self.read_delimited(&raw, ',').map(Some)
            }
            In::Query => self.read_query(&src.query),
            In::Body => Ok(None),
        }
    }

    /// Decodes one raw (percent-encoded) path value.
    fn read_path(&self, raw: &str) -> Result<Value, &'static str> {
        let raw = match self.style {
            Style::Label => raw.strip_prefix('.').ok_or("style")?,
            Style::Matrix => raw
                .strip_prefix(';')
                .and_then(|r| r.strip_prefix(self.name.as_str()))
                .map(|r| r.strip_prefix('=').unwrap_or(r))
                .ok_or("style")?,
            _ => raw,
        };
        let sep = if self.style == Style::Label && self.explode {
            '.'
        } else {
            ','
        };
        self.read_delimited(raw, sep)
    }

    fn read_query(&self, query: &[(String, String)]) -> Result<Option<Value>, &'static str> {
        if self.style == Style::DeepObject {
            let mut map = Map::new();
            for (k, v) in query {
                let rest = match key_match(k, &self.name, self.fold_case) {
                    KeyMatch::No => continue,
                    KeyMatch::Misspelled => return Err(SPELLING),
                    KeyMatch::Rest(rest) => rest,
                };
                // Only `name[member]`: a bare `name` is a string to the upstream,
                // `name[a][$gt]` a nested object, `name[]` an array.
                let member = rest
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .filter(|m| !m.is_empty() && !m.contains(['[', ']']))
                    .ok_or("style")?;
                let scalar = match &self.kind {
                    Kind::Object(props) => props.get(member).copied().unwrap_or(Scalar::String),
                    _ => Scalar::String,
                };
                if map
                    .insert(member.to_string(), coerce(v, scalar).ok_or("type")?)
                    .is_some()
                {
                    return Err("duplicate");
                }
            }
            return Ok((!map.is_empty()).then_some(Value::Object(map)));
        }
        if let (Kind::Object(props), Style::Form, true) = (&self.kind, self.style, self.explode) {
            // Exploded form objects spread their members as top-level keys.
            let mut map = Map::new();
            for (k, v) in query {
                let member = props.get_key_value(k.as_str()).or_else(|| {
                    props
                        .iter()
                        .find(|(p, _)| self.fold_case && p.eq_ignore_ascii_case(k))
                });
                if let Some((name, scalar)) = member {
                    if map
                        .insert(name.clone(), coerce(v, *scalar).ok_or("type")?)
                        .is_some()
                    {
                        return Err("duplicate");
                    }
                } else if let Some(m) = props
                    .keys()
                    .map(|p| key_match(k, p, self.fold_case))
                    .find(|m| *m != KeyMatch::No)
                {
                    // `offset[$gt]`: a member given in another shape; `+offset`
                    // under another spelling.
                    return Err(if m == KeyMatch::Misspelled {
                        SPELLING
                    } else {
                        "style"
                    });
                }
            }
            return Ok((!map.is_empty()).then_some(Value::Object(map)));
        }
        // `ids[]=1&ids[]=2` (axios, PHP, Rails): items of an exploded form
        // array, as every reader takes them; beside `ids=` keys, PHP keeps
        // only the last form and Rack refuses, so mixing is refused.
        let brackets_are_items = matches!(
            (&self.kind, self.style, self.explode),
            (Kind::Array(_), Style::Form, true)
        );
        let (mut plain, mut bracketed) = (false, false);
        let mut values = Vec::new();
        for (k, v) in query {
            match key_match(k, &self.name, self.fold_case) {
                KeyMatch::Rest("") if !bracketed => {
                    plain = true;
                    values.push(v.as_str());
                }
                KeyMatch::Rest("[]") if brackets_are_items && !plain => {
                    bracketed = true;
                    values.push(v.as_str());
                }
                // `email[$ne]`, `limit[]`: this parameter as an object or array
                // to qs, Rack and PHP, which no form here checks.
                KeyMatch::Rest(_) => return Err("style"),
                // `+limit=99999` beside `limit=10`: a second value (or the
                // only one) that the check would not have read.
                KeyMatch::Misspelled => return Err(SPELLING),
                KeyMatch::No => {}
            }
        }
        let Some(first) = values.first() else {
            return Ok(None);
        };
        match (&self.kind, self.style, self.explode) {
            (Kind::Array(s), Style::Form, true) => values
                .iter()
                .map(|v| coerce(v, *s).ok_or("type"))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| Some(Value::Array(v))),
            _ if values.len() > 1 => Err("duplicate"),
            (_, Style::SpaceDelimited, _) => self.read_delimited(first, ' ').map(Some),
            (_, Style::PipeDelimited, _) => self.read_delimited(first, '|').map(Some),
            _ => self.read_delimited(first, ',').map(Some),
        }
    }

    /// Decodes a single delimited string into the parameter's kind.
    fn read_delimited(&self, raw: &str, sep: char) -> Result<Value, &'static str> {
        let path = self.location == In::Path;
        let decode = |s| decode_part(s, path);
        // A header list allows whitespace around its elements (RFC 9110 5.6.1).
        let header = self.location == In::Header;
        let ows = |s| if header { trim_ows(s) } else { s };
        match &self.kind {
            Kind::Scalar(s) => coerce(&decode(raw)?, *s).ok_or("type"),
            Kind::Json => {
                let text = decode(raw)?;
                // Bounded like a body before any tree is built.
                crate::json::prescan(text.as_bytes(), &crate::json::JsonLimits::default())
                    .map_err(|e| e.rule())?;
                serde_json::from_str(&text).map_err(|_| "json-syntax")
            }
            Kind::Array(s) => {
                if raw.is_empty() {
                    return Ok(Value::Array(Vec::new()));
                }
                // Past the limit the value is refused, not cut: items never
                // checked would still reach the upstream.
                if raw.split(sep).nth(MAX_QUERY_PAIRS).is_some() {
                    return Err("max-parameters");
                }
                raw.split(sep)
                    .map(|item| decode(ows(item)).and_then(|d| coerce(&d, *s).ok_or("type")))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            Kind::Object(props) => {
                let members = if self.explode {
                    MAX_QUERY_PAIRS
                } else {
                    2 * MAX_QUERY_PAIRS
                };
                if raw.split(sep).nth(members).is_some() {
                    return Err("max-parameters");
                }
                let mut map = Map::new();
                let mut parts = raw.split(sep);
                if self.explode {
                    for part in parts {
                        let (k, v) = ows(part).split_once('=').ok_or("style")?;
                        let scalar = props.get(k).copied().unwrap_or(Scalar::String);
                        map.insert(
                            decode(k)?.into_owned(),
                            coerce(&decode(v)?, scalar).ok_or("type")?,
                        );
                    }
                } else {
                    while let Some(k) = parts.next() {
                        let k = ows(k);
                        let v = ows(parts.next().ok_or("style")?);
                        let scalar = props.get(k).copied().unwrap_or(Scalar::String);
                        map.insert(
                            decode(k)?.into_owned(),
                            coerce(&decode(v)?, scalar).ok_or("type")?,
                        );
                    }
                }
                Ok(Value::Object(map))
            }
        }
    }

    /// Whether a query key belongs to this parameter (for strict mode): its name,
    /// bracketed or not (the parameter's check refuses the shapes it does not take).
    pub fn owns_query_key(&self, key: &str) -> bool {
        if self.location != In::Query {
            return false;
        }
        if let (Kind::Object(props), Style::Form, true) = (&self.kind, self.style, self.explode) {
            return props
                .keys()
                .any(|p| key_match(key, p, self.fold_case) != KeyMatch::No);
        }
        key_match(key, &self.name, self.fold_case) != KeyMatch::No
    }
}

/// How a query key addresses a parameter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyMatch<'k> {
    /// Another parameter's key.
    No,
    /// `name` followed by what is left: `""` for `name` itself, `[…]` for a
    /// bracketed key, which qs (Express), Rack and PHP read as parameter `name`
    /// holding an object or array (`email[$ne]=x` is `email: {$ne: "x"}`).
    Rest(&'k str),
    /// Another spelling of `name` to some upstream parser (`[email][$ne]`,
    /// `+email`, `user.id` for `user_id`): refused, the checks read it as
    /// another key.
    Misspelled,
}

/// How `key` (decoded, so `%5B` is a bracket too) addresses parameter `name`;
/// with `fold_case`, `name` in another ASCII case is `name` itself (`LIMIT`
/// is `limit` to ASP.NET, and checked as it).
fn key_match<'k>(key: &'k str, name: &str, fold_case: bool) -> KeyMatch<'k> {
    if let Some(rest) = strip_name(key, name, fold_case)
        && (rest.is_empty() || rest.starts_with('['))
    {
        return KeyMatch::Rest(rest);
    }
    // A name with brackets of its own (`page[size]`) is matched as spelled.
    let spelled = name.contains(['[', ']']);
    if !key.contains([' ', '[', ']', '.']) {
        // The common key: `base_names` would be the key alone, so compare it
        // with the name as PHP rewrites it without building either.
        let php_spelling = key.len() == name.len()
            && key.bytes().zip(name.bytes()).all(|(k, n)| {
                k == if !spelled && matches!(n, b'.' | b' ' | b'[') {
                    b'_'
                } else {
                    n
                }
            });
        return if php_spelling {
            KeyMatch::Misspelled
        } else {
            KeyMatch::No
        };
    }
    let target: Cow<'_, str> = if spelled {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(php_name(name))
    };
    if base_names(key).iter().any(|b| *b == target) {
        KeyMatch::Misspelled
    } else {
        KeyMatch::No
    }
}

/// The parameter names upstream parsers read from a query key: leading spaces
/// (PHP) and leading brackets (qs, Rack 2: `[email][$ne]` is `email`) skipped,
/// the base cut at the first bracket, PHP's `.` and space as `_`; and, as PHP
/// reads a `[` without a closing `]`, the whole key with that `[` as `_` too
/// (`user[id` is `user_id`). Bounded by the key's length.
pub fn base_names(key: &str) -> Vec<String> {
    let key = key.trim_start_matches([' ', '[', ']']);
    let cut = key.find(['[', ']']).unwrap_or(key.len());
    let mut out = vec![php_name(key.get(..cut).unwrap_or(key))];
    if let Some(open) = key.find('[')
        && !key.get(open..).is_some_and(|r| r.contains(']'))
    {
        out.push(php_name(key));
    }
    out
}

/// `key` past a leading `name`, in any ASCII case with `fold_case`.
fn strip_name<'k>(key: &'k str, name: &str, fold_case: bool) -> Option<&'k str> {
    if let Some(rest) = key.strip_prefix(name) {
        return Some(rest);
    }
    let head = key.get(..name.len())?;
    (fold_case && head.eq_ignore_ascii_case(name))
        .then(|| key.get(name.len()..))
        .flatten()
}

/// A name with PHP's rewriting of `.`, space and `[` to `_`.
fn php_name(name: &str) -> String {
    name.chars()
        .map(|c| if matches!(c, '.' | ' ' | '[') { '_' } else { c })
        .collect()
}

/// Without the optional whitespace around a header list element.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Path values are still percent-encoded; other sources were decoded already.
fn decode_part(s: &str, path: bool) -> Result<Cow<'_, str>, &'static str> {
    if path {
        percent_decode(s).map(Cow::Owned).ok_or("encoding")
    } else {
        Ok(Cow::Borrowed(s))
    }
}

/// Declared fields of a form body: name → (type, repeated values form an array).
pub type FormFields = HashMap<String, (Scalar, bool)>;

/// The declared fields of a form body schema (an object's properties).
pub fn form_fields(bundle: &Value, defs_key: &str) -> FormFields {
    let schema = resolve(bundle, bundle, defs_key, 0);
    let mut out = HashMap::new();
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (name, prop) in props {
            let prop = resolve(bundle, prop, defs_key, 0);
            let field = if type_name(prop) == Some("array") {
                let items = prop
                    .get("items")
                    .map(|i| resolve(bundle, i, defs_key, 0))
                    .unwrap_or(&Value::Null);
                (scalar_of(items), true)
            } else {
                (scalar_of(prop), false)
            };
            out.insert(name.clone(), field);
        }
    }
    out
}

/// Turns form pairs into a JSON object typed by `fields`, for the schema validator and
/// the mass-assignment walk. Undeclared fields are kept as strings (the walk judges
/// them); a non-array field given twice is a `duplicate` failure.
pub fn form_object(
    pairs: Vec<(String, String)>,
    fields: &FormFields,
    failures: &mut Vec<Failure>,
) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, raw) in pairs {
        let (scalar, array) = fields.get(&key).copied().unwrap_or((Scalar::String, false));
        let mut pointer = String::new();
        push_segment(&mut pointer, &key);
        let Some(value) = coerce(&raw, scalar) else {
            failures.push(Failure::new(In::Body, &pointer, "type"));
            continue;
        };
        match map.get_mut(&key) {
            Some(Value::Array(items)) if array => items.push(value),
            Some(_) => failures.push(Failure::new(In::Body, &pointer, "duplicate")),
            None if array => {
                map.insert(key, Value::Array(vec![value]));
            }
            None => {
                map.insert(key, value);
            }
        }
    }
    map
}

/// Encodes a (possibly stripped) form object back to `application/x-www-form-urlencoded`.
pub fn form_encode(map: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut push = |k: &str, v: &Value| {
        if !out.is_empty() {
            out.push('&');
        }
        form_escape(&mut out, k);
        out.push('=');
        match v {
            Value::String(s) => form_escape(&mut out, s),
            other => form_escape(&mut out, &other.to_string()),
        }
    };
    for (k, v) in map {
        match v {
            Value::Array(items) => items.iter().for_each(|i| push(k, i)),
            other => push(k, other),
        }
    }
    out
}

fn form_escape(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Derives the decoded kind from a bundled schema.
pub fn kind_of(bundle: &Value, defs_key: &str) -> Kind {
    let schema = resolve(bundle, bundle, defs_key, 0);
    match type_name(schema) {
        Some("array") => {
            let items = schema
                .get("items")
                .map(|i| resolve(bundle, i, defs_key, 0))
                .unwrap_or(&Value::Null);
            Kind::Array(scalar_of(items))
        }
        Some("object") => {
            let mut props = HashMap::new();
            if let Some(Value::Object(p)) = schema.get("properties") {
                for (k, v) in p {
                    props.insert(k.clone(), scalar_of(resolve(bundle, v, defs_key, 0)));
                }
            }
            Kind::Object(props)
        }
        _ => Kind::Scalar(scalar_of(schema)),
    }
}

fn scalar_of(schema: &Value) -> Scalar {
    match type_name(schema) {
        Some("integer") => Scalar::Integer,
        Some("number") => Scalar::Number,
        Some("boolean") => Scalar::Boolean,
        _ => Scalar::String,
    }
}

fn type_name(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(t) => Some(t.as_str()),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// Follows bundle-local `$ref`s and single-branch `allOf`s.
fn resolve<'v>(bundle: &'v Value, schema: &'v Value, defs_key: &str, depth: usize) -> &'v Value {
    if depth > 16 {
        return schema;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str)
        && let Some(name) = r.strip_prefix(&format!("#/{defs_key}/"))
        && let Some(t) = bundle.get(defs_key).and_then(|d| d.get(name))
    {
        return resolve(bundle, t, defs_key, depth + 1);
    }
    if schema.get("type").is_none()
        && let Some(Value::Array(all)) = schema.get("allOf")
        && let [only] = all.as_slice()
    {
        return resolve(bundle, only, defs_key, depth + 1);
    }
    schema
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("a=1&b=x+y&c=%C3%A9&&d").unwrap();
        assert_eq!(
            q,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "é".into()),
                ("d".into(), "".into())
            ]
        );
        assert_eq!(parse_query("a=%ZZ"), Err("encoding"));
        assert_eq!(parse_query("a=%FF"), Err("encoding"));
        // A sign is not a hex digit.
        assert_eq!(parse_query("a=%+1"), Err("encoding"));
        assert_eq!(parse_query("a=%-1"), Err("encoding"));
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%2B1"), Some("+1".into()));
        assert_eq!(crate::loader::percent_decode("a%+1%41"), "a%+1A");
        let many = "a=1&".repeat(MAX_QUERY_PAIRS + 1);
        assert_eq!(parse_query(&many), Err("max-parameters"));
    }

    #[test]
    fn coercion() {
        assert_eq!(coerce("42", Scalar::Integer), Some(Value::from(42)));
        assert_eq!(coerce("4.2", Scalar::Integer), None);
        assert_eq!(coerce("NaN", Scalar::Number), None);
        assert_eq!(coerce("true", Scalar::Boolean), Some(Value::Bool(true)));
        assert_eq!(coerce("1", Scalar::Boolean), None);
    }

    fn param(location: In, style: Style, kind: Kind, schema: Value) -> Param {
        let version = crate::bundle::SpecVersion::V31;
        Param {
            name: "x".into(),
            location,
            required: false,
            style,
            explode: false,
            kind,
            validator: Some(crate::bundle::compile(&schema, version).unwrap()),
            shapes: None,
            fold_case: true,
        }
    }

    /// The rules `param` fails on `src`.
    fn rules(param: &Param, src: &Sources<'_>) -> Vec<String> {
        let mut failures = Vec::new();
        param.check(src, &mut failures);
        failures.into_iter().map(|f| f.rule).collect()
    }

    fn headers(lines: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x", http::HeaderValue::from_static(line));
        }
        map
    }

    #[test]
    fn every_line_of_a_list_header_is_checked() {
        let scopes = param(
            In::Header,
            Style::Simple,
            Kind::Array(Scalar::String),
            serde_json::json!({"type": "array", "items": {"enum": ["read", "write"]}}),
        );
        let check = |lines: &[&'static str]| {
            let map = headers(lines);
            let src = Sources {
                headers: Some(&map),
                ..Sources::default()
            };
            rules(&scopes, &src)
        };
        assert_eq!(check(&["read", "admin"]), ["enum"]);
        assert_eq!(check(&["read, write", "admin"]), ["enum"]);
        assert!(check(&["read", "write"]).is_empty());
        assert!(check(&["read, write"]).is_empty());
        let obj = param(
            In::Header,
            Style::Simple,
            Kind::Object(HashMap::new()),
            serde_json::json!({"properties": {"a": {"const": "1"}}, "additionalProperties": false}),
        );
        let map = headers(&["a,1", "b,2"]);
        let src = Sources {
            headers: Some(&map),
            ..Sources::default()
        };
        assert_eq!(rules(&obj, &src), ["additionalProperties"]);
    }

    #[test]
    fn lists_past_the_limit_are_refused_not_cut() {
        let list = param(
            In::Query,
            Style::Form,
            Kind::Array(Scalar::String),
            serde_json::json!({"maxItems": 300, "items": {"const": "a"}}),
        );
        let check = |p: &Param, value: String| {
            let src = Sources {
                query: vec![("x".into(), value)],
                ..Sources::default()
            };
            rules(p, &src)
        };
        let items = |n| vec!["a"; n].join(",");
        assert!(check(&list, items(MAX_QUERY_PAIRS)).is_empty());
        // A bad item past the old cut at 257 items.
        assert_eq!(
            check(&list, format!("{},b", items(MAX_QUERY_PAIRS + 1))),
            ["max-parameters"]
        );
        assert_eq!(check(&list, items(301)), ["max-parameters"]);
        let obj = param(
            In::Query,
            Style::Form,
            Kind::Object(HashMap::new()),
            serde_json::json!({"additionalProperties": {"const": "1"}}),
        );
        let members = |n: usize| {
            (0..n)
                .map(|i| format!("k{i},1"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(check(&obj, members(MAX_QUERY_PAIRS)).is_empty());
        assert_eq!(
            check(&obj, format!("{},z,2", members(MAX_QUERY_PAIRS))),
            ["max-parameters"]
        );
        let mut exploded = obj;
        exploded.explode = true;
        let pairs = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=1"))
                .collect::<Vec<_>>()
                .join(",")
        };
        exploded.location = In::Path;
        let path = |value: String| {
            let src = Sources {
                path: vec![("x", value)],
                ..Sources::default()
            };
            rules(&exploded, &src)
        };
        assert!(path(pairs(MAX_QUERY_PAIRS)).is_empty());
        assert_eq!(
            path(format!("{},z=2", pairs(MAX_QUERY_PAIRS))),
            ["max-parameters"]
        );
    }

    #[test]
    fn failures_stop_at_the_cap() {
        let list = param(
            In::Query,
            Style::Form,
            Kind::Array(Scalar::String),
            serde_json::json!({"items": {"const": "a"}}),
        );
        let src = Sources {
            query: vec![("x".into(), vec!["b"; MAX_QUERY_PAIRS].join(","))],
            ..Sources::default()
        };
        assert_eq!(rules(&list, &src).len(), crate::problems::MAX_FAILURES);
    }

    #[test]
    fn cookies() {
        assert_eq!(
            parse_cookies(["a=1; b=\"2\";c", "d=4"]),
            Ok(vec![("a", "1"), ("b", "2"), ("d", "4")])
        );
        let filler = vec!["f=1"; MAX_QUERY_PAIRS].join("; ");
        assert_eq!(
            parse_cookies([filler.as_str()]).unwrap().len(),
            MAX_QUERY_PAIRS
        );
        assert_eq!(
            parse_cookies([filler.as_str(), "session=x"]),
            Err("max-parameters")
        );
    }
}
