//! The OpenAPI response checks through the real binary, against an upstream
//! whose answers no header announces as having a body (chunked, or ended by
//! closing the connection): an undeclared body must be refused all the same,
//! and a declared JSON one still passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;

use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /users/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: a user
          content:
            application/json:
              schema:
                type: object
                properties:
                  id: {type: string}
"#;

/// What the upstream answers for each path (after the head).
fn answer(path: &str) -> &'static str {
    match path {
        // A stack trace as an HTML page, chunked.
        "/users/chunked-html" => {
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n\
             14\r\n<html>trace at x</h>\r\n0\r\n\r\n"
        }
        // The same without a type, ended by closing the connection.
        "/users/closed-untyped" => "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nTraceback: line 1",
        // Declared JSON, chunked: passes.
        "/users/chunked-json" => {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
             a\r\n{\"id\":\"7\"}\r\n0\r\n\r\n"
        }
        // An empty chunked body of an undeclared type: nothing to refuse.
        _ => {
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        }
    }
}

/// Answers one request per connection, then closes it.
fn start_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head);
            let path = text.split(' ').nth(1).unwrap_or("/").to_string();
            let _ = stream.write_all(answer(&path).as_bytes());
        }
    });
    port
}

#[test]
fn undeclared_bodies_are_refused_whatever_their_framing() {
    let dir = temp_dir("openapi-responses");
    let upstream = start_upstream();
    let (port, admin) = (free_port(), free_port());
    std::fs::write(dir.join("spec.yaml"), SPEC).unwrap();
    let config = dir.join("rampart.yaml");
    std::fs::write(
        &config,
        format!(
            "listeners: [{{name: main, bind: 127.0.0.1:{port}}}]\n\
             admin: {{bind: 127.0.0.1:{admin}}}\n\
             audit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\n\
             apis:\n  - name: users\n    path_prefix: /\n    upstream: {{url: http://127.0.0.1:{upstream}}}\n    openapi: {{spec: spec.yaml}}\n"
        ),
    )
    .unwrap();
    let _gateway = serve(&dir, &config, port, "/users/empty");

    for path in ["/users/chunked-html", "/users/closed-untyped"] {
        let resp = send(port, &Req::get(path));
        assert_eq!(resp.status, 200, "{path}: {resp:?}");
        assert_eq!(resp.slug(), "response-not-declared", "{path}");
        assert!(!resp.body.contains("trace"), "{path}: {}", resp.body);
    }
    let resp = send(port, &Req::get("/users/chunked-json"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), serde_json::json!({"id": "7"}));
    let resp = send(port, &Req::get("/users/empty"));
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.body, "");
}
