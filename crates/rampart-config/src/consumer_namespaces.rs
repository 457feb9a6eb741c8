//! Warnings about consumers of several identity providers sharing one
//! namespace. A `sub` (or `client_id`) is unique only within its issuer (RFC
//! 7519 §4.1.2, OpenID Connect Core §2): when one API accepts tokens of two
//! identity providers and both name their consumers without a prefix (or with
//! the same one), a user of either can be a user of the other to everything
//! keyed by the consumer: object ownership compared to the consumer,
//! rate-limit buckets and quotas, Cedar's principal, the audit record. Accepted (existing deployments may
//! rely on it, e.g. two issuers of one realm), but said.
//!
//! The token sources are the JWT issuers and the introspection section; API
//! keys and mTLS rules name consumers the operator assigns, and are left out.
//! An introspection section whose `issuer` is one of the JWT issuers is that
//! identity provider, not another one.

use rampart_authn::AuthnConfig;

use crate::{Api, Config, ConfigError};

/// A token source of an API: what the warning calls it, the `iss` it
/// stands for (when known), and its consumer prefix.
struct Source<'a> {
    label: String,
    issuer: Option<&'a str>,
    prefix: Option<&'a str>,
}

impl Source<'_> {
    /// Whether two sources are known to be one identity provider.
    fn same_provider(&self, other: &Source<'_>) -> bool {
        self.issuer.is_some() && self.issuer == other.issuer
    }
}

/// A prefix as it names a namespace: an empty one is none (and refused when
/// the section is built).
fn prefix(prefix: &Option<String>) -> Option<&str> {
    prefix.as_deref().filter(|p| !p.is_empty())
}

fn sources(authn: &AuthnConfig) -> Vec<Source<'_>> {
    let mut sources = Vec::new();
    for (i, issuer) in authn
        .jwt
        .iter()
        .flat_map(|jwt| jwt.issuers.iter())
        .enumerate()
    {
        sources.push(Source {
            label: format!("jwt.issuers[{i}] (`{}`)", issuer.issuer),
            issuer: Some(issuer.issuer.as_str()),
            prefix: prefix(&issuer.consumer_prefix),
        });
    }
    if let Some(introspection) = &authn.introspection {
        sources.push(Source {
            label: match &introspection.issuer {
                Some(issuer) => format!("introspection (`{issuer}`)"),
                None => "introspection".to_string(),
            },
            issuer: introspection.issuer.as_deref(),
            prefix: prefix(&introspection.consumer_prefix),
        });
    }
    sources
}

/// How many identity providers these sources are.
fn providers(sources: &[&Source<'_>]) -> usize {
    sources
        .iter()
        .enumerate()
        .filter(|(i, s)| {
            !sources
                .iter()
                .take(*i)
                .any(|earlier| earlier.same_provider(s))
        })
        .count()
}

/// The warnings of one API: one per namespace that two or more identity
/// providers share.
pub(crate) fn warnings(config: &Config, index: usize, api: &Api) -> Vec<ConfigError> {
    let Some(authn) = &api.engines.authn else {
        return Vec::new();
    };
    let sources = sources(&authn.value);
    let mut warnings = Vec::new();
    let mut seen: Vec<Option<&str>> = Vec::new();
    for source in &sources {
        if seen.contains(&source.prefix) {
            continue;
        }
        seen.push(source.prefix);
        let sharing: Vec<&Source<'_>> = sources
            .iter()
            .filter(|other| other.prefix == source.prefix)
            .collect();
        if providers(&sharing) < 2 {
            continue;
        }
        let labels: Vec<&str> = sharing.iter().map(|s| s.label.as_str()).collect();
        let namespace = match source.prefix {
            None => "none has a consumer_prefix".to_string(),
            Some(prefix) => format!("all have consumer_prefix `{prefix}`"),
        };
        let field = format!("apis[{index}].authn");
        warnings.push(ConfigError::new(
            &config.source,
            authn.line(),
            field,
            format!(
                "API `{}` accepts tokens of {} whose consumers share one namespace \
                 ({namespace}): the same `sub` from any of them is the same consumer, to \
                 ownership checks on the consumer, rate limits and quotas, Cedar's \
                 principal and the audit log; \
                 set a consumer_prefix of its own on each identity provider but one \
                 (e.g. `consumer_prefix: \"partner:\"`) so that one identity provider's \
                 `sub` cannot act as another's",
                api.name,
                labels.join(" and "),
            ),
        ));
    }
    warnings
}

/// The warnings of one API accepting tokens of several identity providers
/// about its ownership rules (`owner`, `response_owner`) that compare a claim
/// rather than the consumer: a claim is what its identity provider wrote,
/// with no prefix, so a user of one whose `sub` names a user of another owns
/// that user's objects whatever the consumer prefixes.
pub(crate) fn ownership_warnings(config: &Config, index: usize, api: &Api) -> Vec<ConfigError> {
    let (Some(authn), Some(authz)) = (&api.engines.authn, &api.engines.authz) else {
        return Vec::new();
    };
    let sources = sources(&authn.value);
    let all: Vec<&Source<'_>> = sources.iter().collect();
    if providers(&all) < 2 {
        return Vec::new();
    }
    let labels: Vec<&str> = sources.iter().map(|s| s.label.as_str()).collect();
    let mut warnings = Vec::new();
    for (key, rule) in &authz.value.operations {
        let claims = [
            ("owner", rule.owner.as_ref().map(|owner| &owner.claim)),
            (
                "response_owner",
                rule.response_owner.as_ref().map(|owner| &owner.claim),
            ),
        ];
        for (check, claim) in claims {
            let Some(claim) = claim.filter(|claim| *claim != "consumer") else {
                continue;
            };
            warnings.push(ConfigError::new(
                &config.source,
                authz.line(),
                format!("apis[{index}].authz.operations[{key:?}].{check}.claim"),
                format!(
                    "compares the claim `{claim}` as each identity provider writes it, and \
                     API `{}` accepts tokens of several ({}): a user of one whose `{claim}` \
                     names a user of another owns that user's objects, whatever their \
                     consumer_prefix; compare `claim: consumer`, with a consumer_prefix of \
                     its own on each identity provider but one",
                    api.name,
                    labels.join(", "),
                ),
            ));
        }
    }
    warnings
}
