//! `@geoLookup`: looks the value (an address) up in the injected GeoIP
//! database and fills the GEO collection; no database, no match.

use std::net::IpAddr;

use super::OpEnv;

/// Evaluates the operator.
pub fn eval(env: &dyn OpEnv, value: &[u8]) -> bool {
    let Some(geo) = env.services().geo.clone() else {
        return false;
    };
    let Some(ip) = std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse::<IpAddr>().ok())
    else {
        return false;
    };
    match geo.lookup(ip) {
        Some(fields) => {
            env.set_geo(fields);
            true
        }
        None => false,
    }
}
