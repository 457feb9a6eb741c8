//! Proxying: what passes, what the upstream sees, and the gateway's own errors.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use crate::support::*;

#[tokio::test]
async fn get_and_post_pass_with_forwarding_headers_and_clean_responses() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;

    let (status, headers, body) = get(&gw.url("/users/1?page=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["path"], "/users/1?page=2");
    assert!(
        headers.get("server").is_none(),
        "upstream Server header leaked"
    );
    assert!(headers.get("x-powered-by").is_none());
    assert_eq!(headers["x-request-id"].len(), 32);
    let seen = upstream.last();
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "127.0.0.1");
    assert_eq!(seen.headers["x-request-id"], headers["x-request-id"]);

    let post = Request::post(gw.url("/users"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"name":"alice"}"#)))
        .unwrap();
    let (status, _, body) = send(post).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["body_len"], 16);
    assert_eq!(
        upstream.last().body,
        Bytes::from_static(br#"{"name":"alice"}"#)
    );
}

#[tokio::test]
async fn inbound_request_id_is_kept_when_well_formed_and_replaced_otherwise() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let request = |id: &str| {
        Request::get(gw.url("/"))
            .header("x-request-id", id)
            .body(Full::default())
            .unwrap()
    };
    let (_, headers, _) = send(request("ftw-1234-abcd")).await;
    assert_eq!(headers["x-request-id"], "ftw-1234-abcd");
    assert_eq!(upstream.last().headers["x-request-id"], "ftw-1234-abcd");
    let (_, headers, _) = send(request("bad id; drop table")).await;
    assert_ne!(headers["x-request-id"], "bad id; drop table");
    assert_eq!(headers["x-request-id"].len(), 32);
}

#[tokio::test]
async fn forwarded_headers_from_untrusted_clients_are_replaced() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let request = Request::get(gw.url("/"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .body(Full::default())
        .unwrap();
    send(request).await;
    let seen = upstream.last();
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-host"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["client_ip"], "127.0.0.1");
}

#[tokio::test]
async fn an_ipv4_client_of_a_dual_stack_listener_is_named_by_its_ipv4_address() {
    // IPv6 unavailable (or v6-only sockets): nothing to test.
    if std::net::TcpListener::bind("[::]:0").is_err() {
        return;
    }
    let upstream = Upstream::start().await;
    let yaml = config_yaml(upstream.addr, "trusted_proxies: [127.0.0.1]", "").replace(
        "  - bind: 127.0.0.1:0\nadmin",
        "  - bind: \"[::]:0\"\nadmin",
    );
    let gw = start(&yaml).await;
    assert!(gw.addr.is_ipv6(), "{}", gw.addr);
    // The peer arrives as ::ffff:127.0.0.1: it is the trusted 127.0.0.1.
    let url = format!("http://127.0.0.1:{}/", gw.addr.port());
    let request = Request::get(url)
        .header("x-forwarded-for", "::ffff:198.51.100.7")
        .body(Full::default())
        .unwrap();
    send(request).await;
    assert_eq!(
        upstream.last().headers["x-forwarded-for"],
        "::ffff:198.51.100.7, 127.0.0.1"
    );
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["client_ip"], "198.51.100.7");
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_sets_the_client_ip() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "trusted_proxies: [127.0.0.1]",
        "",
    ))
    .await;
    let request = Request::get(gw.url("/"))
        .header("x-forwarded-for", "198.51.100.7")
        .body(Full::default())
        .unwrap();
    send(request).await;
    assert_eq!(
        upstream.last().headers["x-forwarded-for"],
        "198.51.100.7, 127.0.0.1"
    );
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["client_ip"], "198.51.100.7");
    // A proxy that adds its own line (HAProxy's `option forwardfor`): the
    // upstream gets every line, so it sees the client Rampart judged.
    let request = Request::get(gw.url("/"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-for", "198.51.100.8")
        .body(Full::default())
        .unwrap();
    send(request).await;
    assert_eq!(
        upstream.last().headers["x-forwarded-for"],
        "6.6.6.6, 198.51.100.8, 127.0.0.1"
    );
    let records = gw.audit_records(2).await;
    assert_eq!(records[1]["client_ip"], "198.51.100.8");
}

#[tokio::test]
async fn hop_by_hop_headers_do_not_reach_the_upstream() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let request = Request::get(gw.url("/"))
        .header("connection", "x-internal-hop")
        .header("x-internal-hop", "1")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("te", "trailers")
        .body(Full::default())
        .unwrap();
    send(request).await;
    let seen = upstream.last();
    for name in ["x-internal-hop", "proxy-authorization", "te"] {
        assert!(seen.headers.get(name).is_none(), "{name} was forwarded");
    }
}

#[tokio::test]
async fn paths_are_normalised_before_routing_and_forwarding() {
    let upstream = Upstream::start().await;
    let yaml = format!(
        "listeners:\n  - bind: 127.0.0.1:0\nadmin: {{bind: 127.0.0.1:0}}\naudit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\napis:\n  - name: public\n    path_prefix: /public\n    upstream: {{url: http://{0}}}\n  - name: users\n    path_prefix: /users/v1\n    upstream: {{url: http://{0}}}\n",
        upstream.addr
    );
    let gw = start(&yaml).await;
    // `/public/../admin` is `/admin`: no API serves it.
    let out = raw(
        gw.addr,
        b"GET /public/%2e%2e/admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status_of(&out), 404, "{out}");
    assert!(upstream.paths().is_empty());
    let out = raw(
        gw.addr,
        b"GET /users/v1/%5Fdebug HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
    assert_eq!(upstream.paths(), vec!["/users/v1/_debug"]);
    let out = raw(
        gw.addr,
        b"GET /users/v1/a/../b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
    assert_eq!(upstream.paths().last().unwrap(), "/users/v1/b");
    // The query travels unchanged, whether the path was rewritten or not (an
    // unchanged target is passed on as it arrived).
    for (sent, seen) in [
        ("/users/v1/a?x=1&y=%2F", "/users/v1/a?x=1&y=%2F"),
        ("/users/v1/a/./b?x=1", "/users/v1/a/b?x=1"),
        ("/users/v1/%61?q", "/users/v1/a?q"),
    ] {
        let request = format!("GET {sent} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let out = raw(gw.addr, request.as_bytes(), Duration::from_secs(2)).await;
        assert_eq!(status_of(&out), 200, "{out}");
        assert_eq!(upstream.paths().last().unwrap(), seen, "{sent}");
    }
    let out = raw(
        gw.addr,
        b"GET /users/v1/%zz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status_of(&out), 400, "{out}");
    assert!(out.contains("urn:rampart:problem:malformed-request"));
}

/// A raw UTF-8 path (and query) is served, going upstream percent-encoded;
/// it used to get 400.
#[tokio::test]
async fn a_raw_utf8_path_goes_upstream_percent_encoded() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let out = raw(
        gw.addr,
        b"GET /caf\xc3\xa9?q=\xc3\xa9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
    assert_eq!(upstream.paths(), vec!["/caf%C3%A9?q=%C3%A9"]);
}

/// Paths Tomcat/Spring (`..;`), Node/IIS (`\\`) or slash-merging servers
/// read as `/admin` never reach the `/public` API: refused, or (`//`)
/// merged before routing and forwarded merged.
#[tokio::test]
async fn paths_other_servers_read_as_another_do_not_reach_the_public_api() {
    let upstream = Upstream::start().await;
    let yaml = format!(
        "listeners:\n  - bind: 127.0.0.1:0\nadmin: {{bind: 127.0.0.1:0}}\naudit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\napis:\n  - name: public\n    path_prefix: /public\n    upstream: {{url: http://{0}}}\n",
        upstream.addr
    );
    let gw = start(&yaml).await;
    for target in [
        &b"/public/..;/admin"[..],
        b"/public/..;jsessionid=1/admin",
        b"/public/..\\admin",
        b"/public/..%5Cadmin",
    ] {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let out = raw(gw.addr, &request, Duration::from_secs(2)).await;
        let target = String::from_utf8_lossy(target);
        assert_eq!(status_of(&out), 400, "{target}: {out}");
        assert!(
            out.contains("urn:rampart:problem:malformed-request"),
            "{target}"
        );
    }
    assert!(upstream.paths().is_empty(), "{:?}", upstream.paths());
    // `//public//x`: routed and forwarded as `/public/x`.
    let out = raw(
        gw.addr,
        b"GET //public//x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
    assert_eq!(upstream.paths(), vec!["/public/x"]);
}

/// `/admin;jsessionid=1` is `/admin` to Tomcat, Jetty and Spring: it is
/// routed to the `/admin` API, not to the one under `/` (it used to be).
#[tokio::test]
async fn a_path_with_parameters_is_routed_as_without_them() {
    let open = Upstream::start().await;
    let admin = Upstream::start().await;
    let yaml = format!(
        "listeners:\n  - bind: 127.0.0.1:0\nadmin: {{bind: 127.0.0.1:0}}\naudit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\napis:\n  - name: open\n    path_prefix: /\n    upstream: {{url: http://{}}}\n  - name: admin\n    path_prefix: /admin\n    upstream: {{url: http://{}}}\n",
        open.addr, admin.addr
    );
    let gw = start(&yaml).await;
    for target in ["/admin;jsessionid=1", "/admin;x/users", "/;x/admin/users"] {
        let (status, _, _) = get(&gw.url(target)).await;
        assert_eq!(status, StatusCode::OK, "{target}");
    }
    assert!(open.paths().is_empty(), "{:?}", open.paths());
    assert_eq!(admin.paths().len(), 3);
    // Parameters elsewhere leave the route alone.
    let (status, _, _) = get(&gw.url("/adminx;y")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open.paths(), vec!["/adminx;y"]);
}

#[tokio::test]
async fn a_stripped_prefix_is_cut_by_whole_segments() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "",
        "    path_prefix: /api/v1\n    strip_prefix: true",
    ))
    .await;
    for (target, forwarded) in [
        ("/api/v1/users?x=1", "/users?x=1"),
        ("/api/v1", "/"),
        ("/api/v1/", "/"),
        ("/api/v1/a;b", "/a;b"),
    ] {
        let (status, _, _) = get(&gw.url(target)).await;
        assert_eq!(status, StatusCode::OK, "{target}");
        assert_eq!(upstream.last().path_and_query, forwarded, "{target}");
    }
    // Routed with path parameters set aside, the prefix is not there to cut:
    // refused, not forwarded whole or cut mid-segment.
    for target in ["/api;x/v1/users", "/api/v1;x/users"] {
        let (status, headers, body) = get(&gw.url(target)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{target}");
        assert_problem(&headers, &body, "malformed-request", 400);
    }
    assert_eq!(upstream.paths().len(), 4);
}

#[tokio::test]
async fn unknown_routes_get_a_404_problem() {
    let upstream = Upstream::start().await;
    let yaml = config_yaml(
        upstream.addr,
        "",
        "    path_prefix: /api\n    hosts: [api.example]",
    );
    let gw = start(&yaml).await;
    let (status, headers, body) = get(&gw.url("/api/x")).await; // wrong host
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_problem(&headers, &body, "route-not-found", 404);
    let request = Request::get(gw.url("/api/x"))
        .header("host", "API.example:8080")
        .body(Full::default())
        .unwrap();
    let (status, _, _) = send(request).await;
    assert_eq!(status, StatusCode::OK);
    let request = Request::get(gw.url("/apix"))
        .header("host", "api.example")
        .body(Full::default())
        .unwrap();
    let (status, _, _) = send(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(upstream.paths(), vec!["/api/x"]);
}

#[tokio::test]
async fn unreachable_upstream_is_502_and_slow_upstream_is_504() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = start(&config_yaml(closed, "", "")).await;
    let (status, headers, body) = get(&gw.url("/")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_problem(&headers, &body, "upstream-unreachable", 502);
    assert!(
        !String::from_utf8_lossy(&body).contains("refused"),
        "internal detail leaked"
    );

    let upstream = Upstream::start().await;
    let yaml = config_yaml(upstream.addr, "", "      response_header_timeout: 200ms");
    let gw = start(&yaml).await;
    let (status, headers, body) = get(&gw.url("/slow/2000")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_problem(&headers, &body, "upstream-timeout", 504);
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["decision"], "error");
    assert_eq!(records[0]["reason"], "upstream-timeout");
}

#[tokio::test]
async fn requests_past_the_in_flight_limit_get_503() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {max_in_flight: 1}",
        "",
    ))
    .await;
    let url = gw.url("/slow/700");
    let slow = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, headers, body) = get(&gw.url("/")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_problem(&headers, &body, "overloaded", 503);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    assert_eq!(get(&gw.url("/")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn admin_serves_health_readiness_and_metrics() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    get(&gw.url("/")).await;
    get(&gw.url("/")).await;
    let admin = |path: &str| format!("http://{}{}", gw.admin, path);
    assert_eq!(get(&admin("/healthz")).await.0, StatusCode::OK);
    assert_eq!(get(&admin("/readyz")).await.0, StatusCode::OK);
    let (status, headers, body) = get(&admin("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("rampart_requests_total{api=\"echo\""),
        "{text}"
    );
    assert!(
        text.contains("rampart_request_duration_seconds_bucket"),
        "{text}"
    );
    assert_eq!(get(&admin("/nope")).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_admin_listener_closes_heads_that_do_not_arrive() {
    // The client listeners' header-read timeout holds on the admin listener too:
    // a trickled head does not hold a connection (and a descriptor) forever.
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {header_read_timeout: 300ms}",
        "",
    ))
    .await;
    let started = std::time::Instant::now();
    let out = raw(
        gw.admin,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "still open after {:?}: {out}",
        started.elapsed()
    );
    // A whole request is served as before.
    let out = raw(
        gw.admin,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
}

/// An upstream that sends its response head and half the body at once, and the
/// other half after `pause`: a slow streamed response.
async fn trickling_upstream(pause: Duration) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
                    .await;
                tokio::time::sleep(pause).await;
                let _ = stream.write_all(b"world").await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_streaming_response_holds_its_in_flight_slot_until_the_body_ends() {
    use http_body_util::BodyExt;
    let upstream = trickling_upstream(Duration::from_millis(800)).await;
    let gw = start(&config_yaml(upstream, "limits: {max_in_flight: 1}", "")).await;
    // The head of the first response arrives at once; its body is still streaming.
    let response = client()
        .request(
            Request::get(gw.url("/stream"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, headers, body) = get(&gw.url("/other")).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "slot released at the head"
    );
    assert_problem(&headers, &body, "overloaded", 503);
    // Once the body has ended the slot is free again.
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"helloworld");
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = get(&gw.url("/again")).await.0;
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, StatusCode::OK);
}
