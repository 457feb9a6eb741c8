//! OpenAPI positive security: route inventory, request validation, mass assignment,
//! response filtering; no I/O on the request path.
pub mod bundle;
pub mod error;
pub mod json;
pub mod loader;
pub mod shape;
