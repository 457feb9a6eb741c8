//! The admin API's revocation endpoints, as plain request -> answer functions
//! the gateway's admin listener calls (through the binary's bridge):
//!
//! - `POST /revocations` with `{"kind": "jti"|"api_key", "id": "...",
//!   "expires_at": <unix seconds or RFC 3339>}` (`expires_at` optional: kept
//!   for good) revokes through [`crate::Adapters::revoke`], i.e. the same
//!   `RevocationSync` as `rampart revoke` (every instance within a second),
//!   and for an API key also in the key store when one is configured (the
//!   answer's `key_store`: `revoked`, or `unknown_key` when the store does
//!   not know the id). An API key's `id` is its key id (8 lowercase base32
//!   characters); a whole key is cut to it, its secret part never stored,
//!   shared or echoed; anything else is refused (400), as it could never
//!   match a key;
//! - `GET /revocations` lists this instance's revocations (never a secret: ids
//!   are `jti`s and key prefixes).
//!
//! Both need `Authorization: Bearer <identity.admin_token>`. Without a
//! configured token they answer 404: the endpoints do not exist, never open.
//! The token is compared in constant time (SHA-256 of both sides, so not even
//! its length leaks). A refused token is logged (warning, with the peer) and
//! counted (`rampart_admin_auth_failures_total`); every revocation is logged
//! with its kind, id and peer. Neither log carries the token.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use rampart_authn::revocation::{CredentialKind, Revocation, revocation_id};
use rampart_authn::secret::Secret;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Adapters;
use crate::keys_cli::time;

/// The path the revocation endpoints live at.
pub const REVOCATIONS_PATH: &str = "/revocations";
/// Largest request body accepted (a revocation is a few dozen bytes).
pub const MAX_ADMIN_BODY: usize = 4 * 1024;
/// Shortest admin token accepted in configuration.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 16;

/// An answer of the admin API: status, content type and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminAnswer {
    /// HTTP status.
    pub status: u16,
    /// `application/json` or `application/problem+json`.
    pub content_type: &'static str,
    /// The body.
    pub body: Value,
    /// A `WWW-Authenticate` challenge, on 401.
    pub challenge: Option<&'static str>,
    /// The `Allow` header (the methods the path takes), on 405.
    pub allow: Option<&'static str>,
}

/// The methods `/revocations` takes (the `Allow` header of its 405).
pub const REVOCATIONS_ALLOW: &str = "GET, HEAD, POST";

fn problem(status: u16, slug: &str, title: &str) -> AdminAnswer {
    AdminAnswer {
        status,
        content_type: "application/problem+json",
        body: json!({"type": format!("urn:rampart:problem:{slug}"), "title": title, "status": status}),
        challenge: None,
        allow: None,
    }
}

fn ok(status: u16, body: Value) -> AdminAnswer {
    AdminAnswer {
        status,
        content_type: "application/json",
        body,
        challenge: None,
        allow: None,
    }
}

/// The JSON body of `POST /revocations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    kind: String,
    id: String,
    #[serde(default)]
    expires_at: Option<Value>,
}

fn kind_name(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Jti => "jti",
        CredentialKind::ApiKey => "api_key",
    }
}

pub(crate) fn parse_revocation(body: &[u8]) -> Result<Revocation, &'static str> {
    let body: RevokeBody =
        serde_json::from_slice(body).map_err(|_| "expected {\"kind\", \"id\", \"expires_at\"}")?;
    let kind = match body.kind.as_str() {
        "jti" => CredentialKind::Jti,
        "api_key" => CredentialKind::ApiKey,
        _ => return Err("kind must be jti or api_key"),
    };
    // An API key is revoked by its key id (a whole key is cut to it, its
    // secret never stored, shared or echoed); an id that can never match a
    // key is refused, not answered "revoked".
    let id = revocation_id(kind, &body.id)?;
    let expires_at = match &body.expires_at {
        None | Some(Value::Null) => u64::MAX,
        Some(Value::Number(n)) => n.as_u64().ok_or("expires_at must be Unix seconds")?,
        Some(Value::String(text)) => {
            time::parse_rfc3339(text).map_err(|_| "expires_at must be RFC 3339")?
        }
        Some(_) => return Err("expires_at must be Unix seconds or RFC 3339"),
    };
    Ok(Revocation {
        kind,
        id,
        expires_at,
    })
}

pub(crate) fn describe(revocation: &Revocation) -> Value {
    let expires =
        (revocation.expires_at != u64::MAX).then(|| time::format_rfc3339(revocation.expires_at));
    json!({"kind": kind_name(revocation.kind), "id": revocation.id, "expires_at": expires})
}

/// Whether `authorization` is `Bearer <token>` with the configured token.
fn authorized(token: &Secret, authorization: Option<&[u8]>) -> bool {
    let Some(presented) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
        return false;
    };
    let want = digest(&SHA256, token.expose());
    let got = digest(&SHA256, presented);
    verify_slices_are_equal(want.as_ref(), got.as_ref()).is_ok()
}

impl Adapters {
    /// Answers an admin request if it is one of the revocation endpoints (else
    /// `None`, for the gateway's own routes). `authorization` is the raw
    /// `Authorization` header; `body` at most [`MAX_ADMIN_BODY`] bytes (larger
    /// bodies are refused with 413 by the caller or here).
    /// `peer` is the admin connection's TCP peer, for the logs.
    pub async fn admin_request(
        &self,
        peer: std::net::SocketAddr,
        method: &str,
        path: &str,
        authorization: Option<&[u8]>,
        body: &[u8],
    ) -> Option<AdminAnswer> {
        if path != REVOCATIONS_PATH {
            return None;
        }
        let Some(token) = self.admin_token() else {
            return Some(problem(404, "admin-not-found", "Not Found"));
        };
        if !authorized(token, authorization) {
            metrics::counter!("rampart_admin_auth_failures_total").increment(1);
            if let Some(refusals) = self.refused_admin_tokens().note(self.unix_secs()) {
                // Never the presented value: it may be the real token, mistyped.
                tracing::warn!(
                    %peer,
                    method,
                    presented = authorization.is_some(),
                    refusals,
                    "admin request refused: missing or wrong bearer token (refusals: since the last such line, at most one a minute)"
                );
            }
            let mut answer = problem(401, "admin-unauthorized", "Unauthorized");
            answer.challenge = Some("Bearer realm=\"rampart-admin\"");
            return Some(answer);
        }
        Some(match method {
            "GET" | "HEAD" => {
                let mut list = self.revocations().snapshot();
                list.sort_by(|a, b| (kind_name(a.kind), &a.id).cmp(&(kind_name(b.kind), &b.id)));
                let items: Vec<Value> = list.iter().map(describe).collect();
                ok(
                    200,
                    json!({"revocations": items, "synced": self.revocation_sync().map(|s| s.is_synced())}),
                )
            }
            "POST" => {
                if body.len() > MAX_ADMIN_BODY {
                    return Some(problem(413, "admin-body-too-large", "Payload Too Large"));
                }
                let revocation = match parse_revocation(body) {
                    Ok(revocation) => revocation,
                    Err(reason) => {
                        let mut answer = problem(400, "admin-bad-request", "Bad Request");
                        answer.body["detail"] = json!(reason);
                        return Some(answer);
                    }
                };
                let shared = self.revocation_sync().is_some();
                match self.revoke(revocation.clone()).await {
                    // An expiry past (beyond the retention): the list keeps
                    // nothing, and a 201 would say the credential is revoked
                    // when an API key's own expiry (kept in its store) may
                    // be later.
                    Ok(_)
                        if !self
                            .revocations()
                            .is_revoked(revocation.kind, &revocation.id) =>
                    {
                        let mut answer = problem(400, "admin-bad-request", "Bad Request");
                        answer.body["detail"] = json!(
                            "expires_at is in the past: nothing was revoked (omit it to revoke until further notice)"
                        );
                        answer
                    }
                    Ok(stored) => {
                        let key_store = stored.map(|stored| match stored {
                            crate::KeyStoreRevocation::Revoked => "revoked",
                            crate::KeyStoreRevocation::UnknownKey => "unknown_key",
                        });
                        tracing::info!(
                            %peer,
                            kind = kind_name(revocation.kind),
                            id = %revocation.id,
                            shared,
                            key_store,
                            "credential revoked through the admin API"
                        );
                        ok(
                            201,
                            json!({"revoked": describe(&revocation), "shared": shared, "key_store": key_store}),
                        )
                    }
                    Err(error) => {
                        // The local entry holds; sharing or the key store
                        // failed (or the list is full).
                        tracing::warn!(
                            %peer,
                            kind = kind_name(revocation.kind),
                            id = %revocation.id,
                            %error,
                            "admin revocation not fully applied"
                        );
                        let applied = self
                            .revocations()
                            .is_revoked(revocation.kind, &revocation.id);
                        let store_failed = matches!(
                            error,
                            crate::AdapterError::Store(_)
                                | crate::AdapterError::Sqlite(_)
                                | crate::AdapterError::StoreTimeout
                        );
                        let (slug, detail) = match (applied, store_failed) {
                            (false, _) => (
                                "admin-revocation-not-shared",
                                "not revoked: the revocation list is full",
                            ),
                            (true, true) => (
                                "admin-revocation-not-stored",
                                "revoked on this instance; marking the key revoked in the key store failed, so the revocation would not survive a restart: retry",
                            ),
                            (true, false) => (
                                "admin-revocation-not-shared",
                                "revoked on this instance; sharing with the other instances failed and is retried by the next sync",
                            ),
                        };
                        let mut answer = problem(503, slug, "Service Unavailable");
                        answer.body["detail"] = json!(detail);
                        answer
                    }
                }
            }
            _ => {
                let mut answer = problem(405, "method-not-allowed", "Method Not Allowed");
                answer.allow = Some(REVOCATIONS_ALLOW);
                answer
            }
        })
    }
}

#[cfg(test)]
mod tests;
