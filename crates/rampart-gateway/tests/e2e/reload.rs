//! Hot reload under load and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_reloads_under_load_fail_no_request() {
    let upstream = Upstream::start().await;
    let yaml = config_yaml(upstream.addr, "", "");
    let gw = start(&yaml).await;
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (ok, failed, url) = (ok.clone(), failed.clone(), gw.url("/load"));
        clients.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_secs(5), get(&url)).await {
                    Ok((StatusCode::OK, _, _)) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let mut reloads = 0;
    while tokio::time::Instant::now() < deadline {
        // Alternate between two valid configurations (different limits).
        let limit = if reloads % 2 == 0 {
            "limits: {max_headers: 50}"
        } else {
            "limits: {max_headers: 60}"
        };
        std::fs::write(gw.config_path(), config_yaml(upstream.addr, limit, "")).unwrap();
        gw.gateway.reload().await.unwrap();
        reloads += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for client in clients {
        client.await.unwrap();
    }
    assert!(reloads >= 10, "only {reloads} reloads");
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "too little load: {}",
        ok.load(Ordering::Relaxed)
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during {reloads} reloads"
    );
    assert_eq!(
        gw.gateway.runtime().config.limits.max_headers,
        if reloads % 2 == 0 { 60 } else { 50 }
    );
}

#[tokio::test]
async fn a_bad_configuration_is_refused_and_the_old_one_keeps_serving() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    std::fs::write(
        gw.config_path(),
        "listeners: []\napis:\n  - name: x\n    upstream: {url: ftp://nope}\n    colour: red\n",
    )
    .unwrap();
    let errors = gw.gateway.reload().await.unwrap_err();
    assert!(errors.to_string().contains("rampart.yaml:5"), "{errors}");
    assert_eq!(get(&gw.url("/still")).await.0, StatusCode::OK);
    let (_, _, metrics) = get(&format!("http://{}/metrics", gw.admin)).await;
    assert!(
        String::from_utf8_lossy(&metrics)
            .contains("rampart_config_reloads_total{result=\"error\"}")
    );
}

#[tokio::test]
async fn the_in_flight_limit_holds_across_reloads_and_follows_its_changes() {
    let upstream = Upstream::start().await;
    let config = |limit: usize| {
        config_yaml(
            upstream.addr,
            &format!("limits: {{max_in_flight: {limit}}}"),
            "",
        )
    };
    let gw = start(&config(1)).await;
    let url = gw.url("/slow/1500");
    let slow = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The running request still holds the one permit after a reload.
    gw.gateway.reload().await.unwrap();
    assert_eq!(get(&gw.url("/")).await.0, StatusCode::SERVICE_UNAVAILABLE);
    // Raised to 2: one more fits beside it.
    std::fs::write(gw.config_path(), config(2)).unwrap();
    gw.gateway.reload().await.unwrap();
    assert_eq!(get(&gw.url("/")).await.0, StatusCode::OK);
    // Lowered to 1 again: the running request uses it all.
    std::fs::write(gw.config_path(), config(1)).unwrap();
    gw.gateway.reload().await.unwrap();
    assert_eq!(get(&gw.url("/")).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    assert_eq!(get(&gw.url("/")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_reload_changes_routing_for_new_requests() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "    path_prefix: /v1")).await;
    assert_eq!(get(&gw.url("/v2/x")).await.0, StatusCode::NOT_FOUND);
    std::fs::write(
        gw.config_path(),
        config_yaml(upstream.addr, "", "    path_prefix: /v2"),
    )
    .unwrap();
    gw.gateway.reload().await.unwrap();
    assert_eq!(get(&gw.url("/v2/x")).await.0, StatusCode::OK);
    assert_eq!(get(&gw.url("/v1/x")).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let url = gw.url("/slow/500");
    let in_flight = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let addr = gw.addr;
    gw.stop().await;
    let (status, _, _) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    // And nothing is accepted any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn readiness_says_503_while_draining() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let readyz = format!("http://{}/readyz", gw.admin);
    assert_eq!(get(&readyz).await.0, StatusCode::OK);
    let url = gw.url("/slow/1000");
    let in_flight = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stopping = tokio::spawn(gw.stop());
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Draining: not ready, so load balancers take the instance out, but the
    // admin listener still answers.
    let (status, _, _) = get(&readyz).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(in_flight.await.unwrap().0, StatusCode::OK);
    stopping.await.unwrap();
}

#[tokio::test]
async fn editing_the_file_reloads_without_a_signal() {
    let upstream = Upstream::start().await;
    let dir = temp_dir("watch");
    let path = dir.join("rampart.yaml");
    std::fs::write(
        &path,
        config_yaml(upstream.addr, "", "    path_prefix: /old"),
    )
    .unwrap();
    let config = rampart_config::load(&path).unwrap();
    // This one keeps the file watcher on.
    let server = rampart_gateway::Server::bind(config, Arc::new(rampart_gateway::NoStages))
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let gateway = server.gateway();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get(&format!("http://{addr}/new/x")).await.0,
        StatusCode::NOT_FOUND
    );
    // Replace the file the way editors and ConfigMaps do: write beside, rename over.
    std::fs::write(
        dir.join("rampart.yaml.tmp"),
        config_yaml(upstream.addr, "", "    path_prefix: /new"),
    )
    .unwrap();
    std::fs::rename(dir.join("rampart.yaml.tmp"), &path).unwrap();
    let mut reloaded = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if get(&format!("http://{addr}/new/x")).await.0 == StatusCode::OK {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the edited file was not picked up");
    // Reading the file (the reload's own read, `cat`, a backup) is no change:
    // the runtime stays the same one. (Not the reload metric: it is
    // process-wide and other tests reload concurrently.)
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = gateway.runtime();
    for _ in 0..3 {
        std::fs::read_to_string(&path).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        Arc::ptr_eq(&before, &gateway.runtime()),
        "reading the file started a reload"
    );
    let _ = stop.send(());
    let _ = task.await;
}

/// Starts a server on `path` with its file watcher on; returns its address,
/// the stop signal and the task.
async fn start_watching(
    path: &std::path::Path,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let config = rampart_config::load(path).unwrap();
    let server = rampart_gateway::Server::bind(config, Arc::new(rampart_gateway::NoStages))
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = server
            .run(async move {
                let _ = stopped.await;
            })
            .await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    (addr, stop, task)
}

/// Whether `url` answers 200 within five seconds.
async fn answers_within_5s(url: &str) -> bool {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if get(url).await.0 == StatusCode::OK {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_configmap_update_is_picked_up() {
    // The layout of a mounted Kubernetes ConfigMap: the file is a link through
    // `..data`, itself a link to a versioned directory; an update writes a new
    // directory and renames a new `..data` link over the old one.
    use std::os::unix::fs::symlink;
    let upstream = Upstream::start().await;
    let dir = temp_dir("configmap");
    std::fs::create_dir(dir.join("..v1")).unwrap();
    std::fs::write(
        dir.join("..v1/rampart.yaml"),
        config_yaml(upstream.addr, "", "    path_prefix: /old"),
    )
    .unwrap();
    symlink("..v1", dir.join("..data")).unwrap();
    symlink("..data/rampart.yaml", dir.join("rampart.yaml")).unwrap();
    let (addr, stop, task) = start_watching(&dir.join("rampart.yaml")).await;
    assert_eq!(
        get(&format!("http://{addr}/new/x")).await.0,
        StatusCode::NOT_FOUND
    );
    std::fs::create_dir(dir.join("..v2")).unwrap();
    std::fs::write(
        dir.join("..v2/rampart.yaml"),
        config_yaml(upstream.addr, "", "    path_prefix: /new"),
    )
    .unwrap();
    symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(dir.join("..v1")).unwrap();
    assert!(
        answers_within_5s(&format!("http://{addr}/new/x")).await,
        "the ConfigMap update was not picked up"
    );
    // And the next one too (the watch follows the link's new target).
    std::fs::create_dir(dir.join("..v3")).unwrap();
    std::fs::write(
        dir.join("..v3/rampart.yaml"),
        config_yaml(upstream.addr, "", "    path_prefix: /newer"),
    )
    .unwrap();
    symlink("..v3", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    assert!(
        answers_within_5s(&format!("http://{addr}/newer/x")).await,
        "the second ConfigMap update was not picked up"
    );
    let _ = stop.send(());
    let _ = task.await;
}

#[tokio::test]
async fn a_linked_file_in_another_directory_is_watched_where_it_lives() {
    use std::os::unix::fs::symlink;
    let upstream = Upstream::start().await;
    let link_dir = temp_dir("link");
    let real_dir = temp_dir("real");
    std::fs::write(
        real_dir.join("gateway.yaml"),
        config_yaml(upstream.addr, "", "    path_prefix: /old"),
    )
    .unwrap();
    symlink(real_dir.join("gateway.yaml"), link_dir.join("rampart.yaml")).unwrap();
    let (addr, stop, task) = start_watching(&link_dir.join("rampart.yaml")).await;
    // Edited where it lives, in place.
    std::fs::write(
        real_dir.join("gateway.yaml"),
        config_yaml(upstream.addr, "", "    path_prefix: /new"),
    )
    .unwrap();
    assert!(
        answers_within_5s(&format!("http://{addr}/new/x")).await,
        "the link's target was not watched"
    );
    let _ = stop.send(());
    let _ = task.await;
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn with_listeners(upstream: std::net::SocketAddr, binds: &[String]) -> String {
    let listeners: String = binds
        .iter()
        .map(|bind| format!("  - bind: {bind}\n"))
        .collect();
    config_yaml(upstream, "", "").replacen(
        "listeners:\n  - bind: 127.0.0.1:0\n",
        &format!("listeners:\n{listeners}"),
        1,
    )
}

#[tokio::test]
async fn a_reload_adds_and_removes_listeners_without_cutting_requests() {
    let upstream = Upstream::start().await;
    let first = "127.0.0.1:0".to_string();
    let second = format!("127.0.0.1:{}", free_port());
    let gw = start(&with_listeners(upstream.addr, std::slice::from_ref(&first))).await;
    let old_url = gw.url("/slow/600");

    // Added: the new listener serves after the reload, the old one still does.
    std::fs::write(
        gw.config_path(),
        with_listeners(upstream.addr, &[first.clone(), second.clone()]),
    )
    .unwrap();
    gw.gateway.reload().await.unwrap();
    let mut status = None;
    for _ in 0..50 {
        if let Ok(Ok(response)) = tokio::time::timeout(
            Duration::from_secs(2),
            client().request(
                http::Request::get(format!("http://{second}/new"))
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .unwrap(),
            ),
        )
        .await
        {
            status = Some(response.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, Some(StatusCode::OK));
    assert_eq!(get(&gw.url("/old")).await.0, StatusCode::OK);

    // Removed: a request in flight on the old listener finishes; new connections
    // to it are refused; the other listener keeps serving.
    let in_flight = tokio::spawn(async move { get(&old_url).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    std::fs::write(
        gw.config_path(),
        with_listeners(upstream.addr, std::slice::from_ref(&second)),
    )
    .unwrap();
    gw.gateway.reload().await.unwrap();
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(gw.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the removed listener still accepts connections");
    assert_eq!(in_flight.await.unwrap().0, StatusCode::OK);
    assert_eq!(
        get(&format!("http://{second}/still")).await.0,
        StatusCode::OK
    );
    gw.stop().await;
}

/// A keep-alive connection idle after several requests is closed as soon as
/// shutdown starts, not when its header-read timeout (10 s) ends: the drain
/// signal reaches a connection that has already served requests.
#[tokio::test]
async fn shutdown_closes_an_idle_keep_alive_connection_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..3 {
        stream
            .write_all(b"GET /v1/x HTTP/1.1\r\nHost: api.test\r\n\r\n")
            .await
            .unwrap();
        // The whole response (head and Content-Length bytes), however the
        // reads split it, so nothing of it is left for the EOF check below.
        let mut got = Vec::new();
        let complete = |got: &[u8]| {
            let text = String::from_utf8_lossy(got);
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                return false;
            };
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap();
            body.len() >= length
        };
        while !complete(&got) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed mid-response");
            got.extend_from_slice(buf.get(..n).unwrap());
        }
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }
    let stopping = tokio::spawn(gw.stop());
    // EOF well within the header-read timeout (10 s): the drain closed it.
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0))), "{read:?}");
    stopping.await.unwrap();
}
