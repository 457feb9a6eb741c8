//! The `Stage` trait: one security capability plugged into the request path.
//!
//! A stage declares its [`Phase`]; the gateway runs every stage of a route in phase
//! order. Each hook has a default that does nothing, so a stage implements only the
//! hooks it needs. Hooks return a [`Step`]: most stages decide synchronously
//! (`Step::Done`) and cost no allocation; a stage that must wait for outside state
//! (a Redis counter, an introspection call) returns `Step::Wait` with a boxed future.

use std::future::Future;
use std::pin::Pin;

use crate::context::{RequestCx, ResponseCx};
use crate::phase::{Phase, ResponsePhase};
use crate::problem::Problem;

/// The most of an upstream response body the gateway buffers for stages
/// that read it (a larger one gets 502). Engines bound their own response
/// settings by it.
pub const RESPONSE_BUFFER_LIMIT: usize = 16 << 20;

/// What a stage decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go on to the next stage (or the upstream).
    Continue,
    /// Stop and answer the client with this problem. The upstream is not called (or,
    /// on the response side, its response is discarded).
    Respond(Problem),
}

/// A verdict now, or one to wait for.
pub enum Step<'a> {
    /// Decided synchronously.
    Done(Verdict),
    /// Decided once the future completes.
    Wait(Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>),
}

impl Step<'_> {
    /// Shorthand for `Step::Done(Verdict::Continue)`.
    pub const CONTINUE: Step<'static> = Step::Done(Verdict::Continue);

    /// Resolves the step into its verdict.
    pub async fn resolve(self) -> Verdict {
        match self {
            Step::Done(verdict) => verdict,
            Step::Wait(future) => future.await,
        }
    }
}

impl std::fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Done(verdict) => f.debug_tuple("Done").field(verdict).finish(),
            Step::Wait(_) => f.write_str("Wait(..)"),
        }
    }
}

/// One capability in the request path.
pub trait Stage: Send + Sync + 'static {
    /// A short stable name for logs and metrics, e.g. `jwt` or `waf`.
    fn name(&self) -> &'static str;

    /// The request phase this stage runs in.
    fn phase(&self) -> Phase;

    /// How many request-body bytes this stage needs buffered before
    /// [`Stage::on_request`] runs, or `None` (the default) when it does not read the
    /// body. Past its limit a stage refuses the body: the gateway buffers up to the
    /// smallest limit the route's stages ask for and answers larger bodies with 413;
    /// bodies no stage needs are streamed.
    fn request_body_limit(&self, _cx: &RequestCx) -> Option<usize> {
        None
    }

    /// Runs once per request, after every stage of an earlier phase continued.
    /// `cx.body` is set when this or an earlier stage asked for the body.
    /// Default: continue.
    fn on_request<'a>(&'a self, _cx: &'a mut RequestCx) -> Step<'a> {
        Step::CONTINUE
    }

    /// The response phase this stage's [`Stage::on_response`] runs in. Default:
    /// [`ResponsePhase::Headers`].
    fn response_phase(&self) -> ResponsePhase {
        ResponsePhase::Headers
    }

    /// Whether this stage needs the upstream's response body buffered (up to the
    /// route's response buffer limit). Default: no, the body is streamed.
    fn wants_response_body(&self, _cx: &RequestCx, _response: &ResponseCx) -> bool {
        false
    }

    /// Whether the first part of a response body is enough for this stage when the
    /// whole body is longer than the gateway's response buffer (ModSecurity's
    /// `ProcessPartial`): the stage then sees that prefix with
    /// [`ResponseCx::body_truncated`] set and the rest streams to the client after
    /// it. Default `false`, for stages that validate or rewrite the whole body:
    /// such responses are refused (502) rather than passed on unseen.
    fn inspects_response_body_prefix(&self) -> bool {
        false
    }

    /// Runs on the upstream's response, in response-phase order; may rewrite status,
    /// headers and (when asked for) body, or replace the response with a problem.
    /// Default: continue.
    fn on_response<'a>(
        &'a self,
        _cx: &'a mut RequestCx,
        _response: &'a mut ResponseCx,
    ) -> Step<'a> {
        Step::CONTINUE
    }
}
