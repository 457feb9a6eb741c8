//! A transaction: one request (and optionally its response) run through the
//! rules, phase by phase. It is fed data and returns an [`Interruption`] or
//! nothing; it does no I/O.
//!
//! Order of calls, as in ModSecurity: [`Transaction::set_connection`],
//! [`Transaction::set_request_line`], [`Transaction::add_request_header`]s,
//! [`Transaction::process_request_headers`] (phase 1),
//! [`Transaction::append_request_body`], [`Transaction::process_request_body`]
//! (phase 2), then optionally the response (phases 3 and 4) and
//! [`Transaction::process_logging`] (phase 5).

mod body;
mod cache;
mod collect;
mod collection;
mod data;
mod eval;
mod expand;
mod fold;
mod idle;
mod persistent;
mod response;
pub(crate) mod scan_memo;
mod sources;
mod spare;

use std::net::IpAddr;
use std::sync::Arc;

use regex::bytes::Regex;

use crate::rule::Rule;
use crate::ruleset::Ruleset;
use crate::seclang::actions::{BodyProcessor, EngineMode, IdRange};
use crate::seclang::targets::Exclusion;
#[cfg(test)]
pub(crate) use collect::live::matched_bytes as live_matched_bytes;
pub(crate) use collection::TX_LIMIT_FLAG;
pub use data::Item;
pub(crate) use data::{BaseKeyCache, Collection, SlotCache};
use data::{Ids, RequestData};
pub(crate) use fold::Outcome;
pub(crate) use idle::idle_keys;
pub(crate) use persistent::named_use;
pub(crate) use response::is_media_type;
pub(crate) use sources::ALWAYS as ALWAYS_SOURCES;
pub(crate) use sources::of_link as sources_of_link;

/// How the transaction was interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    /// The rule whose disruptive action fired.
    pub rule_id: u64,
    /// HTTP status to answer with.
    pub status: u16,
    /// `redirect` target, if that was the action.
    pub redirect: Option<String>,
    /// `drop`: close the connection.
    pub drop: bool,
}

/// One matched rule (chain starter), in match order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// Rule id.
    pub id: u64,
    /// Phase it ran in.
    pub phase: u8,
    /// Whether the rule logs its matches (not `nolog`); only these appear in
    /// ModSecurity's audit log.
    pub logged: bool,
    /// The expanded `msg`, for logged matches, at most 1 KiB. Operators
    /// only: it may contain request data.
    pub msg: Option<String>,
    /// Severity 0..=7.
    pub severity: Option<u8>,
    /// MATCHED_VAR_NAME of the last match: at most 256 bytes of it, then
    /// `...` when it was longer (the key part is the client's).
    pub matched_var_name: String,
}

/// One matched rule as the transaction keeps it: [`RuleMatch`]es are built
/// from these only when asked for.
#[derive(Debug, Clone)]
pub(crate) struct MatchRec {
    /// Index into the ruleset's rules.
    pub rule: usize,
    /// The `msg`, for logged matches.
    pub msg: expand::RecordedMsg,
    /// MATCHED_VAR_NAME after the match.
    pub var: RecVar,
}

/// MATCHED_VAR_NAME of a match record: kept once per change of MATCHED_VAR
/// rather than once per record (most records are replays of folded setup
/// rules, which leave it as it was). Only the name: a record that held the
/// match itself kept a copy of the matched value (a megabyte argument, once
/// per rule that matched it) for the transaction's life, and nothing reads
/// a past match's value.
#[derive(Debug, Clone)]
pub(crate) enum RecVar {
    /// The same as the previous record's.
    Previous,
    /// This name (`None`: no variable matched yet).
    Set(Option<Box<[u8]>>),
}

/// Bytes of MATCHED_VAR_NAME a match record keeps (before the marker).
pub(crate) const RECORDED_NAME_LIMIT: usize = 256;

/// What ends a recorded name cut at [`RECORDED_NAME_LIMIT`].
const CUT_MARKER: &[u8] = b"...";

/// MATCHED_VAR_NAME as a match record keeps it: at most
/// [`RECORDED_NAME_LIMIT`] bytes, cut before a UTF-8 continuation byte and
/// marked. The name holds the key (`ARGS_NAMES:<name>`), which the client
/// chooses: a 1 MiB argument name matched by many rules was copied whole
/// into each of their records for the transaction's life.
fn recorded_name(name: &[u8]) -> Box<[u8]> {
    if name.len() <= RECORDED_NAME_LIMIT {
        return name.into();
    }
    let mut end = RECORDED_NAME_LIMIT;
    // Back off at most three continuation bytes (a UTF-8 character's tail).
    for _ in 0..3 {
        match name.get(end) {
            Some(b) if b & 0xC0 == 0x80 => end -= 1,
            _ => break,
        }
    }
    let mut kept = Vec::with_capacity(end + CUT_MARKER.len());
    kept.extend_from_slice(name.get(..end).unwrap_or_default());
    kept.extend_from_slice(CUT_MARKER);
    kept.into_boxed_slice()
}

impl Drop for Transaction {
    fn drop(&mut self) {
        spare::give(spare::Spare {
            cache: std::mem::take(&mut self.cache),
            fact_hits: std::mem::take(&mut self.fact_hits),
            matches: std::mem::take(&mut self.matches),
            scratch: std::mem::take(&mut self.scratch),
            hits: std::mem::take(&mut self.hits),
        });
    }
}

/// Which rules a run-time target removal applies to.
#[derive(Debug, Clone)]
pub(crate) enum RulePick {
    Ids(Vec<IdRange>),
    Tag(Arc<Regex>),
}

impl RulePick {
    pub(crate) fn picks(&self, rule: &Rule) -> bool {
        match self {
            RulePick::Ids(ids) => ids.iter().any(|r| r.contains(rule.id)),
            RulePick::Tag(re) => rule.has_tag_matching(re),
        }
    }
}

/// Per-transaction configuration changed by `ctl:` or exclusions.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub engine: EngineMode,
    pub body_access: bool,
    pub force_body_variable: bool,
    pub removed_ids: Vec<IdRange>,
    pub removed_tags: Vec<Arc<Regex>>,
    pub target_removals: Vec<(RulePick, Exclusion)>,
}

impl Runtime {
    /// No run-time removal (`ctl:ruleRemove*`) is in force: no rule is
    /// removed or has targets removed.
    pub(crate) fn picks_nothing(&self) -> bool {
        self.removed_ids.is_empty()
            && self.removed_tags.is_empty()
            && self.target_removals.is_empty()
    }
}

/// One HTTP transaction under inspection.
#[derive(Debug)]
pub struct Transaction {
    rs: Arc<Ruleset>,
    data: RequestData,
    vars: collect::Vars,
    ids: Ids,
    cache: cache::ValueCache,
    /// Per chain node, this phase: prefilter slots some request fact may
    /// match (empty: not computed yet).
    fact_hits: Vec<u64>,
    /// [`RequestData::signature`] when `fact_hits` was last brought up to date.
    facts_signature: (usize, u64),
    /// Facts changed since `fact_hits` was last brought up to date.
    facts_dirty: bool,
    /// Highest item id `fact_hits` covers.
    facts_upto: u32,
    /// The request parts that hold a value ([`sources::present`]), as of
    /// the start of the running phase (data changes only between phases).
    present: u64,
    memo: std::cell::RefCell<crate::services::InjectionMemo>,
    runtime: Runtime,
    interruption: Option<Interruption>,
    detected: Option<Interruption>,
    /// Only ever appended to: a record keeps its MATCHED_VAR alive.
    matches: Vec<MatchRec>,
    /// The MATCHED_VAR the last [`RecVar::Set`] record was made from: held
    /// so that the same allocation means the same match.
    last_rec_var: Option<collect::MatchedVar>,
    /// Whether the ruleset's folded rules are replayed (decided when phase 1
    /// starts; see [`crate::fold`]).
    folded: bool,
    /// Whether `folded` was decided.
    fold_decided: bool,
    /// Candidate buffer reused by every rule (always empty between rules).
    scratch: Vec<collect::Candidate<'static>>,
    /// The matches of the link being evaluated, kept between links (one
    /// allocation per transaction instead of one per matching link).
    hits: Vec<eval::Hit>,
    /// Request/response phases up to this one are skipped (`allow`).
    allow_through: u8,
    body: Vec<u8>,
    response_body: Vec<u8>,
    phase_done: u8,
    /// Whether match records keep the rules' `msg` texts (see
    /// [`Transaction::set_record_messages`]).
    record_messages: bool,
    /// Persistent collections bound by `initcol`: (collection, record key).
    persistent: Vec<(String, Vec<u8>)>,
    /// Bound records whose variables are not copied in yet (see
    /// the `persistent` module).
    unloaded: Vec<(String, crate::persist::Bound)>,
    /// When the transaction started, by the ruleset's clock (for DURATION).
    started_us: u64,
}

impl Transaction {
    /// A new transaction over a shared ruleset.
    pub fn new(rs: Arc<Ruleset>) -> Self {
        let runtime = Runtime {
            engine: rs.settings.engine,
            body_access: rs.settings.request_body_access,
            force_body_variable: false,
            removed_ids: Vec::new(),
            removed_tags: Vec::new(),
            target_removals: Vec::new(),
        };
        // Ids up to the folded template's are reserved for its TX items.
        let ids = Ids::starting_after(rs.fold.ids_used);
        let memo = std::cell::RefCell::new(crate::services::InjectionMemo::with_shared(
            rs.verdicts.clone(),
        ));
        let spare = spare::take();
        // Folded rules that match (setup `SecAction`s) each leave a match
        // record: room for all of them up front instead of regrowing.
        let mut matches = spare.matches;
        matches.reserve(rs.fold.count);
        let started_us = if rs.reads_duration {
            rs.services.clock.now_micros()
        } else {
            0
        };
        Self {
            started_us,
            rs,
            data: RequestData::default(),
            vars: collect::Vars::default(),
            ids,
            cache: spare.cache,
            fact_hits: spare.fact_hits,
            facts_signature: (usize::MAX, 0),
            facts_dirty: true,
            facts_upto: 0,
            present: sources::ALWAYS,
            memo,
            runtime,
            interruption: None,
            detected: None,
            matches,
            last_rec_var: None,
            folded: false,
            fold_decided: false,
            scratch: spare.scratch,
            hits: spare.hits,
            allow_through: 0,
            body: Vec::new(),
            response_body: Vec::new(),
            phase_done: 0,
            record_messages: true,
            persistent: Vec::new(),
            unloaded: Vec::new(),
        }
    }

    /// Sets the client address and port, and an id for UNIQUE_ID.
    pub fn set_connection(&mut self, client: IpAddr, port: u16, unique_id: &str) {
        self.data.remote_addr = Some(self.ids.item(Vec::new(), body::ip_text(client)));
        self.data.remote_port = port;
        self.data.unique_id = Some(self.ids.item(Vec::new(), unique_id.as_bytes().to_vec()));
    }

    /// Sets the server (virtual host) name.
    pub fn set_server_name(&mut self, name: &str) {
        self.data.server_name = Some(self.ids.item(Vec::new(), name.as_bytes().to_vec()));
    }

    /// Sets the request line: method, request target as sent (path and query),
    /// protocol (`HTTP/1.1`).
    pub fn set_request_line(&mut self, method: &str, uri: &str, protocol: &str) {
        body::set_request_line(
            &mut self.data,
            &mut self.ids,
            &self.rs.settings,
            method,
            uri,
            None,
            protocol,
        );
    }

    /// [`Transaction::set_request_line`] for a proxy that forwards the path
    /// changed (dot segments removed): `path` (no query) is what the
    /// application receives. REQUEST_FILENAME and REQUEST_BASENAME come from
    /// it, so rules that select requests by path (exclusions) see the path
    /// that is served; REQUEST_URI, REQUEST_URI_RAW and REQUEST_LINE keep the
    /// target as sent.
    pub fn set_request_line_with_path(
        &mut self,
        method: &str,
        uri: &str,
        path: &str,
        protocol: &str,
    ) {
        body::set_request_line(
            &mut self.data,
            &mut self.ids,
            &self.rs.settings,
            method,
            uri,
            Some(path),
            protocol,
        );
    }

    /// Adds a request header (repeat for repeated headers).
    pub fn add_request_header(&mut self, name: &str, value: &[u8]) {
        body::add_request_header(&mut self.data, &mut self.ids, name, value);
    }

    /// Runs phase 1 (request headers).
    pub fn process_request_headers(&mut self) -> Option<&Interruption> {
        if self.phase_done < 1 {
            self.vars.body_processor = body::processor_from_content_type(&self.data);
            self.phase_done = 1;
            self.run_phase(1);
        }
        self.interruption.as_ref()
    }

    /// Appends request body bytes; bytes past `SecRequestBodyLimit` are not
    /// kept and INBOUND_DATA_ERROR is set.
    pub fn append_request_body(&mut self, chunk: &[u8]) {
        let limit = self.rs.settings.request_body_limit;
        let room = limit.saturating_sub(self.body.len());
        if chunk.len() > room {
            self.data.inbound_data_error = true;
        }
        self.body
            .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
    }

    /// Parses the body (if body access is on) and runs phase 2. A body
    /// without Content-Type for which no rule chose a processor is read as
    /// JSON when it looks like JSON (see `body::json_without_content_type`).
    pub fn process_request_body(&mut self) -> Option<&Interruption> {
        self.process_request_headers();
        if self.phase_done < 2 {
            self.phase_done = 2;
            if self.interruption.is_none() {
                if self.runtime.body_access {
                    let body = std::mem::take(&mut self.body);
                    if self.vars.body_processor.is_none()
                        && body::json_without_content_type(&self.data, &body)
                    {
                        self.vars.body_processor = Some(BodyProcessor::Json);
                    }
                    body::process(
                        &mut self.data,
                        &mut self.ids,
                        &self.vars,
                        &self.rs.settings,
                        body,
                        self.runtime.force_body_variable,
                        self.rs.reads_full_request,
                    );
                }
                self.run_phase(2);
            }
        }
        self.interruption.as_ref()
    }

    /// Sets the response status and protocol.
    pub fn set_response_status(&mut self, status: u16, protocol: &str) {
        self.data.response_status =
            Some(self.ids.item(Vec::new(), status.to_string().into_bytes()));
        self.data.response_protocol = Some(self.ids.item(Vec::new(), protocol.as_bytes().to_vec()));
    }

    /// Adds a response header.
    pub fn add_response_header(&mut self, name: &str, value: &[u8]) {
        let item = self.ids.item(name.as_bytes().to_vec(), value.to_vec());
        self.data.response_headers.push(item);
    }

    /// Runs phase 3 (response headers).
    pub fn process_response_headers(&mut self) -> Option<&Interruption> {
        self.process_request_body();
        if self.phase_done < 3 {
            self.phase_done = 3;
            self.run_phase(3);
        }
        self.interruption.as_ref()
    }

    /// Appends response body bytes (up to `SecResponseBodyLimit`).
    pub fn append_response_body(&mut self, chunk: &[u8]) {
        let room = self
            .rs
            .settings
            .response_body_limit
            .saturating_sub(self.response_body.len());
        self.response_body
            .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
    }

    /// Runs phase 4 (response body).
    pub fn process_response_body(&mut self) -> Option<&Interruption> {
        self.process_response_headers();
        if self.phase_done < 4 {
            self.phase_done = 4;
            if self.response_body_inspected() {
                let b = std::mem::take(&mut self.response_body);
                self.data.response_body = Some(self.ids.item(Vec::new(), b));
            }
            self.run_phase(4);
        }
        self.interruption.as_ref()
    }

    /// Runs phase 5 (logging); it cannot interrupt.
    pub fn process_logging(&mut self) {
        if self.phase_done < 5 {
            self.phase_done = 5;
            let saved = self.interruption.take();
            self.run_phase(5);
            self.interruption = saved;
        }
    }

    /// The interruption, if a disruptive action fired (engine `On`).
    pub fn interruption(&self) -> Option<&Interruption> {
        self.interruption.as_ref()
    }

    /// In `DetectionOnly` mode: the interruption that would have happened.
    pub fn detected_interruption(&self) -> Option<&Interruption> {
        self.detected.as_ref()
    }

    /// Every matched rule, in order (including `nolog` ones).
    pub fn matches(&self) -> Vec<RuleMatch> {
        let mut var: Option<&[u8]> = None;
        self.matches
            .iter()
            .filter_map(|m| {
                if let RecVar::Set(v) = &m.var {
                    var = v.as_deref();
                }
                let rule = self.rs.rules.get(m.rule)?;
                Some(RuleMatch {
                    id: rule.id,
                    phase: rule.phase,
                    logged: rule.log,
                    msg: m.msg.text(rule),
                    severity: rule.severity,
                    matched_var_name: var
                        .map(|name| String::from_utf8_lossy(name).into_owned())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Records a match of rule `idx` with MATCHED_VAR as it is now.
    pub(crate) fn push_match(&mut self, idx: usize, msg: expand::RecordedMsg) {
        let current = &self.vars.matched_var;
        let same = match (current, &self.last_rec_var) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        let var = if !self.matches.is_empty() && same {
            RecVar::Previous
        } else {
            self.last_rec_var = current.clone();
            RecVar::Set(current.as_deref().map(|m| recorded_name(m.name())))
        };
        self.matches.push(MatchRec {
            rule: idx,
            msg,
            var,
        });
    }

    /// How many rules (chain starters) matched so far, logged or not: it only
    /// grows, so an unchanged count means an unchanged [`Self::matches`].
    pub fn match_count(&self) -> usize {
        self.matches.len()
    }

    /// Ids of matched rules that log (what ModSecurity's audit log lists), in order.
    pub fn matched_rule_ids(&self) -> Vec<u64> {
        self.matches
            .iter()
            .filter_map(|m| self.rs.rules.get(m.rule))
            .filter(|r| r.log)
            .map(|r| r.id)
            .collect()
    }

    /// A TX variable.
    pub fn tx(&self, name: &str) -> Option<&[u8]> {
        self.vars.tx.get(name.as_bytes())
    }

    /// Every TX variable (name, value), in name order.
    pub fn tx_vars(&self) -> Vec<(&[u8], &[u8])> {
        self.vars
            .tx
            .iter()
            .map(|i| (i.key.as_slice(), i.value.as_slice()))
            .collect()
    }

    /// Whether the request body, without the contents of uploaded files, is
    /// longer than `SecRequestBodyNoFilesLimit` (known once the body was
    /// processed; the gateway refuses such requests with 413).
    pub fn request_body_no_files_limit_exceeded(&self) -> bool {
        self.data.no_files_limit_exceeded
    }

    /// The inbound anomaly score as CRS computes it (`tx.blocking_inbound_anomaly_score`
    /// in v4, `tx.anomaly_score` in 3.x), 0 when unset.
    pub fn inbound_anomaly_score(&self) -> i64 {
        ["blocking_inbound_anomaly_score", "anomaly_score"]
            .iter()
            .find_map(|k| self.tx(k))
            .map(crate::operators::atoi_bytes)
            .unwrap_or(0)
    }

    /// Removes rules for this transaction (per-route exclusions).
    pub fn remove_rules_by_id(&mut self, ids: &[IdRange]) {
        self.runtime.removed_ids.extend_from_slice(ids);
    }

    /// Removes rules carrying a tag matching `re` for this transaction.
    pub fn remove_rules_by_tag(&mut self, re: Arc<Regex>) {
        self.runtime.removed_tags.push(re);
    }

    /// Removes a target from rules with these ids for this transaction.
    pub fn remove_target_by_id(&mut self, ids: &[IdRange], target: Exclusion) {
        self.runtime
            .target_removals
            .push((RulePick::Ids(ids.to_vec()), target));
    }

    /// Removes a target from rules with a tag matching `re` for this transaction.
    pub fn remove_target_by_tag(&mut self, re: Arc<Regex>, target: Exclusion) {
        self.runtime
            .target_removals
            .push((RulePick::Tag(re), target));
    }

    /// Whether [`Transaction::matches`] reports each logged rule's `msg`
    /// (default on). Off, no message is expanded (a `msg` with macros is
    /// expanded when its rule matches, which costs a blocked request several
    /// TX reads) and `matches()` gives `None`; nothing else changes: expanding
    /// a message has no effect on the transaction. For callers that read only
    /// ids and scores ([`crate::WafStage`]'s audit record).
    pub fn set_record_messages(&mut self, on: bool) {
        self.record_messages = on;
    }

    /// When the request started (e.g. the instant its head was read):
    /// `DURATION` then counts from there, as in ModSecurity, rather than from
    /// [`Transaction::new`]. (A gateway that builds the transaction once the
    /// body is buffered would otherwise show phases 1 and 2 a `DURATION` of
    /// about 0.) Its age now is measured on the monotonic clock and taken
    /// off the injected one (`Services::clock`); nothing is read when no
    /// rule reads `DURATION`.
    pub fn set_request_start(&mut self, started: std::time::Instant) {
        if self.rs.reads_duration {
            let age = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.started_us = self.rs.services.clock.now_micros().saturating_sub(age);
        }
    }

    /// Forces the engine mode for this transaction.
    pub fn set_engine_mode(&mut self, mode: EngineMode) {
        self.runtime.engine = mode;
    }
}
