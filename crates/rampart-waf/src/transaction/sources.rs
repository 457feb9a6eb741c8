//! Which parts of the request (and response) a rule's targets read, as a
//! bitmask, and which of those parts hold a value in a transaction.
//!
//! A link whose targets all read parts that are empty (no `RESPONSE_BODY`
//! when the body is not inspected, no cookies, no body arguments on a GET)
//! collects no value, so its operator never runs and it does not match: the
//! phase driver skips it without collecting. The same bits tell the
//! prefilter's fact scan which targets can have new values since its last
//! pass. Variables whose value does not come from one of these parts
//! (counts `&X`, flags, sizes, `TX` and the other collections,
//! `MATCHED_VAR`...) carry [`ALWAYS`], which every transaction has: rules
//! reading them are never skipped.

use super::data::{Item, RequestData};
use crate::rule::Rule;
use crate::seclang::targets::{Selector, Target};
use crate::variables::Var;

/// A part that cannot be told empty: always present.
pub(crate) const ALWAYS: u64 = 1 << 63;

const METHOD: u64 = 1;
const URI: u64 = 1 << 1;
const URI_RAW: u64 = 1 << 2;
const PROTOCOL: u64 = 1 << 3;
const FILENAME: u64 = 1 << 4;
const BASENAME: u64 = 1 << 5;
const QUERY: u64 = 1 << 6;
const REQUEST_LINE: u64 = 1 << 7;
const ARGS_GET: u64 = 1 << 8;
const ARGS_POST: u64 = 1 << 9;
const HEADERS: u64 = 1 << 10;
const COOKIES: u64 = 1 << 11;
const BODY: u64 = 1 << 12;
const FILES: u64 = 1 << 13;
const FILES_SIZES: u64 = 1 << 14;
const MULTIPART_NAMES: u64 = 1 << 15;
const MULTIPART_FILENAMES: u64 = 1 << 16;
const PART_HEADERS: u64 = 1 << 17;
const XML_ROOT: u64 = 1 << 18;
const XML_ATTRS: u64 = 1 << 19;
const REMOTE_ADDR: u64 = 1 << 20;
const SERVER_NAME: u64 = 1 << 21;
const UNIQUE_ID: u64 = 1 << 22;
const RESPONSE_STATUS: u64 = 1 << 23;
const RESPONSE_PROTOCOL: u64 = 1 << 24;
const RESPONSE_HEADERS: u64 = 1 << 25;
const RESPONSE_BODY: u64 = 1 << 26;

/// The parts a target reads. Must cover every item `collect` may take for
/// it; [`ALWAYS`] for values computed or kept elsewhere.
pub(crate) fn of_target(t: &Target) -> u64 {
    if t.count {
        // `&X` yields its count, 0 included.
        return ALWAYS;
    }
    match t.var {
        Var::Args | Var::ArgsNames => ARGS_GET | ARGS_POST,
        Var::ArgsGet | Var::ArgsGetNames => ARGS_GET,
        Var::ArgsPost | Var::ArgsPostNames => ARGS_POST,
        Var::RequestHeaders | Var::RequestHeadersNames | Var::AuthType => HEADERS,
        Var::RequestCookies | Var::RequestCookiesNames => COOKIES,
        Var::Files | Var::FilesNames => FILES,
        Var::FilesSizes => FILES_SIZES,
        Var::MultipartPartHeaders => PART_HEADERS,
        Var::MultipartName => MULTIPART_NAMES,
        Var::MultipartFilename => MULTIPART_FILENAMES,
        Var::Xml => match t.selector {
            Selector::XmlAttributes => XML_ATTRS,
            _ => XML_ROOT,
        },
        Var::RequestUri => URI,
        Var::RequestUriRaw => URI_RAW,
        Var::RequestFilename => FILENAME,
        Var::RequestBasename => BASENAME,
        Var::RequestLine => REQUEST_LINE,
        Var::RequestMethod => METHOD,
        Var::RequestProtocol => PROTOCOL,
        Var::QueryString => QUERY,
        Var::RequestBody => BODY,
        Var::RemoteAddr => REMOTE_ADDR,
        Var::ServerName => SERVER_NAME,
        Var::UniqueId => UNIQUE_ID,
        Var::ResponseStatus => RESPONSE_STATUS,
        Var::ResponseProtocol => RESPONSE_PROTOCOL,
        Var::ResponseBody => RESPONSE_BODY,
        Var::ResponseHeaders
        | Var::ResponseHeadersNames
        | Var::ResponseContentType
        | Var::ResponseContentLength => RESPONSE_HEADERS,
        _ => ALWAYS,
    }
}

/// The parts a link reads; [`ALWAYS`] for a `SecAction` (no targets: it
/// always runs).
pub(crate) fn of_link(rule: &Rule) -> u64 {
    if rule.targets.is_empty() {
        return ALWAYS;
    }
    rule.targets.iter().fold(0, |m, t| m | of_target(t))
}

/// Each part with its bit, in the order of [`RequestData`]'s fields.
fn parts(data: &RequestData) -> impl Iterator<Item = (u64, &[Item])> {
    fn single(bit: u64, i: &Option<Item>) -> (u64, &[Item]) {
        (bit, i.as_slice())
    }
    [
        single(METHOD, &data.method),
        single(URI, &data.uri),
        single(URI_RAW, &data.uri_raw),
        single(PROTOCOL, &data.protocol),
        single(FILENAME, &data.filename),
        single(BASENAME, &data.basename),
        single(QUERY, &data.query),
        single(REQUEST_LINE, &data.request_line),
        (ARGS_GET, data.args_get.as_slice()),
        (ARGS_POST, data.args_post.as_slice()),
        (HEADERS, data.headers.as_slice()),
        (COOKIES, data.cookies.as_slice()),
        single(BODY, &data.body),
        (FILES, data.files.as_slice()),
        (FILES_SIZES, data.files_sizes.as_slice()),
        (MULTIPART_NAMES, data.multipart_names.as_slice()),
        (MULTIPART_FILENAMES, data.multipart_filenames.as_slice()),
        (PART_HEADERS, data.part_headers.as_slice()),
        single(XML_ROOT, &data.xml_root),
        (XML_ATTRS, data.xml_attrs.as_slice()),
        single(REMOTE_ADDR, &data.remote_addr),
        single(SERVER_NAME, &data.server_name),
        single(UNIQUE_ID, &data.unique_id),
        single(RESPONSE_STATUS, &data.response_status),
        single(RESPONSE_PROTOCOL, &data.response_protocol),
        (RESPONSE_HEADERS, data.response_headers.as_slice()),
        single(RESPONSE_BODY, &data.response_body),
    ]
    .into_iter()
}

/// The parts that hold at least one item, and [`ALWAYS`].
pub(crate) fn present(data: &RequestData) -> u64 {
    parts(data)
        .filter(|(_, items)| !items.is_empty())
        .fold(ALWAYS, |m, (bit, _)| m | bit)
}

/// The parts holding an item with an id above `upto` (items are never
/// changed in place: a new value is a new item with a higher id), and
/// [`ALWAYS`].
pub(crate) fn newer_than(data: &RequestData, upto: u32) -> u64 {
    parts(data)
        .filter(|(_, items)| items.iter().any(|i| i.id > upto))
        .fold(ALWAYS, |m, (bit, _)| m | bit)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::collect::{Vars, collect};
    use super::super::data::Ids;
    use super::*;
    use crate::seclang::targets::parse_targets;

    fn mask(targets: &str) -> u64 {
        parse_targets(targets)
            .unwrap()
            .targets
            .iter()
            .fold(0, |m, t| m | of_target(t))
    }

    /// Every variable name the engine knows (from its name table).
    fn all_names() -> Vec<String> {
        let src = include_str!("../variables.rs");
        let names: Vec<String> = src
            .split("(\"")
            .skip(1)
            .filter_map(|s| {
                let (name, rest) = s.split_once("\", Var::")?;
                Some(name.to_string()).filter(|_| !rest.is_empty())
            })
            .collect();
        assert!(names.len() > 60, "{}", names.len());
        names
    }

    /// A transaction's data with only the part `bit` filled.
    fn only(bit: u64) -> RequestData {
        let mut ids = Ids::starting_after(0);
        let mut d = RequestData::default();
        let mut item = || {
            ids.item(
                b"content-type".to_vec(),
                b"text/xml; authorization".to_vec(),
            )
        };
        match bit {
            METHOD => d.method = Some(item()),
            URI => d.uri = Some(item()),
            URI_RAW => d.uri_raw = Some(item()),
            PROTOCOL => d.protocol = Some(item()),
            FILENAME => d.filename = Some(item()),
            BASENAME => d.basename = Some(item()),
            QUERY => d.query = Some(item()),
            REQUEST_LINE => d.request_line = Some(item()),
            ARGS_GET => d.args_get.push(item()),
            ARGS_POST => d.args_post.push(item()),
            HEADERS => d.headers.push(item()),
            COOKIES => d.cookies.push(item()),
            BODY => d.body = Some(item()),
            FILES => d.files.push(item()),
            FILES_SIZES => d.files_sizes.push(item()),
            MULTIPART_NAMES => d.multipart_names.push(item()),
            MULTIPART_FILENAMES => d.multipart_filenames.push(item()),
            PART_HEADERS => d.part_headers.push(item()),
            XML_ROOT => d.xml_root = Some(item()),
            XML_ATTRS => d.xml_attrs.push(item()),
            REMOTE_ADDR => d.remote_addr = Some(item()),
            SERVER_NAME => d.server_name = Some(item()),
            UNIQUE_ID => d.unique_id = Some(item()),
            RESPONSE_STATUS => d.response_status = Some(item()),
            RESPONSE_PROTOCOL => d.response_protocol = Some(item()),
            RESPONSE_HEADERS => d.response_headers.push(item()),
            RESPONSE_BODY => d.response_body = Some(item()),
            _ => {}
        }
        d
    }

    #[test]
    fn a_target_whose_parts_are_empty_collects_nothing() {
        let vars = Vars::default();
        let mut checked = 0;
        for name in all_names() {
            let mut list = vec![name.clone()];
            if name == "XML" {
                list = vec!["XML:/*".into(), "XML://@*".into()];
            }
            for text in list {
                let t = parse_targets(&text).unwrap().targets.remove(0);
                // Nothing filled, then each part alone.
                for bit in std::iter::once(0).chain((0..27).map(|b| 1u64 << b)) {
                    let data = only(bit);
                    if bit != 0 {
                        assert_eq!(present(&data), ALWAYS | bit);
                    }
                    let mut out = Vec::new();
                    collect(&data, &vars, &t, &|_, _| false, &mut out);
                    if of_target(&t) & present(&data) == 0 {
                        checked += 1;
                        assert!(out.is_empty(), "{text} with part {bit:#x}: {out:?}");
                    } else if of_target(&t) != ALWAYS
                        && !["AUTH_TYPE", "RESPONSE_CONTENT_LENGTH"].contains(&text.as_str())
                    {
                        // The mask is not needlessly wide: the part it names yields.
                        assert!(!out.is_empty(), "{text} with part {bit:#x}");
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn every_single_valued_variable_yields_a_value_where_it_applies() {
        // A request and response that fill every part a single variable is
        // taken from; a rule reads FULL_REQUEST and DURATION, and one match
        // sets MATCHED_VAR.
        use crate::clock::ManualClock;
        use std::sync::Arc;
        let clock = Arc::new(ManualClock::at_secs(1_700_000_000));
        let mut b = crate::RulesetBuilder::new().services(crate::services::Services {
            clock: clock.clone(),
            ..Default::default()
        });
        b.load_str(
            "SecRequestBodyAccess On\n\
             SecResponseBodyAccess On\n\
             SecRule FULL_REQUEST|DURATION \"@rx ^$\" \"id:1,phase:2,pass,nolog\"\n\
             SecRule ARGS:a \"@streq 1\" \"id:2,phase:2,pass,nolog\"\n",
            std::path::Path::new("/rules/test.conf"),
        )
        .unwrap();
        let rs = Arc::new(b.build().unwrap());
        let mut tx = crate::Transaction::new(rs);
        tx.set_connection("192.0.2.7".parse().unwrap(), 4242, "uid-1");
        tx.set_server_name("example.com");
        tx.set_request_line("POST", "/a/b.php?q=1", "HTTP/1.1");
        tx.add_request_header("Host", b"example.com");
        tx.add_request_header("Authorization", b"Basic dXNlcjpwdw==");
        tx.add_request_header("Content-Type", b"application/x-www-form-urlencoded");
        tx.add_request_header("Cookie", b"c=1");
        tx.process_request_headers();
        clock.advance(std::time::Duration::from_micros(2500));
        tx.append_request_body(b"a=1&b=2");
        tx.process_request_body();
        tx.set_response_status(200, "HTTP/1.1");
        tx.add_response_header("Content-Type", b"text/plain");
        tx.add_response_header("Content-Length", b"2");
        tx.append_response_body(b"ok");
        tx.process_response_body();
        let value = |name: &str| {
            let t = parse_targets(name).unwrap().targets.remove(0);
            let mut out = Vec::new();
            collect(&tx.data, &tx.vars, &t, &|_, _| false, &mut out);
            out.into_iter()
                .map(|c| c.value.into_owned())
                .collect::<Vec<_>>()
        };
        let mut checked = 0;
        for name in all_names() {
            let var = Var::from_name(&name).unwrap();
            if var.is_collection() {
                continue;
            }
            checked += 1;
            assert_eq!(value(&name).len(), 1, "{name} has no value");
        }
        assert!(checked > 40, "{checked}");
        let full = [
            &b"POST /a/b.php?q=1 HTTP/1.1\nHost: example.com\n"[..],
            b"Authorization: Basic dXNlcjpwdw==\n",
            b"Content-Type: application/x-www-form-urlencoded\nCookie: c=1\n\na=1&b=2",
        ]
        .concat();
        assert_eq!(value("FULL_REQUEST"), vec![full.clone()]);
        assert_eq!(
            value("FULL_REQUEST_LENGTH"),
            vec![full.len().to_string().into_bytes()]
        );
        assert_eq!(value("DURATION"), vec![b"2500".to_vec()]);
        assert_eq!(value("MATCHED_VAR"), vec![b"1".to_vec()]);
    }

    #[test]
    fn counts_collections_and_computed_values_are_always_present() {
        for t in [
            "&ARGS",
            "&RESPONSE_BODY",
            "TX:x",
            "IP:y",
            "MATCHED_VAR",
            "REQBODY_ERROR",
            "REQUEST_BODY_LENGTH",
            "FILES_COMBINED_SIZE",
            "DURATION",
            "REMOTE_PORT",
        ] {
            assert_eq!(mask(t), ALWAYS, "{t}");
        }
        assert_eq!(present(&RequestData::default()), ALWAYS);
    }

    #[test]
    fn parts_are_told_apart() {
        assert_eq!(mask("ARGS"), ARGS_GET | ARGS_POST);
        assert_eq!(
            mask("ARGS_NAMES|REQUEST_COOKIES"),
            ARGS_GET | ARGS_POST | COOKIES
        );
        assert_eq!(mask("XML:/*"), XML_ROOT);
        assert_eq!(mask("XML://@*"), XML_ATTRS);
        assert_eq!(mask("RESPONSE_BODY"), RESPONSE_BODY);
        assert_eq!(mask("REQUEST_HEADERS:User-Agent"), HEADERS);
    }

    #[test]
    fn newer_than_names_the_parts_with_later_items() {
        let mut ids = Ids::starting_after(0);
        let mut d = RequestData::default();
        d.headers.push(ids.item(b"a".to_vec(), b"1".to_vec()));
        d.method = Some(ids.item(Vec::new(), b"GET".to_vec()));
        assert_eq!(newer_than(&d, 0), ALWAYS | HEADERS | METHOD);
        assert_eq!(newer_than(&d, 1), ALWAYS | METHOD);
        assert_eq!(newer_than(&d, 2), ALWAYS);
        d.body = Some(ids.item(Vec::new(), Vec::new()));
        assert_eq!(newer_than(&d, 2), ALWAYS | BODY);
    }
}
