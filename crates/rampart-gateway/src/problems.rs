//! Every response Rampart makes itself comes from here.
//!
//! [`GatewayError`] lists each cause the gateway itself refuses or fails a request
//! for; [`GatewayError::problem`] maps each to its stable problem type with an
//! exhaustive match (no wildcard: a new cause must get a deliberate response).
//! Stages bring their own [`Problem`]s; [`problem_response`] renders both.

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use rampart_core::{Problem, ProblemType, problem::PROBLEM_CONTENT_TYPE};

/// Causes of refusal or failure owned by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No API matches the host and path.
    #[error("no route")]
    RouteNotFound,
    /// The request line or headers are malformed or ambiguous.
    #[error("malformed request")]
    Malformed,
    /// A method a reverse proxy does not serve (`CONNECT`: a tunnel request
    /// meant for a forward proxy; forwarded, an upstream that honours it
    /// would take the body as tunnel bytes).
    #[error("method not supported")]
    MethodNotSupported,
    /// The request target is longer than allowed.
    #[error("uri too long")]
    UriTooLong,
    /// The request head did not arrive within the header-read timeout.
    #[error("header read timeout")]
    HeaderTimeout,
    /// Too many or too large headers.
    #[error("headers too large")]
    HeadersTooLarge,
    /// The body is larger than the buffer limit.
    #[error("body too large")]
    BodyTooLarge,
    /// The body could not be read from the client.
    #[error("body read failed")]
    BodyReadFailed,
    /// A body the gateway buffers did not arrive within the body-read timeout.
    #[error("body read timeout")]
    BodyTimeout,
    /// The upstream could not be reached.
    #[error("upstream unreachable")]
    UpstreamUnreachable,
    /// The upstream did not answer in time.
    #[error("upstream timeout")]
    UpstreamTimeout,
    /// Too many requests in flight, or shutting down.
    #[error("overloaded")]
    Overloaded,
    /// Too many requests running on one HTTP/2 connection (streams its client
    /// reset while their requests run on).
    #[error("connection overloaded")]
    ConnectionOverloaded,
}

/// Problem types of the gateway's own causes.
pub mod types {
    use super::ProblemType;

    /// 404: nothing is routed here.
    pub const ROUTE_NOT_FOUND: ProblemType = ProblemType::new("route-not-found", 404, "Not Found");
    /// 400: malformed or ambiguous request.
    pub const MALFORMED: ProblemType = ProblemType::new("malformed-request", 400, "Bad Request");
    /// 501: `CONNECT`.
    pub const METHOD_NOT_SUPPORTED: ProblemType =
        ProblemType::new("method-not-supported", 501, "Not Implemented");
    /// 414.
    pub const URI_TOO_LONG: ProblemType = ProblemType::new("uri-too-long", 414, "URI Too Long");
    /// 408: the head, or a body the gateway buffers, did not arrive in time.
    pub const REQUEST_TIMEOUT: ProblemType =
        ProblemType::new("request-timeout", 408, "Request Timeout");
    /// 431.
    pub const HEADERS_TOO_LARGE: ProblemType =
        ProblemType::new("headers-too-large", 431, "Request Header Fields Too Large");
    /// 413.
    pub const BODY_TOO_LARGE: ProblemType =
        ProblemType::new("body-too-large", 413, "Content Too Large");
    /// 400: the client sent a broken body.
    pub const BODY_READ_FAILED: ProblemType =
        ProblemType::new("body-read-failed", 400, "Bad Request");
    /// 502.
    pub const UPSTREAM_UNREACHABLE: ProblemType =
        ProblemType::new("upstream-unreachable", 502, "Bad Gateway");
    /// 504.
    pub const UPSTREAM_TIMEOUT: ProblemType =
        ProblemType::new("upstream-timeout", 504, "Gateway Timeout");
    /// 503.
    pub const OVERLOADED: ProblemType = ProblemType::new("overloaded", 503, "Service Unavailable");
    /// 503: one HTTP/2 connection has too many requests running.
    pub const CONNECTION_OVERLOADED: ProblemType =
        ProblemType::new("connection-overloaded", 503, "Service Unavailable");
}

impl GatewayError {
    /// The problem clients get for this cause.
    pub fn problem(self) -> Problem {
        let kind = match self {
            GatewayError::RouteNotFound => types::ROUTE_NOT_FOUND,
            GatewayError::Malformed => types::MALFORMED,
            GatewayError::MethodNotSupported => types::METHOD_NOT_SUPPORTED,
            GatewayError::UriTooLong => types::URI_TOO_LONG,
            GatewayError::HeaderTimeout | GatewayError::BodyTimeout => types::REQUEST_TIMEOUT,
            GatewayError::HeadersTooLarge => types::HEADERS_TOO_LARGE,
            GatewayError::BodyTooLarge => types::BODY_TOO_LARGE,
            GatewayError::BodyReadFailed => types::BODY_READ_FAILED,
            GatewayError::UpstreamUnreachable => types::UPSTREAM_UNREACHABLE,
            GatewayError::UpstreamTimeout => types::UPSTREAM_TIMEOUT,
            GatewayError::Overloaded => types::OVERLOADED,
            GatewayError::ConnectionOverloaded => types::CONNECTION_OVERLOADED,
        };
        match self {
            // Overload passes: worth a retry in a second.
            GatewayError::Overloaded | GatewayError::ConnectionOverloaded => {
                Problem::new(kind).with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            }
            _ => Problem::new(kind),
        }
    }
}

/// Renders a problem as a complete response (body bytes, no streaming).
pub fn problem_response(problem: &Problem, request_id: &str) -> Response<Bytes> {
    let body = Bytes::from(problem.to_json(request_id));
    let mut response = Response::new(body);
    *response.status_mut() = problem.kind.status_code();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    for (name, value) in &problem.headers {
        headers.append(name.clone(), value.clone());
    }
    response
}
