//! `@rbl`: asks the injected block-list lookup whether the address is listed;
//! no lookup configured, no match (the engine never does DNS itself).

use std::net::IpAddr;

use crate::services::Services;

/// Evaluates the operator.
pub fn eval(services: &Services, zone: &str, value: &[u8]) -> bool {
    let Some(rbl) = services.rbl.as_ref() else {
        return false;
    };
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse::<IpAddr>().ok())
        .is_some_and(|ip| rbl.listed(zone, ip))
}
