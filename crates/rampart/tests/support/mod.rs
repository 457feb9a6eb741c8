//! Helpers shared by the binary's end-to-end tests: free ports, a `rampart serve`
//! child that is killed on drop, and a minimal HTTP/1.1 client over raw sockets
//! (one request per connection, so every answer is read to the end).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// The binary under test: cargo's build of this crate, or the one
/// `RAMPART_TEST_BINARY` names, so that a build made outside cargo (such as
/// bench/bolt.sh's post-link optimised one) runs the same end-to-end tests.
/// A relative path is taken from the workspace root and made absolute: cargo
/// runs the tests in this crate's directory, and some start the binary in a
/// directory of their own.
pub static RAMPART: LazyLock<PathBuf> =
    LazyLock::new(|| match std::env::var_os("RAMPART_TEST_BINARY") {
        None => PathBuf::from(env!("CARGO_BIN_EXE_rampart")),
        Some(path) if path.is_empty() => panic!("RAMPART_TEST_BINARY is empty"),
        Some(path) => {
            let path = PathBuf::from(path);
            let path = if path.is_relative() {
                workspace().join(path)
            } else {
                path
            };
            std::fs::canonicalize(&path)
                .unwrap_or_else(|err| panic!("RAMPART_TEST_BINARY: {}: {err}", path.display()))
        }
    });

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rampart-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A child process killed when dropped (also when a test fails).
pub struct Proc {
    pub child: Child,
    pub stderr: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Starts `rampart serve --config <config>` in `dir` and waits until `port`
/// answers `probe` with anything but a connection failure.
pub fn serve(dir: &Path, config: &Path, port: u16, probe: &str) -> Proc {
    let stderr = dir.join("rampart.stderr");
    let child = Command::new(&*RAMPART)
        .args(["serve", "--config", config.to_str().unwrap()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let proc = Proc { child, stderr };
    wait_for(port, probe, &proc);
    proc
}

/// Waits until `GET probe` on `port` gets any HTTP answer.
pub fn wait_for(port: u16, probe: &str, proc: &Proc) {
    let started = Instant::now();
    while send(port, &Req::get(probe)).status == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing answers on port {port}: {}",
            proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A request to send.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn get(target: &str) -> Req {
        Req {
            method: "GET".into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn post_json(target: &str, body: &str) -> Req {
        Req {
            method: "POST".into(),
            target: target.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// An answer: status 0 when the connection failed.
#[derive(Debug, Default)]
pub struct Resp {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The problem type slug of a problem+json answer.
    pub fn slug(&self) -> String {
        self.json()["type"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("urn:rampart:problem:")
            .to_string()
    }
}

/// Sends one request on its own connection and reads the whole answer.
pub fn send(port: u16, req: &Req) -> Resp {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return Resp::default();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.method,
        req.target,
        req.body.len()
    );
    for (name, value) in &req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&req.body).is_err() {
        return Resp::default();
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Resp::default();
    };
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
