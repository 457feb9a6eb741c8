//! OpenAPI positive security: what the spec does not declare does not pass, in either
//! direction. No I/O on the request path: the spec (and sibling files its `$ref`s
//! name) is read and compiled once, when the configuration is built.
//!
//! Wiring: deserialize an [`OpenApiConfig`], call [`OpenApiConfig::build`] with the
//! config file's directory, then [`OpenApi::stages`] for a [`RouteStage`]
//! (`Phase::Route`: inventory, 404/405, 410 after sunset, error masking on the
//! response) and a [`ValidationStage`] (`Phase::Validation`: parameters, bodies, mass
//! assignment; response filtering). Later stages find [`MatchedOperation`] and
//! [`PathParams`] in `RequestCx::extensions` and the template in `cx.route`; on
//! authentication operations a [`LoginOperation`] mark and, with a
//! `username_field`, a [`LoginIdentifier`].
//!
//! Semantics worth knowing:
//! - A member is *declared* when a schema (or a branch of its `allOf`) names it,
//!   matches it with `patternProperties`, or allows it with
//!   `additionalProperties: true` or a schema. Under a `oneOf`/`anyOf`, only a
//!   branch the value matches declares: the one its discriminator names, or,
//!   without one, a branch it validates against (see [`shape::Union`]). An object schema with no `properties`,
//!   `patternProperties` or `additionalProperties` at all is free-form (everything
//!   declared); one that names properties but says nothing else is closed, as if the
//!   spec had not forgotten `additionalProperties: false`. The members of `deepObject`
//!   query parameters are judged the same way; a bracketed query key `name[…]` is
//!   parameter `name` (as qs, Rack and PHP read it), refused unless it is a
//!   `deepObject`'s `name[member]`.
//! - Response members whose names look sensitive are removed even when declared,
//!   unless the spec marks them `x-rampart-visible: true` or the configuration lists
//!   them in `reveal_properties`. `x-rampart-roles: [..]` in the spec, or
//!   `role_visible` in the configuration, limits a member to callers holding a role.
//! - Path segments match by their text before `;` (path parameters set aside, as
//!   servlet containers and the gateway's API routing do); a path that servers
//!   keeping path parameters, or routing without regard to case, would take to
//!   another operation is refused as undeclared (see [`routes`]).
//! - `HEAD` is accepted where `GET` is declared. Failures never echo request values;
//!   member names appear in pointers only when they are short plain identifiers.
//! - Upstream bodies must be JSON in identity encoding to be filtered: a compressed
//!   body cannot be read and is replaced by a `502 response-not-declared` (the gateway
//!   should not forward `Accept-Encoding` on routes it filters).
//!
//! Layout:
//! - [`config`]: the raw configuration section and per-operation policies.
//! - [`loader`]: reading the spec files, local `$ref` resolution, error locations.
//! - [`anchors`]: `$id`/`$anchor` reference targets inside a document.
//! - [`bundle`]: one schema → a self-contained JSON Schema (3.0 → Draft 4, 3.1 →
//!   2020-12) for the `jsonschema` validator.
//! - [`shape`]: what a schema declares about objects, for mass assignment and filtering;
//!   [`travel`]: `readOnly`/`writeOnly` members are not required where they are not sent.
//! - [`compile`]: spec → operations, validators, route table; [`routes`]: the table.
//! - [`params`]: parameter decoding (style/explode) and validation.
//! - [`json`]: streaming pre-scan with limits, streaming response filter.
//! - [`massign`]: undeclared, `readOnly` and forbidden request members (JSON,
//!   `application/x-www-form-urlencoded` and [`multipart`] `multipart/form-data` bodies).
//! - [`request`], [`response`]: the per-request checks; [`stage`]: the `Stage`s.
//! - [`overrides`]: method overrides (headers, `_method`) and CGI spellings of
//!   declared headers.
//! - [`login`]: the login identifier of authentication requests (for the lock-out).
//! - [`lifecycle`]: deprecation/sunset headers; the injected [`Clock`] is
//!   `rampart_core::time`'s.
//! - [`problems`]: problem types and the `errors` list; [`error`]: load/build errors.

pub mod anchors;
pub mod bundle;
pub mod compile;
pub mod config;
pub mod engine;
pub mod error;
pub mod json;
pub mod lifecycle;
pub mod loader;
pub mod login;
pub mod massign;
pub mod multipart;
pub mod overrides;
pub mod params;
pub mod problems;
pub mod request;
pub mod response;
pub mod routes;
pub mod shape;
pub mod stage;
pub mod travel;

pub use config::{
    DeprecationConfig, LimitsConfig, OpenApiConfig, OperationOverride, UndeclaredMode,
};
pub use engine::{MatchedOperation, OpenApi, PathParams, Routed};
pub use error::{BuildError, LoadError};
pub use lifecycle::{Clock, ManualClock, SystemClock};
pub use login::{LoginIdentifier, LoginOperation};
pub use stage::{RouteStage, ValidationStage};
