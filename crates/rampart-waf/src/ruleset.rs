//! The immutable, shareable result of loading rules, and the builder that the
//! SecLang loader feeds directive by directive.

mod heads;
mod jumps;

pub(crate) use heads::Head;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::error::{LoadError, LoadErrorKind, LoadWarning, Location};
use crate::fold::Fold;
use crate::operators::CompileStats;
use crate::operators::rx::DEFAULT_BACKTRACK_LIMIT;
use crate::persist::{CollectionStore, StoreLimits};
use crate::prefilter::Prefilter;
use crate::rule::Rule;
use crate::seclang::actions::{EngineMode, IdRange, parse_actions};
use crate::seclang::rule_builder::{Defaults, apply_action};
use crate::seclang::targets::parse_targets;
use crate::services::Services;
use crate::transformations::ChainTable;

/// What happens to a body longer than its inspection limit
/// (`SecRequestBodyLimitAction`, `SecResponseBodyLimitAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimitAction {
    /// The message is refused.
    Reject,
    /// The first part, up to the limit, is inspected; the message passes.
    ProcessPartial,
}

impl BodyLimitAction {
    /// Parses the directive's argument (case-insensitive).
    pub fn parse(arg: &str) -> Option<Self> {
        if arg.eq_ignore_ascii_case("Reject") {
            Some(Self::Reject)
        } else if arg.eq_ignore_ascii_case("ProcessPartial") {
            Some(Self::ProcessPartial)
        } else {
            None
        }
    }
}

/// Engine settings from directives (`SecRuleEngine`, `SecRequestBodyAccess`, ...).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `SecRuleEngine`.
    pub engine: EngineMode,
    /// `SecRequestBodyAccess`.
    pub request_body_access: bool,
    /// `SecRequestBodyLimit`: bytes of body inspected at most.
    pub request_body_limit: usize,
    /// `SecRequestBodyNoFilesLimit`: bytes of body allowed besides the
    /// contents of uploaded files (all of a body that is not
    /// `multipart/form-data`); longer bodies are refused with 413.
    pub request_body_no_files_limit: usize,
    /// `SecResponseBodyAccess`.
    pub response_body_access: bool,
    /// `SecResponseBodyLimit`: response body bytes inspected at most.
    pub response_body_limit: usize,
    /// `SecResponseBodyLimitAction`: what happens to an inspected response
    /// body longer than `response_body_limit`. Rampart's default is
    /// `ProcessPartial` (the first `response_body_limit` bytes are inspected,
    /// the response passes), which is what ModSecurity's recommended
    /// configuration sets; ModSecurity's built-in default is `Reject`.
    pub response_body_limit_action: BodyLimitAction,
    /// `SecResponseBodyMimeType`: media types (lower-case, no parameters)
    /// whose response bodies are inspected.
    pub response_mime_types: Vec<String>,
    /// `SecArgumentSeparator`.
    pub argument_separator: u8,
    /// `SecPcreMatchLimit`: backtracking limit of the fallback regex engine.
    pub backtrack_limit: usize,
    /// `SecRequestBodyJsonDepthLimit`.
    pub json_depth_limit: usize,
    /// `SecArgumentsLimit`.
    pub arguments_limit: usize,
    /// `SecComponentSignature` values.
    pub component_signatures: Vec<String>,
    /// Bounds of the persistent collections (`SecCollectionTimeout` sets the
    /// idle timeout).
    pub collections: StoreLimits,
    /// Whether `@rx` evaluations go through the [`crate::prefilter`] (on by
    /// default; off only to measure or to compare results).
    pub prefilter: bool,
    /// Whether rules whose outcome is the same for every request are folded
    /// at load ([`crate::fold`]; on by default; off only to measure or to
    /// compare results).
    pub fold: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            engine: EngineMode::On,
            request_body_access: false,
            request_body_limit: 13_107_200,
            request_body_no_files_limit: 1_048_576,
            response_body_access: false,
            response_body_limit: 524_288,
            response_body_limit_action: BodyLimitAction::ProcessPartial,
            response_mime_types: vec!["text/plain".into(), "text/html".into()],
            argument_separator: b'&',
            backtrack_limit: DEFAULT_BACKTRACK_LIMIT,
            json_depth_limit: 512,
            arguments_limit: 1000,
            component_signatures: Vec::new(),
            collections: StoreLimits::default(),
            prefilter: true,
            fold: true,
        }
    }
}

/// One position in a phase's rule list.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Index into [`Ruleset::rules`].
    Rule(usize),
    /// A `SecMarker`.
    Marker,
}

/// Loaded rules: immutable, built once per configuration and shared (`Arc`)
/// by every transaction.
#[derive(Debug)]
pub struct Ruleset {
    pub(crate) rules: Vec<Rule>,
    pub(crate) phases: [Vec<Entry>; 5],
    /// Per phase, per entry: where a `skipAfter` of that entry's rule
    /// resumes: the entry after the first target after the rule ([`jumps`];
    /// always forward).
    pub(crate) jumps: [Vec<usize>; 5],
    pub(crate) chains: ChainTable,
    pub(crate) settings: Settings,
    pub(crate) services: Services,
    /// Persistent collections of this engine instance.
    pub(crate) store: Arc<CollectionStore>,
    /// Injection verdicts shared by this ruleset's transactions.
    pub(crate) verdicts: Arc<crate::services::SharedVerdicts>,
    pub(crate) prefilter: Prefilter,
    pub(crate) stats: CompileStats,
    /// What the rule files say that has no effect (see [`LoadWarning`]).
    pub(crate) warnings: Vec<LoadWarning>,
    /// Rules folded at load.
    pub(crate) fold: Fold,
    /// Per rule: which of its parts may use a collection `initcol` binds
    /// ([`crate::transaction::named_use`]).
    pub(crate) named_use: Vec<u64>,
    /// Per rule: the request parts its first link reads
    /// ([`crate::transaction::sources_of_link`]); a rule whose parts are all
    /// empty in a transaction cannot match and is not evaluated.
    pub(crate) first_sources: Vec<u64>,
    /// Per rule, when folding is active: the TX keys of a first link that
    /// does not match the folded TX state ([`crate::transaction::idle_keys`]);
    /// the rule is skipped while none of them was written.
    pub(crate) idle: Vec<Option<Box<[Vec<u8>]>>>,
    /// Whether a rule reads FULL_REQUEST (the raw request body is then kept
    /// for it) or DURATION (the clock is then read as each phase starts).
    pub(crate) reads_full_request: bool,
    pub(crate) reads_duration: bool,
    /// Per phase, per entry of [`Self::phases`]: what the rule loop reads
    /// first ([`heads`]); built last, from everything above.
    pub(crate) heads: [Vec<heads::Head>; 5],
}

impl Ruleset {
    /// Engine settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Directives of the rule files that loaded but have no effect, with
    /// file and line, in load order.
    pub fn warnings(&self) -> &[LoadWarning] {
        &self.warnings
    }

    /// Number of rules (chain starters) loaded.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Ids of all rules, in load order.
    pub fn rule_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.rules.iter().map(|r| r.id)
    }

    /// `@rx` patterns that needed the backtracking fallback.
    pub fn regex_fallbacks(&self) -> usize {
        self.stats.rx_fallbacks
    }

    /// Whether any rule runs in `phase` (1..=5).
    pub fn has_rules_in(&self, phase: u8) -> bool {
        usize::from(phase)
            .checked_sub(1)
            .and_then(|p| self.phases.get(p))
            .is_some_and(|list| list.iter().any(|e| matches!(e, Entry::Rule(_))))
    }

    /// The persistent collections (`initcol`) of this engine instance.
    pub fn collections(&self) -> &CollectionStore {
        &self.store
    }

    /// Number of rules folded at load (evaluated once, replayed per request).
    pub fn folded_rules(&self) -> usize {
        self.fold.count
    }

    /// Number of rules a folded jump always skips (visited only when a
    /// run-time removal picks that jump or makes the transaction run unfolded).
    pub fn statically_skipped_rules(&self) -> usize {
        self.fold.skipped
    }

    /// Whether the rule with this id was folded at load.
    pub fn is_folded(&self, id: u64) -> bool {
        self.rules
            .iter()
            .zip(&self.fold.outcomes)
            .any(|(r, o)| r.id == id && o.is_some())
    }

    /// The rule with this id.
    pub fn rule(&self, id: u64) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

#[derive(Debug)]
pub(crate) enum BuildEntry {
    Rule(Box<Rule>),
    Marker(String),
    /// A rule removed at load: its id stays a `skipAfter` target there.
    Removed {
        id: u64,
        phase: u8,
    },
}

/// Accumulates directives; [`RulesetBuilder::build`] freezes them.
#[derive(Debug)]
pub struct RulesetBuilder {
    pub(crate) entries: Vec<BuildEntry>,
    pub(crate) defaults: [Defaults; 5],
    pub(crate) pending_chain: Option<(Box<Rule>, Location)>,
    pub(crate) settings: Settings,
    pub(crate) services: Services,
    pub(crate) stats: CompileStats,
    pub(crate) ids: HashSet<u64>,
    /// Directives loaded that have no effect, in load order.
    pub(crate) warnings: Vec<LoadWarning>,
}

impl Default for RulesetBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RulesetBuilder {
    /// An empty builder with ModSecurity's defaults.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            defaults: Default::default(),
            pending_chain: None,
            settings: Settings::default(),
            services: Services::default(),
            stats: CompileStats::default(),
            ids: HashSet::new(),
            warnings: Vec::new(),
        }
    }

    /// Replaces the outside capabilities (injection detection, GeoIP, RBL).
    pub fn services(mut self, services: Services) -> Self {
        self.services = services;
        self
    }

    /// Loads a rules file, or every file a glob in its last component matches.
    pub fn load_file(&mut self, path: &Path) -> Result<(), LoadError> {
        crate::seclang::load_path(self, path, None, false, 0)
    }

    /// Loads rules from text; `name` is used in errors and to resolve
    /// relative `Include`s and data files.
    pub fn load_str(&mut self, src: &str, name: &Path) -> Result<(), LoadError> {
        crate::seclang::load_source(self, src, name, 0)
    }

    /// Mutable access to the engine settings.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    pub(crate) fn push_rule(&mut self, rule: Rule, loc: &Location) -> Result<(), LoadError> {
        if rule.id != 0 && !self.ids.insert(rule.id) {
            return Err(LoadError::new(
                loc.clone(),
                LoadErrorKind::DuplicateId(rule.id),
            ));
        }
        self.entries.push(BuildEntry::Rule(Box::new(rule)));
        Ok(())
    }

    fn starters_mut(&mut self) -> impl Iterator<Item = &mut Rule> {
        self.entries.iter_mut().filter_map(|e| match e {
            BuildEntry::Rule(r) => Some(r.as_mut()),
            BuildEntry::Marker(_) | BuildEntry::Removed { .. } => None,
        })
    }

    /// `SecRuleRemoveById`.
    pub(crate) fn remove_by_id(&mut self, ranges: &[IdRange]) {
        self.remove_where(|r| ranges.iter().any(|x| x.contains(r.id)));
    }

    /// `SecRuleRemoveByTag` / `SecRuleRemoveByMsg`. A removed rule leaves
    /// its id behind as a `skipAfter` target.
    pub(crate) fn remove_where(&mut self, pred: impl Fn(&Rule) -> bool) {
        for e in &mut self.entries {
            if let BuildEntry::Rule(r) = e
                && pred(r)
            {
                *e = BuildEntry::Removed {
                    id: r.id,
                    phase: r.phase,
                };
            }
        }
    }

    /// `SecRuleUpdateTargetById/ByTag`.
    pub(crate) fn update_targets(
        &mut self,
        pick: impl Fn(&Rule) -> bool,
        targets: &str,
        replaced: Option<&str>,
    ) -> Result<usize, LoadErrorKind> {
        let list = parse_targets(targets)
            .map_err(|(target, reason)| LoadErrorKind::Target { target, reason })?;
        let replaced = match replaced {
            Some(r) => Some(
                parse_targets(r)
                    .map_err(|(target, reason)| LoadErrorKind::Target { target, reason })?,
            ),
            None => None,
        };
        let mut n = 0;
        for rule in self.starters_mut().filter(|r| pick(r)) {
            n += 1;
            rule.exclusions.extend(list.exclusions.iter().cloned());
            if let Some(old) = replaced.as_ref().and_then(|r| r.targets.first()) {
                rule.targets.retain(|t| {
                    !(t.var == old.var
                        && t.count == old.count
                        && same_selector(&t.selector, &old.selector))
                });
            }
            rule.targets.extend(list.targets.iter().cloned());
        }
        Ok(n)
    }

    /// `SecRuleUpdateActionById`.
    pub(crate) fn update_actions(
        &mut self,
        range: IdRange,
        actions: &str,
    ) -> Result<usize, LoadErrorKind> {
        let parsed = parse_actions(actions)?;
        let defaults = self.defaults.clone();
        let mut n = 0;
        for rule in self.starters_mut().filter(|r| range.contains(r.id)) {
            n += 1;
            for action in parsed.iter().cloned() {
                if matches!(
                    action,
                    crate::seclang::actions::Action::Id(_)
                        | crate::seclang::actions::Action::Phase(_)
                ) {
                    return Err(LoadErrorKind::Rule("id and phase cannot be updated".into()));
                }
                apply_action(rule, action, false)?;
            }
            if matches!(
                rule.disruptive,
                Some(crate::seclang::actions::Disruptive::Block)
            ) {
                let def = defaults
                    .get(usize::from(rule.phase.saturating_sub(1)))
                    .cloned()
                    .unwrap_or_default();
                rule.disruptive = Some(def.disruptive);
            }
        }
        Ok(n)
    }

    /// Freezes the rules.
    pub fn build(self) -> Result<Ruleset, LoadError> {
        if let Some((_, loc)) = self.pending_chain {
            return Err(LoadError::new(loc, LoadErrorKind::UnfinishedChain));
        }
        let mut chains = ChainTable::new();
        let mut rules = Vec::new();
        let mut phases: [Vec<Entry>; 5] = Default::default();
        // Per phase, per entry: the name a `skipAfter` may target.
        let mut names: jumps::Names = Default::default();
        let id_name = |id: u64| (id != 0).then(|| id.to_string());
        for entry in self.entries {
            match entry {
                BuildEntry::Rule(mut rule) => {
                    let mut link: Option<&mut Rule> = Some(&mut rule);
                    while let Some(r) = link {
                        r.chain_id = chains.intern(&r.transforms);
                        link = r.chained.as_deref_mut();
                    }
                    let p = usize::from(rule.phase.clamp(1, 5) - 1);
                    if let (Some(list), Some(names)) = (phases.get_mut(p), names.get_mut(p)) {
                        names.push(id_name(rule.id));
                        list.push(Entry::Rule(rules.len()));
                    }
                    rules.push(*rule);
                }
                BuildEntry::Marker(name) => {
                    for (list, names) in phases.iter_mut().zip(names.iter_mut()) {
                        names.push(Some(name.clone()));
                        list.push(Entry::Marker);
                    }
                }
                BuildEntry::Removed { id, phase } => {
                    let p = usize::from(phase.clamp(1, 5) - 1);
                    if let (Some(list), Some(names)) = (phases.get_mut(p), names.get_mut(p)) {
                        names.push(id_name(id));
                        list.push(Entry::Marker);
                    }
                }
            }
        }
        let jumps = jumps::resolve(&phases, &names, &rules)?;
        let prefilter = if self.settings.prefilter {
            crate::prefilter::assign(&mut rules, &chains)
        } else {
            crate::prefilter::Prefilter::default()
        };
        if self.stats.rx_fallbacks > 0 {
            tracing::info!(
                fallbacks = self.stats.rx_fallbacks,
                "@rx patterns compiled with the backtracking fallback engine"
            );
        }
        let store = Arc::new(CollectionStore::new(
            self.settings.collections,
            self.services.clock.clone(),
        ));
        crate::services::prepare();
        let fold_on = self.settings.fold;
        let named_use = rules.iter().map(crate::transaction::named_use).collect();
        let first_sources = rules
            .iter()
            .map(crate::transaction::sources_of_link)
            .collect();
        let reads_full_request = rules
            .iter()
            .any(|r| r.reads(crate::variables::Var::FullRequest));
        let reads_duration = rules
            .iter()
            .any(|r| r.reads(crate::variables::Var::Duration));
        let rs = Ruleset {
            reads_full_request,
            reads_duration,
            rules,
            phases,
            jumps,
            chains,
            settings: self.settings,
            services: self.services,
            store,
            verdicts: Arc::default(),
            prefilter,
            stats: self.stats,
            warnings: self.warnings,
            fold: Fold::default(),
            named_use,
            first_sources,
            idle: Vec::new(),
            heads: Default::default(),
        };
        if !fold_on {
            let mut rs = rs;
            rs.heads = heads::build(&rs);
            return Ok(rs);
        }
        // The template transaction folding runs needs a shared ruleset; it is
        // dropped before `compute` returns, so the ruleset is unique again.
        let rs = Arc::new(rs);
        let fold = crate::fold::compute(&rs);
        match Arc::try_unwrap(rs) {
            Ok(mut rs) => {
                if fold.active() {
                    tracing::debug!(rules = fold.count, "rules folded at load");
                }
                if rs.settings.prefilter && fold.skipped > 0 {
                    let skip = &fold.never_visited;
                    rs.prefilter.cover(&rs.rules, &rs.chains, |i| {
                        !skip.get(i).copied().unwrap_or(false)
                    });
                }
                if fold.active() {
                    rs.idle = rs
                        .rules
                        .iter()
                        .map(|r| crate::transaction::idle_keys(r, &fold.tx))
                        .collect();
                }
                rs.fold = fold;
                rs.heads = heads::build(&rs);
                Ok(rs)
            }
            Err(_) => Err(LoadError::new(
                Location {
                    file: "<fold>".into(),
                    line: 0,
                },
                LoadErrorKind::Rule("ruleset still shared after folding".into()),
            )),
        }
    }
}

fn same_selector(
    a: &crate::seclang::targets::Selector,
    b: &crate::seclang::targets::Selector,
) -> bool {
    use crate::seclang::targets::Selector as S;
    match (a, b) {
        (S::All, S::All) | (S::XmlRoot, S::XmlRoot) | (S::XmlAttributes, S::XmlAttributes) => true,
        (S::Key(x), S::Key(y)) => x == y,
        (S::Regex(x), S::Regex(y)) => x.as_str() == y.as_str(),
        _ => false,
    }
}

/// Shared handle on a ruleset.
pub type SharedRuleset = Arc<Ruleset>;
