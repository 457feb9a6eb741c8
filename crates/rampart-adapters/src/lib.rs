//! I/O adapters for `rampart-authn`: the implementations of its outside-capability traits
//! (JWKS fetching, token introspection, the API-key store, shared revocation).
//!
//! Placeholder: the modules arrive in the following commits.
