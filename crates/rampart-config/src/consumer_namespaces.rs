//! Warnings about consumers of several identity providers sharing one
//! namespace. A `sub` (or `client_id`) is unique only within its issuer (RFC
//! 7519 §4.1.2, OpenID Connect Core §2): when one API accepts tokens of two
//! identity providers and both name their consumers with the same
//! `consumer_prefix` (or none), a user of either can be a user of the other to
//! everything keyed by the consumer: object ownership compared to the
//! consumer, rate-limit buckets and quotas, Cedar's principal, the audit
//! record. Accepted (existing deployments may rely on it, e.g. two issuers of
//! one realm), but said.
//!
//! Different prefixes need no warning: at run time each token source refuses
//! tokens whose consumer falls in another's namespace (an unprefixed issuer's
//! `sub: partner:alice` beside `partner:`, `p:`'s `x:alice` beside `p:x:`;
//! see `rampart_authn::AuthnConfig::build`), so equal prefixes are the only
//! namespace token sources can share. An introspection section whose `issuer`
//! is one of the JWT issuers is that identity provider, not another one: it is
//! warned of when its prefix differs (one provider's users would be two
//! consumers).
//!
//! The token sources are the JWT issuers and the introspection section. API
//! keys and mTLS rules name consumers in the unprefixed namespace: an
//! unprefixed issuer's `sub: alice` is the API key or certificate consumer
//! `alice` (and a certificate mapped by default is its SAN,
//! `URI:spiffe://…`, which a `sub` could name too). That is not warned of, by
//! choice (the operator names those consumers and knows the issuers; the
//! documentation says to give a token issuer a prefix when its subjects could
//! name them).

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
/// providers share, introspection of a JWT issuer under another prefix, and
/// ownership rules comparing a claim across providers.
pub(crate) fn warnings(config: &Config, index: usize, api: &Api) -> Vec<ConfigError> {
    let Some(authn) = &api.engines.authn else {
        return Vec::new();
    };
    let sources = sources(&authn.value);
    let mut warnings = shared_namespace_warnings(config, index, api, authn, &sources);
    warnings.extend(same_provider_warnings(config, index, api, authn, &sources));
    warnings.extend(ownership_warnings(config, index, api, &sources));
    warnings
}

/// One warning per namespace that two or more identity providers share.
fn shared_namespace_warnings(
    config: &Config,
    index: usize,
    api: &Api,
    authn: &crate::Located<AuthnConfig>,
    sources: &[Source<'_>],
) -> Vec<ConfigError> {
    let mut warnings = Vec::new();
    let mut seen: Vec<Option<&str>> = Vec::new();
    for source in sources {
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
                 give each identity provider a distinct consumer_prefix (e.g. \
                 `consumer_prefix: \"partner:\"`), or leave at most one without: \
                 tokens whose consumer falls in another provider's namespace are refused",
                api.name,
                labels.join(" and "),
            ),
        ));
    }
    warnings
}

/// An introspection section of the same `issuer` as a JWT issuer, with
/// another prefix: one identity provider's users are one consumer by JWT and
/// another by opaque token (and, with one prefix nested in the other, some of
/// them are refused by one of the two).
fn same_provider_warnings(
    config: &Config,
    index: usize,
    api: &Api,
    authn: &crate::Located<AuthnConfig>,
    sources: &[Source<'_>],
) -> Vec<ConfigError> {
    if authn.value.introspection.is_none() {
        return Vec::new();
    }
    // The introspection section is the last source.
    let Some((introspection, issuers)) = sources.split_last() else {
        return Vec::new();
    };
    let named = |prefix: Option<&str>| match prefix {
        Some(prefix) => format!("consumer_prefix `{prefix}`"),
        None => "no consumer_prefix".to_string(),
    };
    issuers
        .iter()
        .filter(|issuer| {
            issuer.same_provider(introspection) && issuer.prefix != introspection.prefix
        })
        .map(|issuer| {
            ConfigError::new(
                &config.source,
                authn.line(),
                format!("apis[{index}].authn.introspection.consumer_prefix"),
                format!(
                    "API `{}`: introspection is of the issuer of {} but has {} where \
                     the issuer has {}: each user of that identity provider is one \
                     consumer with a JWT and another with an opaque token (to ownership, \
                     rate limits and quotas, Cedar's principal); give both the same \
                     consumer_prefix",
                    api.name,
                    issuer.label,
                    named(introspection.prefix),
                    named(issuer.prefix),
                ),
            )
        })
        .collect()
}

/// The warnings of one API accepting tokens of several identity providers
/// about its ownership rules (`owner`, `response_owner`) that compare a claim
/// rather than the consumer: a claim is what its identity provider wrote,
/// with no prefix, so a user of one whose `sub` names a user of another owns
/// that user's objects whatever the consumer prefixes.
fn ownership_warnings(
    config: &Config,
    index: usize,
    api: &Api,
    sources: &[Source<'_>],
) -> Vec<ConfigError> {
    let Some(authz) = &api.engines.authz else {
        return Vec::new();
    };
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
                     consumer_prefix; compare `claim: consumer`, with a distinct \
                     consumer_prefix on each identity provider (at most one without)",
                    api.name,
                    labels.join(", "),
                ),
            ));
        }
    }
    warnings
}
