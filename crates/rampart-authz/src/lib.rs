//! Authorization engines: scopes, RBAC, Cedar ABAC, object ownership, function-level rules, step-up; no I/O.
