//! What a configuration says that is accepted but weakens it: reported (file,
//! line, field) by `rampart check` and at start as warnings, never refused.

use crate::{Config, ConfigError};

impl Config {
    /// The warnings of this configuration, each naming file, line and field
    /// like an error.
    ///
    /// - `admin.bind` off loopback with `identity.admin_token` set: the admin
    ///   listener is plain HTTP, so the bearer token of `POST /revocations`
    ///   crosses the network in clear (and the endpoints are open to whoever
    ///   can reach the address).
    /// - An API accepting tokens of several identity providers (JWT issuers,
    ///   introspection) whose consumers share a namespace (the same
    ///   `consumer_prefix`, or none): one's `sub` is another's user
    ///   (`consumer_namespaces`; different prefixes are kept apart at run
    ///   time); an introspection section of a JWT issuer's `issuer` with
    ///   another prefix (one provider's users, two consumers each); and, in
    ///   an API of several providers with or without prefixes, an ownership
    ///   rule comparing a claim rather than the consumer: a claim has no
    ///   prefix, so the rule cannot tell the providers' users apart.
    pub fn warnings(&self) -> Vec<ConfigError> {
        let mut warnings = Vec::new();
        let admin_token = self
            .identity
            .as_ref()
            .is_some_and(|identity| identity.value.admin_token.is_some());
        if admin_token && !self.admin_bind.ip().is_loopback() {
            warnings.push(ConfigError::new(
                &self.source,
                self.line_of("admin.bind"),
                "admin.bind",
                format!(
                    "{} is not a loopback address, and the admin listener is plain HTTP: \
                     the identity.admin_token bearer token of /revocations crosses the \
                     network in clear; bind it to 127.0.0.1 (or ::1) and reach it through \
                     an SSH tunnel or a TLS-terminating proxy",
                    self.admin_bind.ip()
                ),
            ));
        }
        for (index, api) in self.apis.iter().enumerate() {
            warnings.extend(crate::consumer_namespaces::warnings(self, index, api));
        }
        warnings
    }
}
