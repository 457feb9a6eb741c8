//! Route names in an API's security sections must name operations of its spec.
//!
//! A request gets a route (`METHOD /template`) only when the API's `openapi`
//! section matches it against the spec. A route name in `authz`, `rate_limit` or
//! `waf` that the spec does not declare therefore never matches anything: a
//! misspelt `DELETE /order/{id}` would silently drop the role it requires, the
//! login limit it sets or the false-positive exclusion it makes. Such names are
//! configuration errors, reported with the field and the closest declared name.
//! Without an `openapi` section no request has a route at all, so any route name
//! (and an `authz` section, which refuses requests without one) is an error too.

use std::collections::HashSet;

use rampart_config::{Config, ConfigError, EngineSections};

/// One route name written in a section.
struct RouteName<'a> {
    /// Whether it is an `authz.operations` key.
    authz: bool,
    /// Field path, e.g. `apis[0].authz.operations["GET /x"]`.
    field: String,
    /// The section's line.
    line: Option<u64>,
    name: &'a str,
}

/// Every route name the API's `authz`, `rate_limit` and `waf` sections use.
fn route_names<'a>(api_field: &str, sections: &'a EngineSections) -> Vec<RouteName<'a>> {
    let mut names = Vec::new();
    if let Some(authz) = &sections.authz {
        for name in authz.value.operations.keys() {
            names.push(RouteName {
                authz: true,
                field: format!("{api_field}.authz.operations[\"{name}\"]"),
                line: authz.line(),
                name,
            });
        }
    }
    if let Some(rate_limit) = &sections.rate_limit {
        let section = &rate_limit.value;
        let mut add = |field: String, routes: &'a [String]| {
            for (k, name) in routes.iter().enumerate() {
                names.push(RouteName {
                    authz: false,
                    field: format!("{field}.routes[{k}]"),
                    line: rate_limit.line(),
                    name,
                });
            }
        };
        let base = format!("{api_field}.rate_limit");
        for (j, limit) in section.pre_auth.iter().enumerate() {
            add(format!("{base}.pre_auth[{j}]"), &limit.routes);
        }
        for (plan, config) in &section.plans {
            for (j, limit) in config.limits.iter().enumerate() {
                add(format!("{base}.plans.{plan}.limits[{j}]"), &limit.routes);
            }
        }
        for (j, limit) in section.concurrency.iter().enumerate() {
            add(format!("{base}.concurrency[{j}]"), &limit.routes);
        }
    }
    if let Some(waf) = &sections.waf {
        for (j, exclusion) in waf.value.exclusions.iter().enumerate() {
            for (k, name) in exclusion.routes.iter().enumerate() {
                names.push(RouteName {
                    authz: false,
                    field: format!("{api_field}.waf.exclusions[{j}].routes[{k}]"),
                    line: waf.line(),
                    name,
                });
            }
        }
    }
    names
}

/// The errors for route names `declared` does not hold. `declared` is `None` when
/// the API has no `openapi` section.
pub(crate) fn check(
    config: &Config,
    api_field: &str,
    sections: &EngineSections,
    declared: Option<&HashSet<&str>>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let Some(declared) = declared else {
        if let Some(authz) = &sections.authz {
            errors.push(ConfigError::new(
                &config.source,
                authz.line(),
                format!("{api_field}.authz"),
                "needs an `openapi` section: operations are matched through the spec, so without one every request would be refused",
            ));
        }
        // Authz keys are covered by the section's own error above.
        for route in route_names(api_field, sections)
            .into_iter()
            .filter(|r| !r.authz)
        {
            errors.push(ConfigError::new(
                &config.source,
                route.line,
                route.field,
                "route names need an `openapi` section (routes come from the spec); without one this never applies",
            ));
        }
        return errors;
    };
    for route in route_names(api_field, sections) {
        if declared.contains(route.name) {
            continue;
        }
        let mut message = format!("the spec declares no operation `{}`", route.name);
        if let Some(closest) = rampart_core::names::closest(route.name, declared.iter().copied()) {
            message.push_str(&format!(" (did you mean `{closest}`?)"));
        }
        errors.push(ConfigError::new(
            &config.source,
            route.line,
            route.field,
            message,
        ));
    }
    errors
}
