//! OpenAPI positive security: route inventory, request validation, mass assignment, response filtering; no I/O.
