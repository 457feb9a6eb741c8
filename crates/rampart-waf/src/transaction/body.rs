//! Filling [`RequestData`] from the request line, headers and body.

use super::collect::Vars;
use super::data::{Ids, RequestData};
use crate::body::{json, multipart, urlencoded, xml};
use crate::ruleset::Settings;
use crate::seclang::actions::BodyProcessor;

/// Parses the request line into URI, path, basename, query and ARGS_GET.
/// `app_path`: the path the application receives, when a proxy changed it
/// (removed dot segments); REQUEST_FILENAME and REQUEST_BASENAME are taken
/// from it rather than from `uri`.
pub(crate) fn set_request_line(
    data: &mut RequestData,
    ids: &mut Ids,
    settings: &Settings,
    method: &str,
    uri: &str,
    app_path: Option<&str>,
    protocol: &str,
) {
    data.method = Some(ids.item(Vec::new(), method.as_bytes().to_vec()));
    data.protocol = Some(ids.item(Vec::new(), protocol.as_bytes().to_vec()));
    data.uri_raw = Some(ids.item(Vec::new(), uri.as_bytes().to_vec()));
    // Joined by hand: `format!` costs more than the copies themselves.
    let mut line = Vec::with_capacity(method.len() + uri.len() + protocol.len() + 2);
    line.extend_from_slice(method.as_bytes());
    line.push(b' ');
    line.extend_from_slice(uri.as_bytes());
    line.push(b' ');
    line.extend_from_slice(protocol.as_bytes());
    data.request_line = Some(ids.item(Vec::new(), line));
    // Absolute-form targets keep only path and query in REQUEST_URI.
    let relative = match uri.find("://") {
        Some(p) if !uri[..p].contains('/') => {
            let after = &uri[p + 3..];
            after.find('/').map_or("/", |s| &after[s..])
        }
        _ => uri,
    };
    data.uri = Some(ids.item(Vec::new(), relative.as_bytes().to_vec()));
    let (path, query) = match relative.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (relative, None),
    };
    // As in ModSecurity, REQUEST_FILENAME and REQUEST_BASENAME are
    // percent-decoded (REQUEST_URI is not). Behind a proxy they name what the
    // application gets: a rule that turns inspection off for
    // `@beginsWith /api/upload` must not be met by `/api/upload/../users`,
    // which the application receives as `/api/users` (REQUEST_URI and
    // REQUEST_LINE keep the `../` for the traversal rules).
    let decoded = percent_decode(app_path.unwrap_or(path).as_bytes());
    let base = decoded
        .rsplit(|&c| c == b'/')
        .next()
        .unwrap_or_default()
        .to_vec();
    data.filename = Some(ids.item(Vec::new(), decoded));
    data.basename = Some(ids.item(Vec::new(), base));
    if let Some(q) = query {
        data.query = Some(ids.item(Vec::new(), q.as_bytes().to_vec()));
        let (pairs, truncated) = urlencoded::parse(
            q.as_bytes(),
            settings.argument_separator,
            settings.arguments_limit,
        );
        if truncated {
            data.inbound_data_error = true;
        }
        data.args_get = pairs.into_iter().map(|(k, v)| ids.item(k, v)).collect();
    } else {
        data.query = Some(ids.item(Vec::new(), Vec::new()));
    }
}

/// REMOTE_ADDR's text: an IPv4 address written by hand (what `Display`
/// writes, through the formatting machinery, for about ten times the
/// instructions), IPv6 through `Display`.
pub(crate) fn ip_text(ip: std::net::IpAddr) -> Vec<u8> {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string().into_bytes();
    };
    let mut out = Vec::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if octet >= 100 {
            out.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            out.push(b'0' + octet / 10 % 10);
        }
        out.push(b'0' + octet % 10);
    }
    out
}

/// `%XX` decoding without the `+` to space rule of forms.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%'
            && let Some(b) = crate::transformations::hex_pair(s, i + 1)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Headers allowed per request; more are ignored (the gateway bounds them first).
const HEADER_LIMIT: usize = 1000;

/// Adds a header; `Cookie` headers also fill REQUEST_COOKIES.
pub(crate) fn add_request_header(data: &mut RequestData, ids: &mut Ids, name: &str, value: &[u8]) {
    if data.headers.len() >= HEADER_LIMIT {
        data.inbound_data_error = true;
        return;
    }
    if name.eq_ignore_ascii_case("cookie") {
        for part in value.split(|&c| c == b';') {
            let part = trim(part);
            if part.is_empty() {
                continue;
            }
            let (k, v) = match part.iter().position(|&c| c == b'=') {
                Some(p) => (
                    part.get(..p).unwrap_or_default(),
                    part.get(p + 1..).unwrap_or_default(),
                ),
                None => (part, &b""[..]),
            };
            let item = ids.item(trim(k).to_vec(), v.to_vec());
            data.cookies.push(item);
        }
    }
    let item = ids.item(name.as_bytes().to_vec(), value.to_vec());
    data.headers.push(item);
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let Some((c, rest)) = s.split_first() {
        if !c.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let Some((c, rest)) = s.split_last() {
        if !c.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

/// URLENCODED or MULTIPART from the Content-Type (JSON and XML are chosen by rules).
pub(crate) fn processor_from_content_type(data: &RequestData) -> Option<BodyProcessor> {
    let ct = data.header("content-type")?.to_ascii_lowercase();
    let ct = trim(&ct);
    if ct.starts_with(b"application/x-www-form-urlencoded") {
        Some(BodyProcessor::Urlencoded)
    } else if ct.starts_with(b"multipart/form-data") {
        Some(BodyProcessor::Multipart)
    } else {
        None
    }
}

/// Whether a body sent without a Content-Type is read as JSON.
///
/// FastAPI (Starlette) parses a body without Content-Type (or with an empty
/// one) as JSON, so such a body carries arguments the rules must see as
/// ARGS: `{"name":"x' UNION SELECT ..."}` sent bare passed the SQLi rules,
/// which do not read REQUEST_BODY. Frameworks that ignore such a body
/// (Express, PHP) lose nothing by its being inspected.
///
/// The body is JSON when it starts like a JSON document that can carry text
/// (`{`, `[` or `"`, after whitespace and a UTF-8 byte order mark) or is
/// UTF-16/32, which Python's `json.loads` detects. Such a body that does not
/// parse here (a byte order mark, UTF-16, `NaN`) is a REQBODY_ERROR, which
/// rule 200002 refuses, rather than passing unread while the application
/// may still parse it. Anything else (form-like text, binary data, a bare
/// number) is left as it was: REQUEST_BODY only, when forced (CRS 901340).
pub(crate) fn json_without_content_type(data: &RequestData, body: &[u8]) -> bool {
    // The first value, as Starlette reads it (and as the processor choice
    // does): an empty one followed by `text/plain` is untyped there.
    let typed = data
        .header("content-type")
        .is_some_and(|value| !trim(value).is_empty());
    if typed || body.is_empty() {
        return false;
    }
    // Python's detection of UTF-16 and UTF-32: a byte order mark, or a NUL
    // among the first two bytes; then only a document that starts like JSON
    // (its first character, past the NULs of its encoding) is taken for one,
    // so binary bodies with early NULs (BSON, protobuf) stay unread.
    if body.starts_with(&[0xfe, 0xff]) || body.starts_with(&[0xff, 0xfe]) {
        return true;
    }
    if body.iter().take(2).any(|&c| c == 0) {
        return matches!(
            body.iter().take(4).find(|&&c| c != 0),
            Some(b'{' | b'[' | b'"' | b' ' | b'\t' | b'\n' | b'\r')
        );
    }
    let text = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    matches!(
        text.iter()
            .find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r')),
        Some(b'{' | b'[' | b'"')
    )
}

/// Runs the body processor. REQUEST_BODY is filled, as in ModSecurity v2,
/// only for URLENCODED bodies or with `ctl:forceRequestBodyVariable=On` (CRS
/// 901340 sets it when no processor was chosen); JSON, XML and multipart
/// bodies are inspected parsed.
pub(crate) fn process(
    data: &mut RequestData,
    ids: &mut Ids,
    vars: &Vars,
    settings: &Settings,
    body: Vec<u8>,
    force_body_variable: bool,
    keep_raw: bool,
) {
    data.body_length = body.len();
    let error = |data: &mut RequestData, msg: String| {
        data.reqbody_error = true;
        data.reqbody_error_msg = msg.into_bytes();
    };
    match vars.body_processor {
        Some(BodyProcessor::Urlencoded) => {
            let (pairs, truncated) =
                urlencoded::parse(&body, settings.argument_separator, settings.arguments_limit);
            if truncated {
                data.inbound_data_error = true;
            }
            data.args_post = pairs.into_iter().map(|(k, v)| ids.item(k, v)).collect();
        }
        Some(BodyProcessor::Json) => {
            match json::parse(&body, settings.json_depth_limit, settings.arguments_limit) {
                Ok(pairs) => {
                    data.args_post = pairs.into_iter().map(|(k, v)| ids.item(k, v)).collect()
                }
                Err(e) => error(data, e),
            }
        }
        Some(BodyProcessor::Xml) => match xml::parse(&body) {
            Ok(x) => {
                data.xml_root = Some(ids.item(Vec::new(), x.text));
                data.xml_attrs = x
                    .attributes
                    .into_iter()
                    .map(|(k, v)| ids.item(k, v))
                    .collect();
            }
            Err(e) => error(data, e),
        },
        Some(BodyProcessor::Multipart) => {
            let ct = data.header("content-type").unwrap_or_default().to_vec();
            let m = multipart::parse(&body, &ct);
            if let Some(e) = m.error {
                data.multipart_error = true;
                error(data, e);
            }
            data.multipart_flags = m.flags;
            data.args_post = m.args.into_iter().map(|(k, v)| ids.item(k, v)).collect();
            for f in m.files {
                data.files_combined_size += f.size;
                let sizes = ids.item(f.name.clone(), f.size.to_string().into_bytes());
                data.files_sizes.push(sizes);
                let name_item = ids.item(f.name.clone(), f.name.clone());
                data.multipart_names.push(name_item);
                let fname = ids.item(f.name.clone(), f.filename.clone());
                data.multipart_filenames.push(fname);
                let file = ids.item(f.name, f.filename);
                data.files.push(file);
            }
            data.part_headers = m
                .part_headers
                .into_iter()
                .map(|(k, v)| ids.item(k, v))
                .collect();
        }
        None => {}
    }
    // As in ModSecurity, everything but the contents of uploaded files
    // (fields, part headers, boundaries) counts.
    data.no_files_limit_exceeded =
        body.len().saturating_sub(data.files_combined_size) > settings.request_body_no_files_limit;
    if force_body_variable || vars.body_processor == Some(BodyProcessor::Urlencoded) {
        data.body = Some(ids.item(Vec::new(), body));
    } else if keep_raw {
        data.raw_body = body;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_is_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "127.0.0.1",
            "192.0.2.10",
            "255.255.255.255",
            "10.200.1.20",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string().into_bytes(), "{ip}");
        }
        for a in 0..=255u8 {
            let ip = std::net::IpAddr::from([a, 255 - a, a / 3, a.wrapping_mul(7)]);
            assert_eq!(ip_text(ip), ip.to_string().into_bytes());
        }
    }
}
