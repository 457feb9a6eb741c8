//! Resolving a rule target (`ARGS:id`, `&TX:x`, `REQUEST_HEADERS`) to the
//! values the operator sees.

use std::borrow::Cow;
use std::collections::HashMap;

use super::data::{Collection, Item, NAME_BIT, RequestData, UNCACHED};
use crate::seclang::actions::BodyProcessor;
use crate::seclang::targets::{Selector, Target};
use crate::variables::Var;

/// Per-transaction variables that rules write.
#[derive(Debug, Default)]
pub struct Vars {
    pub(crate) tx: Collection,
    pub(crate) collections: HashMap<String, Collection>,
    pub(crate) env: Collection,
    pub(crate) geo: Collection,
    /// MATCHED_VAR_NAME and MATCHED_VAR (shared: folded rules replay theirs).
    pub(crate) matched_var: Option<MatchedVar>,
    /// MATCHED_VARS of the rule running, shared with `matched_var`.
    pub(crate) matched_vars: Vec<MatchedVar>,
    pub(crate) body_processor: Option<BodyProcessor>,
    pub(crate) duration_us: u64,
}

/// The name (`ARGS:id`) and value of one match, in one allocation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Matched {
    /// The name, then the value.
    bytes: Box<[u8]>,
    name_len: usize,
}

/// A match as MATCHED_VAR / MATCHED_VARS hold it (shared).
pub(crate) type MatchedVar = std::sync::Arc<Matched>;

impl Matched {
    /// `var` and `key` make the name (`VAR:key`, or `VAR` without a key).
    pub(crate) fn new(var: Var, key: &[u8], value: &[u8]) -> Self {
        let var = var.name().as_bytes();
        let name_len = var.len() + if key.is_empty() { 0 } else { 1 + key.len() };
        let mut bytes = Vec::with_capacity(name_len + value.len());
        bytes.extend_from_slice(var);
        if !key.is_empty() {
            bytes.push(b':');
            bytes.extend_from_slice(key);
        }
        bytes.extend_from_slice(value);
        #[cfg(test)]
        live::add(bytes.len());
        Self {
            bytes: bytes.into_boxed_slice(),
            name_len,
        }
    }

    /// MATCHED_VAR_NAME.
    pub(crate) fn name(&self) -> &[u8] {
        self.bytes.get(..self.name_len).unwrap_or_default()
    }

    /// MATCHED_VAR.
    pub(crate) fn value(&self) -> &[u8] {
        self.bytes.get(self.name_len..).unwrap_or_default()
    }
}

/// Tests: bytes of the [`Matched`] values alive on this thread, to check
/// what a transaction keeps.
#[cfg(test)]
pub(crate) mod live {
    use std::cell::Cell;

    thread_local! {
        static BYTES: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn add(n: usize) {
        BYTES.with(|b| b.set(b.get() + n));
    }

    pub(super) fn sub(n: usize) {
        BYTES.with(|b| b.set(b.get().saturating_sub(n)));
    }

    /// Bytes of the `Matched` values created on this thread and not dropped.
    pub(crate) fn matched_bytes() -> usize {
        BYTES.with(Cell::get)
    }
}

#[cfg(test)]
impl Drop for Matched {
    fn drop(&mut self) {
        live::sub(self.bytes.len());
    }
}

impl Vars {
    /// A writable collection by lower-case name.
    pub(crate) fn collection(&self, name: &str) -> Option<&Collection> {
        match name {
            "tx" => Some(&self.tx),
            "env" => Some(&self.env),
            "geo" => Some(&self.geo),
            other => self.collections.get(other),
        }
    }
}

/// One value offered to an operator.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// Its variable.
    pub var: Var,
    /// Its key ("" for single values).
    pub key: Cow<'a, [u8]>,
    /// The untransformed value.
    pub value: Cow<'a, [u8]>,
    /// Cache identity.
    pub id: u32,
}

impl Candidate<'_> {
    /// The candidate with owned key and value.
    pub fn into_owned(self) -> Candidate<'static> {
        Candidate {
            var: self.var,
            key: Cow::Owned(self.key.into_owned()),
            value: Cow::Owned(self.value.into_owned()),
            id: self.id,
        }
    }
}

fn item<'a>(var: Var, i: &'a Item) -> Candidate<'a> {
    Candidate {
        var,
        key: Cow::Borrowed(&i.key),
        value: Cow::Borrowed(&i.value),
        id: i.id,
    }
}

fn name_of<'a>(var: Var, i: &'a Item) -> Candidate<'a> {
    Candidate {
        var,
        key: Cow::Borrowed(&i.key),
        value: Cow::Borrowed(&i.key),
        id: i.id | NAME_BIT,
    }
}

fn owned(var: Var, value: Vec<u8>) -> Candidate<'static> {
    Candidate {
        var,
        key: Cow::Borrowed(b""),
        value: Cow::Owned(value),
        id: UNCACHED,
    }
}

fn flag(var: Var, on: bool) -> Candidate<'static> {
    owned(var, if on { b"1".to_vec() } else { b"0".to_vec() })
}

/// Appends the values of `target` not removed by `excluded`.
///
/// Generic over `excluded` rather than a `dyn Fn`: it is asked once per
/// value, and inlined it costs next to nothing when the rule removes no
/// target (most rules, and the phase-wide fact scan).
pub(crate) fn collect<'a, E>(
    data: &'a RequestData,
    vars: &'a Vars,
    target: &Target,
    excluded: &E,
    out: &mut Vec<Candidate<'a>>,
) where
    E: Fn(Var, &[u8]) -> bool + ?Sized,
{
    let var = target.var;
    let sel = &target.selector;
    let start = out.len();
    {
        let mut push_items = |items: &'a [Item], names: bool| {
            out.reserve(items.len());
            for i in items {
                if sel.picks(&i.key) && !excluded(var, &i.key) {
                    out.push(if names { name_of(var, i) } else { item(var, i) });
                }
            }
        };
        match var {
            Var::Args => {
                push_items(&data.args_get, false);
                push_items(&data.args_post, false);
            }
            Var::ArgsGet => push_items(&data.args_get, false),
            Var::ArgsPost => push_items(&data.args_post, false),
            Var::ArgsNames => {
                push_items(&data.args_get, true);
                push_items(&data.args_post, true);
            }
            Var::ArgsGetNames => push_items(&data.args_get, true),
            Var::ArgsPostNames => push_items(&data.args_post, true),
            Var::RequestHeaders => push_items(&data.headers, false),
            Var::RequestHeadersNames => push_items(&data.headers, true),
            Var::RequestCookies => push_items(&data.cookies, false),
            Var::RequestCookiesNames => push_items(&data.cookies, true),
            Var::Files => push_items(&data.files, false),
            Var::FilesNames => push_items(&data.files, true),
            Var::FilesSizes => push_items(&data.files_sizes, false),
            Var::MultipartPartHeaders => push_items(&data.part_headers, false),
            Var::MultipartName => push_items(&data.multipart_names, false),
            Var::MultipartFilename => push_items(&data.multipart_filenames, false),
            Var::ResponseHeaders => push_items(&data.response_headers, false),
            Var::ResponseHeadersNames => push_items(&data.response_headers, true),
            // `!XML:/*`, `!XML://@*` and `!XML` (both) remove them.
            Var::Xml => match sel {
                Selector::XmlAttributes => {
                    if !excluded(var, b"//@*") {
                        out.extend(data.xml_attrs.iter().map(|i| Candidate {
                            var,
                            key: Cow::Borrowed(b"//@*"),
                            value: Cow::Borrowed(&i.value),
                            id: i.id,
                        }));
                    }
                }
                _ => {
                    if let Some(root) = &data.xml_root
                        && !excluded(var, b"/*")
                    {
                        out.push(Candidate {
                            var,
                            key: Cow::Borrowed(b"/*"),
                            value: Cow::Borrowed(&root.value),
                            id: root.id,
                        });
                    }
                }
            },
            Var::Tx | Var::Ip | Var::Global | Var::Session | Var::User | Var::Env | Var::Geo => {
                let col = match var {
                    Var::Tx => Some(&vars.tx),
                    Var::Env => Some(&vars.env),
                    Var::Geo => Some(&vars.geo),
                    Var::Ip => vars.collections.get("ip"),
                    Var::Global => vars.collections.get("global"),
                    Var::Session => vars.collections.get("session"),
                    _ => vars.collections.get("user"),
                };
                if let Some(col) = col {
                    match sel {
                        Selector::Key(k) => {
                            if let Some(i) = col.item(k)
                                && !excluded(var, &i.key)
                            {
                                out.push(item(var, i));
                            }
                        }
                        // Keys are stored lower-case and sorted: the keys
                        // starting with a lower-case prefix are one range.
                        Selector::Regex(re) if re.literal_prefix().is_some() => {
                            let p = re.literal_prefix().unwrap_or_default();
                            for i in col.with_prefix(p) {
                                if !excluded(var, &i.key) {
                                    out.push(item(var, i));
                                }
                            }
                        }
                        Selector::Regex(re)
                            if let Some(keys) = re.base_keys().keys(col, |k| re.is_match(k)) =>
                        {
                            out.extend(
                                col.iter_where_in_base(keys, |k| sel.picks(k) && !excluded(var, k))
                                    .map(|i| item(var, i)),
                            );
                        }
                        _ => {
                            out.extend(
                                col.iter_where(|k| sel.picks(k) && !excluded(var, k))
                                    .map(|i| item(var, i)),
                            );
                        }
                    }
                }
            }
            Var::MatchedVars | Var::MatchedVarsNames => {
                for (name, value) in vars.matched_vars.iter().map(|m| (m.name(), m.value())) {
                    let key = name.splitn(2, |&c| c == b':').nth(1).unwrap_or(name);
                    if sel.picks(key) && !excluded(var, key) {
                        let v = if var == Var::MatchedVars { value } else { name };
                        out.push(Candidate {
                            var,
                            key: Cow::Borrowed(key),
                            value: Cow::Borrowed(v),
                            id: UNCACHED,
                        });
                    }
                }
            }
            // Single values have no key: `!REQUEST_FILENAME` or a `ctl:` target
            // removal names the whole variable.
            _ if excluded(var, b"") => {}
            _ => single(data, vars, var, out),
        }
    }
    if target.count {
        let n = out.len() - start;
        out.truncate(start);
        out.push(owned(var, n.to_string().into_bytes()));
    }
}

fn single<'a>(data: &'a RequestData, vars: &'a Vars, var: Var, out: &mut Vec<Candidate<'a>>) {
    let opt = |i: &'a Option<Item>| i.as_ref().map(|i| item(var, i));
    let f = &data.multipart_flags;
    let c = match var {
        Var::RequestUri => opt(&data.uri),
        Var::RequestUriRaw => opt(&data.uri_raw),
        Var::RequestFilename => opt(&data.filename),
        Var::RequestBasename => opt(&data.basename),
        Var::RequestLine => opt(&data.request_line),
        Var::RequestMethod => opt(&data.method),
        Var::RequestProtocol => opt(&data.protocol),
        Var::QueryString => opt(&data.query),
        Var::RequestBody => opt(&data.body),
        Var::RemoteAddr => opt(&data.remote_addr),
        Var::ServerName => opt(&data.server_name),
        Var::UniqueId => opt(&data.unique_id),
        Var::ResponseStatus => opt(&data.response_status),
        Var::ResponseProtocol => opt(&data.response_protocol),
        Var::ResponseBody => opt(&data.response_body),
        Var::ResponseContentType => data
            .response_headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(b"content-type"))
            .map(|h| item(var, h)),
        Var::ResponseContentLength => data
            .response_headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(b"content-length"))
            .map(|h| item(var, h)),
        Var::RemotePort => Some(owned(var, data.remote_port.to_string().into_bytes())),
        Var::RequestBodyLength => Some(owned(var, data.body_length.to_string().into_bytes())),
        Var::ArgsCombinedSize => {
            let n: usize = data
                .args_get
                .iter()
                .chain(&data.args_post)
                .map(|i| i.key.len() + i.value.len())
                .sum();
            Some(owned(var, n.to_string().into_bytes()))
        }
        Var::FilesCombinedSize => Some(owned(
            var,
            data.files_combined_size.to_string().into_bytes(),
        )),
        Var::ReqbodyProcessor => Some(owned(
            var,
            vars.body_processor
                .map(|p| p.name().as_bytes().to_vec())
                .unwrap_or_default(),
        )),
        Var::ReqbodyError => Some(flag(var, data.reqbody_error)),
        Var::ReqbodyErrorMsg => Some(owned(var, data.reqbody_error_msg.clone())),
        Var::InboundDataError => Some(flag(var, data.inbound_data_error)),
        Var::MultipartStrictError => Some(flag(var, data.multipart_error || f.strict_error())),
        Var::MultipartUnmatchedBoundary => Some(flag(var, f.unmatched_boundary)),
        Var::MultipartBoundaryQuoted => Some(flag(var, f.boundary_quoted)),
        Var::MultipartBoundaryWhitespace => Some(flag(var, f.boundary_whitespace)),
        Var::MultipartDataBefore => Some(flag(var, f.data_before)),
        Var::MultipartDataAfter => Some(flag(var, f.data_after)),
        Var::MultipartHeaderFolding => Some(flag(var, f.header_folding)),
        Var::MultipartLfLine => Some(flag(var, f.lf_line)),
        Var::MultipartCrlfLfLines => Some(flag(var, f.crlf_lf_lines)),
        Var::MultipartMissingSemicolon => Some(flag(var, f.missing_semicolon)),
        Var::MultipartInvalidQuoting => Some(flag(var, f.invalid_quoting)),
        Var::MultipartInvalidPart => Some(flag(var, f.invalid_part)),
        Var::MultipartInvalidHeaderFolding => Some(flag(var, f.invalid_header_folding)),
        Var::MultipartFileLimitExceeded => Some(flag(var, f.file_limit_exceeded)),
        Var::MatchedVar => vars
            .matched_var
            .as_deref()
            .map(|m| owned(var, m.value().to_vec())),
        Var::MatchedVarName => vars
            .matched_var
            .as_deref()
            .map(|m| owned(var, m.name().to_vec())),
        Var::Duration => Some(owned(var, vars.duration_us.to_string().into_bytes())),
        Var::AuthType => data.header("authorization").map(|a| {
            owned(
                var,
                a.split(|&c| c == b' ').next().unwrap_or_default().to_vec(),
            )
        }),
        Var::FullRequest => Some(owned(var, full_request(data))),
        Var::FullRequestLength => Some(owned(
            var,
            full_request_length(data).to_string().into_bytes(),
        )),
        // Collections, resolved by `collect`: listed so that a new single
        // variable without a value here fails to compile.
        Var::Args
        | Var::ArgsGet
        | Var::ArgsPost
        | Var::ArgsNames
        | Var::ArgsGetNames
        | Var::ArgsPostNames
        | Var::RequestHeaders
        | Var::RequestHeadersNames
        | Var::RequestCookies
        | Var::RequestCookiesNames
        | Var::Files
        | Var::FilesNames
        | Var::FilesSizes
        | Var::MultipartPartHeaders
        | Var::MultipartFilename
        | Var::MultipartName
        | Var::Xml
        | Var::Tx
        | Var::Ip
        | Var::Global
        | Var::Session
        | Var::User
        | Var::Env
        | Var::MatchedVars
        | Var::MatchedVarsNames
        | Var::Geo
        | Var::ResponseHeaders
        | Var::ResponseHeadersNames => None,
    };
    if let Some(c) = c {
        out.push(c);
    }
}

/// The request body FULL_REQUEST ends with: REQUEST_BODY's value when it
/// holds the body, else the body kept for FULL_REQUEST (see
/// [`RequestData::raw_body`]).
fn full_request_body(data: &RequestData) -> &[u8] {
    match &data.body {
        Some(b) => &b.value,
        None => &data.raw_body,
    }
}

/// FULL_REQUEST as ModSecurity v2 builds it: the request line, a line
/// `name: value` per header, an empty line, the body (as inspected: at most
/// `SecRequestBodyLimit` bytes; empty before phase 2 or without body access).
fn full_request(data: &RequestData) -> Vec<u8> {
    let body = full_request_body(data);
    let mut out = Vec::with_capacity(full_request_length(data).max(body.len()));
    if let Some(line) = &data.request_line {
        out.extend_from_slice(&line.value);
    }
    out.push(b'\n');
    for h in &data.headers {
        out.extend_from_slice(&h.key);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&h.value);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// FULL_REQUEST_LENGTH: the length of FULL_REQUEST, computed without
/// building it (the body counts as REQUEST_BODY_LENGTH does, whether or not
/// it is kept).
fn full_request_length(data: &RequestData) -> usize {
    let line = data.request_line.as_ref().map_or(0, |l| l.value.len());
    let headers: usize = data
        .headers
        .iter()
        .map(|h| h.key.len() + 2 + h.value.len() + 1)
        .sum();
    line + 1 + headers + 1 + data.body_length
}
