//! What the differential examples (`fold_diff`, `prefilter_diff`) share: the
//! CRS ruleset with one engine setting changed, the request list made by
//! `crs_requests.py`, and one transaction through phases 1, 2 and 5.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rampart_waf::ruleset::Settings;
use rampart_waf::{Ruleset, Transaction, WafConfig};

/// Debian's CRS at `paranoia`, with `configure` applied to the settings.
pub fn ruleset(paranoia: u8, configure: impl FnOnce(&mut Settings)) -> Arc<Ruleset> {
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": paranoia,
        "request_body_limit": 13_107_200,
    }))
    .unwrap();
    let mut builder = config
        .load(rampart_waf::services::Services::default())
        .unwrap();
    configure(builder.settings_mut());
    Arc::new(builder.build().unwrap())
}

/// The command line: the request list's path (usage names `example`) and
/// the paranoia level (default 1).
pub fn args(example: &str) -> (String, u8) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .unwrap_or_else(|| panic!("usage: {example} REQUESTS.json [PARANOIA]"))
        .clone();
    let paranoia = args.get(1).map_or(1, |p| p.parse().unwrap());
    (path, paranoia)
}

/// The list `crs_requests.py` wrote: (test id, raw request bytes).
pub fn requests(path: &str) -> Vec<(String, Vec<u8>)> {
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    list.iter()
        .map(|entry| {
            let id = entry["id"].as_str().unwrap_or("?").to_string();
            // The runner's requests are latin-1 text: one char per byte.
            let raw = entry["raw"]
                .as_str()
                .unwrap_or("")
                .chars()
                .map(|c| c as u32 as u8)
                .collect();
            (id, raw)
        })
        .collect()
}

/// Method, target, protocol, headers, body.
type Request = (String, String, String, Vec<(String, Vec<u8>)>, Vec<u8>);

/// Splits a raw HTTP/1 request into request line parts, headers and body.
fn parse(raw: &[u8]) -> Option<Request> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, p + 2))
        })
        .unwrap_or((raw.len(), raw.len()));
    let head = String::from_utf8_lossy(&raw[..end.0]).into_owned();
    let body = raw[end.1..].to_vec();
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let mut parts = lines.next()?.splitn(3, ' ');
    let method = parts.next()?.to_string();
    let uri = parts.next().unwrap_or("/").to_string();
    let protocol = parts.next().unwrap_or("HTTP/1.0").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().as_bytes().to_vec()))
        .collect();
    Some((method, uri, protocol, headers, body))
}

/// Runs `raw` through phases 1, 2 and 5 (`prepare` sees the transaction
/// first); `None` when it is not an HTTP request.
pub fn run(
    rs: &Arc<Ruleset>,
    raw: &[u8],
    prepare: impl FnOnce(&mut Transaction),
) -> Option<Transaction> {
    let (method, uri, protocol, headers, body) = parse(raw)?;
    let mut tx = Transaction::new(rs.clone());
    prepare(&mut tx);
    tx.set_connection(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 40000, "diff");
    tx.set_request_line(&method, &uri, &protocol);
    for (n, v) in &headers {
        tx.add_request_header(n, v);
    }
    tx.process_request_headers();
    tx.append_request_body(&body);
    tx.process_request_body();
    tx.process_logging();
    Some(tx)
}
