//! [`WafStage`]: the engine as a Rampart [`Stage`] at [`Phase::Waf`].

use rampart_core::{Phase, Problem, ProblemType, RequestCx, Stage, Step, Verdict};

use crate::config::{CompiledWaf, WafConfig, WafConfigError, WafMode};
use crate::transaction::Transaction;

/// The problem blocked requests get; it names no rule.
pub const WAF_BLOCKED: ProblemType = ProblemType::new("waf-blocked", 403, "Request blocked");

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
        let mut tx = Transaction::new(self.waf.ruleset.clone());
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
        let protocol = match cx.version {
            http::Version::HTTP_09 => "HTTP/0.9",
            http::Version::HTTP_10 => "HTTP/1.0",
            http::Version::HTTP_2 => "HTTP/2.0",
            http::Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP/1.1",
        };
        tx.set_request_line(cx.method.as_str(), &uri, protocol);
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
        tx.process_logging();
        tx
    }
}

impl Stage for WafStage {
    fn name(&self) -> &'static str {
        "waf"
    }

    fn phase(&self) -> Phase {
        Phase::Waf
    }

    fn request_body_limit(&self, _cx: &RequestCx) -> Option<usize> {
        let s = self.waf.ruleset.settings();
        s.request_body_access.then_some(s.request_body_limit)
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        let tx = self.inspect(cx);
        cx.notes.waf.matched_rules = tx.matched_rule_ids();
        cx.notes.waf.anomaly_score = tx.inbound_anomaly_score();
        if let Some(i) = tx.interruption() {
            tracing::info!(rule = i.rule_id, request_id = %cx.request_id, "waf blocked request");
            return Step::Done(Verdict::Respond(Problem::new(WAF_BLOCKED)));
        }
        if self.waf.mode == WafMode::DetectionOnly && tx.detected_interruption().is_some() {
            cx.notes.reason = Some(WAF_DETECTED.to_string());
        }
        Step::CONTINUE
    }
}
