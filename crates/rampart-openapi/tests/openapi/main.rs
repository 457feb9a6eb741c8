//! End-to-end tests of the OpenAPI stages over the loose sample spec in tests/data,
//! tightened by tests/data/rampart.yaml: for each control, the request or response
//! that must be refused or filtered and the legitimate one that must pass unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bodies;
mod compositions;
mod failures;
mod features;
mod inventory;
mod lifecycle;
mod loading;
mod method_override;
mod overrides;
mod params;
mod query;
mod responses;
mod routing;
mod support;
