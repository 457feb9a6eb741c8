//! A minimal HTTP/1.1 server around the engine, for running the CRS regression
//! suite (`../shared/tools/crs_ftw.py --log-format jsonl`) against the engine
//! alone, without the gateway. Not a product: one connection at a time,
//! `Connection: close`, no keep-alive.
//!
//! ```text
//! cargo run --release -p rampart-waf --example ftw_server -- \
//!     127.0.0.1:8099 /tmp/waf-audit.jsonl 1 \
//!     /etc/modsecurity/crs/crs-setup.conf '/usr/share/modsecurity-crs/rules/*.conf'
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use rampart_waf::{Transaction, WafConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, log, paranoia, rules @ ..] = args.as_slice() else {
        eprintln!("usage: ftw_server LISTEN LOG PARANOIA RULES...");
        std::process::exit(2);
    };
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": rules.iter().map(PathBuf::from).collect::<Vec<_>>(),
        "paranoia_level": paranoia.parse::<u8>().unwrap(),
        "request_body_limit": 13_107_200,
    }))
    .unwrap();
    // RAMPART_WAF_NO_PREFILTER=1 runs every regex (to compare results).
    let mut builder = config
        .load(rampart_waf::services::Services::default())
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
    builder.settings_mut().prefilter = std::env::var_os("RAMPART_WAF_NO_PREFILTER").is_none();
    let ruleset = std::sync::Arc::new(builder.build().unwrap());
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let listener = TcpListener::bind(listen).unwrap();
    eprintln!("listening on {listen}, {} rules", ruleset.rule_count());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if let Some((id, ids, status)) = handle(&ruleset, stream) {
            let line = serde_json::json!({"request_id": id, "waf": {"matched_rules": ids}, "status": status});
            writeln!(log, "{line}").unwrap();
            log.flush().unwrap();
        }
    }
}

fn handle(
    ruleset: &std::sync::Arc<rampart_waf::Ruleset>,
    mut stream: TcpStream,
) -> Option<(String, Vec<u64>, u16)> {
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).ok()?;
    let request_line = String::from_utf8_lossy(&line).trim_end().to_string();
    let mut parts = request_line.splitn(3, ' ');
    let method = parts.next().unwrap_or("").to_string();
    let uri = parts.next().unwrap_or("").to_string();
    let protocol = parts.next().unwrap_or("HTTP/1.0").to_string();
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let mut h = Vec::new();
        if reader.read_until(b'\n', &mut h).ok()? == 0 {
            break;
        }
        let h = h.strip_suffix(b"\n").unwrap_or(&h);
        let h = h.strip_suffix(b"\r").unwrap_or(h);
        if h.is_empty() {
            break;
        }
        if let Some(p) = h.iter().position(|&c| c == b':') {
            let name = String::from_utf8_lossy(&h[..p]).to_string();
            let value = h[p + 1..].trim_ascii().to_vec();
            headers.push((name, value));
        }
    }
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length")
        .and_then(|v| String::from_utf8_lossy(&v).trim().parse::<usize>().ok())
    {
        body.resize(len.min(16 << 20), 0);
        let _ = reader.read_exact(&mut body);
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked")) {
        loop {
            let mut size = Vec::new();
            if reader.read_until(b'\n', &mut size).ok()? == 0 {
                break;
            }
            let n = usize::from_str_radix(
                String::from_utf8_lossy(&size)
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or("0"),
                16,
            )
            .unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n.min(16 << 20)];
            let _ = reader.read_exact(&mut chunk);
            body.extend_from_slice(&chunk);
            let mut crlf = Vec::new();
            let _ = reader.read_until(b'\n', &mut crlf);
        }
    }
    let id = header("x-request-id")
        .map(|v| String::from_utf8_lossy(&v).to_string())
        .unwrap_or_default();
    let mut tx = Transaction::new(ruleset.clone());
    let peer = stream.peer_addr().ok()?;
    tx.set_connection(peer.ip(), peer.port(), &id);
    tx.set_request_line(&method, &uri, &protocol);
    for (n, v) in &headers {
        tx.add_request_header(n, v);
    }
    tx.process_request_headers();
    tx.append_request_body(&body);
    tx.process_request_body();
    let status = tx.interruption().map_or(200, |i| i.status);
    if status == 200 {
        tx.set_response_status(200, "HTTP/1.1");
        tx.add_response_header("Content-Type", b"text/html");
        tx.process_response_headers();
        tx.process_response_body();
    }
    tx.process_logging();
    let status = tx.interruption().map_or(200, |i| i.status);
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(reply.as_bytes());
    Some((id, tx.matched_rule_ids(), status))
}
