//! [`WafStage`]: the engine as a Rampart [`Stage`] at [`Phase::Waf`] (request
//! phases 1 and 2) and at [`ResponsePhase::Inspection`] (phases 3 and 4).
//!
//! The transaction outlives `on_request`: it is parked in the request's
//! extensions ([`PendingTransaction`]) so the response phases see what the
//! request phases set (TX variables, anomaly scores, `ctl:` changes). Phase 5
//! (logging) runs after the response phases, or when the request ends without
//! them (request refused, upstream failure): dropping the parked transaction
//! runs it.

use std::sync::{Arc, Mutex};

use rampart_core::{
    Phase, Problem, ProblemType, RequestCx, ResponseCx, ResponsePhase, Stage, Step, Verdict,
};

use crate::config::{CompiledWaf, WafConfig, WafConfigError, WafMode};
use crate::ruleset::BodyLimitAction;
use crate::transaction::Transaction;

/// The problem blocked requests get; it names no rule.
pub const WAF_BLOCKED: ProblemType = ProblemType::new("waf-blocked", 403, "Request blocked");

/// The problem clients get for a request body whose non-file part is longer
/// than `SecRequestBodyNoFilesLimit` (the gateway's own 413 type).
pub const WAF_BODY_TOO_LARGE: ProblemType =
    ProblemType::new("body-too-large", 413, "Content Too Large");

/// The problem clients get when the upstream's response is withheld (CRS
/// `RESPONSE-95x` data leakage rules); it names no rule.
pub const WAF_RESPONSE_BLOCKED: ProblemType =
    ProblemType::new("waf-response-blocked", 502, "Response withheld");

/// Reason recorded in detection-only mode when the rules would have blocked.
pub const WAF_DETECTED: &str = "waf-detected";

/// Runs the CRS (or any SecLang rules) on each request.
#[derive(Debug, Clone)]
pub struct WafStage {
    waf: CompiledWaf,
}

impl WafStage {
    /// Builds the stage (loads the rules once).
    pub fn new(config: &WafConfig) -> Result<Self, WafConfigError> {
        Ok(Self {
            waf: config.build()?,
        })
    }

    /// Wraps an already built engine.
    pub fn from_compiled(waf: CompiledWaf) -> Self {
        Self { waf }
    }

    /// The engine.
    pub fn compiled(&self) -> &CompiledWaf {
        &self.waf
    }

    /// Builds and runs a transaction for a request (phases 1, 2 and 5).
    pub fn inspect(&self, cx: &RequestCx) -> Transaction {
        let mut tx = self.inspect_request(cx);
        tx.process_logging();
        tx
    }

    /// Builds and runs a transaction for a request: phases 1 and 2 only, so
    /// that the response phases can follow.
    pub fn inspect_request(&self, cx: &RequestCx) -> Transaction {
        self.run_request(cx, true)
    }

    /// [`WafStage::inspect_request`]; `messages`: whether match records keep
    /// the rules' messages ([`Transaction::set_record_messages`]).
    fn run_request(&self, cx: &RequestCx, messages: bool) -> Transaction {
        let mut tx = Transaction::new(self.waf.ruleset.clone());
        tx.set_record_messages(messages);
        if let Some(started) = cx.received_at {
            tx.set_request_start(started);
        }
        for e in &self.waf.exclusions {
            let applies = e.routes.is_empty()
                || cx
                    .route
                    .as_ref()
                    .is_some_and(|r| e.routes.iter().any(|x| x == r));
            if !applies {
                continue;
            }
            tx.remove_rules_by_id(&e.ids);
            for t in &e.tags {
                tx.remove_rules_by_tag(t.clone());
            }
            for (ids, tags, target) in &e.targets {
                if !ids.is_empty() {
                    tx.remove_target_by_id(ids, target.clone());
                }
                for t in tags {
                    tx.remove_target_by_tag(t.clone(), target.clone());
                }
            }
        }
        tx.set_connection(cx.client_ip, cx.peer_addr.port(), &cx.request_id);
        tx.set_server_name(&cx.host);
        // The target and version as the client sent them: CRS rules look for
        // `../` and protocol anomalies that normalisation would hide.
        // A context built without the raw target (tests, other hosts) carries the
        // query separately.
        let uri = match (&cx.query, cx.raw_target.contains('?')) {
            (Some(query), false) => format!("{}?{query}", cx.raw_target),
            _ => cx.raw_target.clone(),
        };
        // REQUEST_FILENAME, though, is the normalised path the upstream
        // gets: a rule that switches inspection off by path must not be met
        // by `/excluded/../other`.
        if cx.path.is_empty() {
            tx.set_request_line(cx.method.as_str(), &uri, protocol(cx.version));
        } else {
            tx.set_request_line_with_path(cx.method.as_str(), &uri, &cx.path, protocol(cx.version));
        }
        if !cx.headers.contains_key(http::header::HOST) && !cx.host.is_empty() {
            tx.add_request_header("Host", cx.host.as_bytes());
        }
        for (name, value) in &cx.headers {
            tx.add_request_header(name.as_str(), value.as_bytes());
        }
        tx.process_request_headers();
        if let Some(body) = &cx.body {
            tx.append_request_body(body);
        }
        tx.process_request_body();
        tx
    }

    /// Whether response phases have anything to do: rules in phase 3 or 4, or
    /// persistent collections whose phase 5 updates should follow the response.
    fn inspects_responses(&self) -> bool {
        self.waf.ruleset.has_rules_in(3) || self.waf.ruleset.has_rules_in(4)
    }

    fn record(&self, cx: &mut RequestCx, tx: &Transaction) {
        self.record_after(cx, tx, None);
    }

    /// [`Self::record`], where `recorded` is the transaction's match count
    /// when its rule list was last put in `cx`'s notes: the list (rebuilt
    /// from ~150 match records) is kept when no rule matched since.
    fn record_after(&self, cx: &mut RequestCx, tx: &Transaction, recorded: Option<usize>) {
        if recorded != Some(tx.match_count()) {
            cx.notes.waf.matched_rules = tx.matched_rule_ids();
        }
        cx.notes.waf.anomaly_score = tx.inbound_anomaly_score();
        if self.waf.mode == WafMode::DetectionOnly && tx.detected_interruption().is_some() {
            cx.notes.reason = Some(WAF_DETECTED.to_string());
        }
    }

    /// Phases 3 and 4 on the upstream's response, then phase 5.
    fn inspect_response(
        &self,
        cx: &mut RequestCx,
        response: &ResponseCx,
        pending: &PendingTransaction,
    ) -> Verdict {
        let mut guard = pending.0.lock().unwrap_or_else(|p| p.into_inner());
        let recorded = Some(guard.recorded);
        let tx = &mut guard.tx;
        tx.set_response_status(response.status.as_u16(), protocol(cx.version));
        for (name, value) in &response.headers {
            tx.add_response_header(name.as_str(), value.as_bytes());
        }
        tx.process_response_headers();
        if tx.interruption().is_none()
            && let Some(body) = &response.body
            && tx.response_body_inspected()
        {
            let settings = self.waf.ruleset.settings();
            if settings.response_body_limit_action == BodyLimitAction::Reject
                && (response.body_truncated || body.len() > settings.response_body_limit)
            {
                tx.process_logging();
                self.record_after(cx, tx, recorded);
                tracing::info!(request_id = %cx.request_id, "waf withheld response: body past SecResponseBodyLimit");
                return Verdict::Respond(Problem::new(WAF_RESPONSE_BLOCKED));
            }
            tx.append_response_body(body);
        }
        tx.process_response_body();
        tx.process_logging();
        self.record_after(cx, tx, recorded);
        if let Some(i) = tx.interruption() {
            tracing::info!(rule = i.rule_id, request_id = %cx.request_id, "waf withheld response");
            return Verdict::Respond(Problem::new(WAF_RESPONSE_BLOCKED));
        }
        Verdict::Continue
    }
}

fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// A transaction parked between the request and the response phases (in
/// `RequestCx::extensions`). Dropping it runs phase 5 if nothing did.
#[derive(Debug, Clone)]
pub struct PendingTransaction(Arc<Mutex<LoggedOnDrop>>);

/// Runs phase 5 when the last handle goes away.
#[derive(Debug)]
struct LoggedOnDrop {
    tx: Transaction,
    /// The match count when `on_request` recorded the request's notes.
    recorded: usize,
}

impl std::ops::Deref for LoggedOnDrop {
    type Target = Transaction;
    fn deref(&self) -> &Transaction {
        &self.tx
    }
}

impl std::ops::DerefMut for LoggedOnDrop {
    fn deref_mut(&mut self) -> &mut Transaction {
        &mut self.tx
    }
}

impl Drop for LoggedOnDrop {
    fn drop(&mut self) {
        self.tx.process_logging();
    }
}

impl Stage for WafStage {
    fn name(&self) -> &'static str {
        "waf"
    }

    fn phase(&self) -> Phase {
        Phase::Waf
    }

    fn request_body_limit(&self, cx: &RequestCx) -> Option<usize> {
        let s = self.waf.ruleset.settings();
        if !s.request_body_access {
            return None;
        }
        // Only uploads may go past SecRequestBodyNoFilesLimit (their non-file
        // bytes are counted once the body is parsed).
        let multipart = cx.headers.get(http::header::CONTENT_TYPE).is_some_and(|v| {
            crate::transaction::is_media_type(v.as_bytes(), "multipart/form-data")
        });
        Some(if multipart {
            s.request_body_limit
        } else {
            s.request_body_limit.min(s.request_body_no_files_limit)
        })
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        // The audit record reads matched ids and the score, never messages.
        let mut tx = self.run_request(cx, false);
        if tx.request_body_no_files_limit_exceeded() {
            tracing::info!(request_id = %cx.request_id, "waf refused request: body past SecRequestBodyNoFilesLimit");
            tx.process_logging();
            self.record(cx, &tx);
            return Step::Done(Verdict::Respond(Problem::new(WAF_BODY_TOO_LARGE)));
        }
        if let Some(i) = tx.interruption() {
            tracing::info!(rule = i.rule_id, request_id = %cx.request_id, "waf blocked request");
            tx.process_logging();
            self.record(cx, &tx);
            return Step::Done(Verdict::Respond(Problem::new(WAF_BLOCKED)));
        }
        if self.inspects_responses() {
            self.record(cx, &tx);
            let recorded = tx.match_count();
            cx.extensions
                .insert(PendingTransaction(Arc::new(Mutex::new(LoggedOnDrop {
                    tx,
                    recorded,
                }))));
        } else {
            tx.process_logging();
            self.record(cx, &tx);
        }
        Step::CONTINUE
    }

    fn response_phase(&self) -> ResponsePhase {
        ResponsePhase::Inspection
    }

    fn wants_response_body(&self, cx: &RequestCx, response: &ResponseCx) -> bool {
        let s = self.waf.ruleset.settings();
        if !s.response_body_access || cx.extensions.get::<PendingTransaction>().is_none() {
            return false;
        }
        response
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| {
                s.response_mime_types
                    .iter()
                    .any(|t| crate::transaction::is_media_type(v.as_bytes(), t))
            })
    }

    /// Bodies longer than the gateway buffers are inspected up to
    /// `SecResponseBodyLimit` (at most the buffer) like any other.
    fn inspects_response_body_prefix(&self) -> bool {
        true
    }

    fn on_response<'a>(&'a self, cx: &'a mut RequestCx, response: &'a mut ResponseCx) -> Step<'a> {
        let Some(pending) = cx.extensions.remove::<PendingTransaction>() else {
            return Step::CONTINUE;
        };
        Step::Done(self.inspect_response(cx, response, &pending))
    }
}
