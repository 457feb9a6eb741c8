//! Authentication engines: API keys, JWT/JWKS, introspection, mTLS identity, revocation; no I/O.
