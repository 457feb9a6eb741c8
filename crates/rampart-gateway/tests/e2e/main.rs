//! End-to-end tests: a real gateway on 127.0.0.1:0 in front of a real upstream,
//! driven by real clients and raw sockets. One binary, one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod scripted;
mod support;

mod audit;
mod h1;
mod h2;
mod hardening;
mod pipeline;
mod pool;
mod proxy;
mod reload;
mod tls;
mod tls_reload;
mod upstream_h1;
