//! The compiled detector set and the candidate → span → output machinery.
//!
//! Determinism contract (what makes streaming equal one-shot): every candidate is a pure
//! function of the bytes within a bounded distance of its anchor (keyword hit, `@`, digit,
//! known-secret hit). Spans are then built by one left-to-right merge whose state is reset
//! at each emitted boundary. `stream.rs` relies on [`Engine::lmax`] to keep enough context.

use std::collections::HashMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input};
use sha2::Sha256;

use super::anchor;
use super::known::KnownSet;
use super::manifest;
use super::pii::{self, PiiKind};
use super::prefilter::{Hit, LaneHits, Prefilter};
use super::rules::{RuleContext, RulePack, Validator};
use super::split::{RevStart, Split, SplitCache};
use super::structure::K8S_SECRET_ID;
use super::validate;
use super::{ContentKind, FindingKind, RedactError, RedactOptions, Strategy};

/// Hard cap on one rule's match length: bounds the stream tail.
const MAX_RULE_LEN: usize = 16 * 1024;

/// A compiled regex and the capture groups the engine reads.
struct Matcher {
    re: Regex,
    group_s: Option<usize>,
    group_s2: Option<usize>,
    group_n: Option<usize>,
}

/// `(?s-u:.){0,lead}?(?:rule)`: one anchored DFA search finds the rule's leftmost match
/// starting within `lead` bytes (no capture groups: they are resolved by the rule's own
/// regex afterwards, on the match only).
struct LeadMatcher {
    re: Regex,
    /// The rule reversed, to find that match's start from its end.
    rev: Option<RevStart>,
}

/// Leads up to this many bytes are searched by trying the rule anchored at each byte of
/// the lead that can start a match (see [`CompiledRule::first`]), not by the lead matcher.
///
/// Why: the lead matcher finds where the leftmost match ends and [`RevStart`] then walks
/// the whole match backwards to find where it starts. For `generic-secret` (lead 7, values
/// up to 256 bytes, on `key`, `token`, `secret`, `auth`) both lazy DFAs kept building states
/// on text dense in keywords and `=`: a quarter of the time of keywords in random order. A
/// few anchored searches, most of which stop at their first byte, find the same match: the
/// lead matcher's lazy `.{0,lead}?` takes the smallest start that has a match, and the
/// match it reports there is the rule's own leftmost-first match anchored at that start.
const SHORT_LEAD: usize = 16;

impl Matcher {
    fn new(re: Regex) -> Self {
        let gi = re.group_info();
        let pid = regex_automata::PatternID::ZERO;
        Self {
            group_s: gi.to_index(pid, "s"),
            group_s2: gi.to_index(pid, "s2"),
            group_n: gi.to_index(pid, "n"),
            re,
        }
    }
}

/// How a rule is searched around a hit of one of its literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every match starts with a literal: one anchored search at the hit.
    Anchored,
    /// Every match has a keyword within `lead` bytes of its start: match starts are only
    /// looked for in `[hit - lead, hit]` (see `anchor.rs`).
    Lead(usize),
    /// Nothing proven: the whole `max_len` window around the hit is searched.
    Window,
}

/// Leads up to this many bytes get a lead matcher (`(?s-u:.){0,lead}?(rule)`, one anchored
/// search); longer ones search unanchored from `hit - lead` (the lazy DFA of a long counted
/// prefix would be large for little gain).
const MAX_LEAD_RE: usize = 96;

pub(crate) struct CompiledRule {
    pub id: Arc<str>,
    pub kind: FindingKind,
    m: Matcher,
    /// Whether the regex has a group the engine reads (`s`, `s2`, `n`).
    has_groups: bool,
    /// Group spans without the capture engine, when the regex's shape allows it.
    split: Option<Split>,
    /// The lead matcher, for [`Mode::Lead`] (with a lead up to [`SHORT_LEAD`], only the
    /// reference in tests uses it).
    lead_m: Option<LeadMatcher>,
    /// Bytes a match can start with, for [`Mode::Lead`] with a lead up to [`SHORT_LEAD`]:
    /// each such byte of the lead is tried with an anchored search.
    first: Option<Box<[bool; 256]>>,
    mode: Mode,
    /// Bytes a match can contain (see `anchor::match_bytes`), for [`Mode::Window`].
    bytes: Box<[bool; 256]>,
    /// `bytes` holds every byte: the run around a hit is the whole `max_len` window.
    all_bytes: bool,
    anchored: bool,
    max_len: usize,
    boundary: bool,
    word_start: bool,
    min_entropy: f64,
    validator: Validator,
    reject: Option<Regex>,
    json_only: bool,
    form_only: bool,
    pub strategy: Strategy,
}

/// Who produced a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Rule(u32),
    Pii(PiiKind),
    Known(u32),
    /// A value of a Kubernetes Secret written as text (see `manifest`).
    Manifest,
}

/// A region to mask, before merging.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub start: usize,
    pub end: usize,
    pub source: Source,
    /// The region is a bare JSON number: the replacement must be quoted.
    pub quote: bool,
    /// The region is a whole JSON member being dropped.
    pub drop: bool,
}

/// A merged region to mask, with the candidate that names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub primary: Cand,
}

/// Per-stream working memory for [`Engine::detect`], reused across calls so the hot path
/// does not allocate.
#[derive(Default)]
pub(crate) struct Scratch {
    /// One block's keyword hits (see [`HIT_BLOCK`]).
    hits: Vec<Hit>,
    lanes: LaneHits,
    /// Per keyword: its previous hit and the periodic text around it (see [`Period`]).
    periods: Vec<Period>,
    /// Per rule: the last search start, so two literals hitting at one place (`secret`,
    /// `secret_key`) run the rule once.
    last: Vec<usize>,
    caps: Vec<Option<Captures>>,
    split: SplitCache,
    /// Per rule: what its unanchored searches proved so far (see [`Searched`]).
    searched: Vec<Searched>,
    /// `periods`, `last` and `searched` may hold an earlier call's state (it saw hits).
    stale: bool,
    /// When detection must give up (the caller's time budget for this body); shared by
    /// every stream masking one body.
    pub(crate) deadline: Arc<Deadline>,
    /// What detection did, for tests that check work grows linearly with the input.
    pub(crate) work: Work,
    /// Skip the PII detectors: the bytes are binary (a decoded payload), where digit and
    /// `@` patterns match by chance and a marker would break the file for nothing.
    pub(crate) secrets_only: bool,
    /// Run the rules at every hit, never copying (the reference the copies are tested
    /// against).
    #[cfg(test)]
    pub(crate) search_every_hit: bool,
    /// Search every hit's whole window, never skipping one a wider search proved empty,
    /// run anchored word-start rules inside words too, and search short leads with the lead
    /// matcher (the reference [`Searched`], the word-start skip and [`SHORT_LEAD`] are
    /// tested against).
    #[cfg(test)]
    pub(crate) search_every_window: bool,
}

/// Counts of the engine's costly steps, summed over a stream's calls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Work {
    /// Keyword hits whose rules were run (each runs every rule of its keyword once).
    pub evaluated: u64,
    /// Keyword hits whose candidates were copied from the previous hit (periodic text).
    pub translated: u64,
    /// Bytes handed to unanchored rule searches and walked to bound their windows: the
    /// part of the work that a window per hit would make grow with the hits' density.
    pub window_bytes: u64,
    /// Unanchored rule searches skipped because a wider search proved them empty.
    pub windows_skipped: u64,
    /// Anchored rule searches run.
    pub anchored_searches: u64,
    /// Anchored searches of word-start rules skipped because the hit is inside a word.
    pub word_start_skipped: u64,
    /// Anchored searches run at the bytes of a short lead (see [`SHORT_LEAD`]).
    pub lead_tries: u64,
}

/// What one rule's unanchored searches around earlier hits proved, so the windows of later
/// hits that overlap them are not searched again.
///
/// Why: rules whose keyword can sit anywhere in a long match (`jwt` on `.ey`; before
/// issue 16 also a Kubernetes-Secret regex on `kind:`, 8 KiB) search a window of up to twice their
/// `max_len` around every hit, and text dense in their keywords made that a window per hit
/// (8 MiB of keywords in random order: 42x the time of clean JSON). A hit's candidates
/// are matches that start at or before the hit and lie within its window; when one search
/// over a wider span `[lo, hi)` found no match starting before `first` (a leftmost search
/// reports the leftmost start), every hit whose window lies within the span and that starts
/// before `first` has no candidate, and is skipped unsearched. The wider span reaches one
/// `max_len` past the window, so it covers the hits of the next `max_len` bytes: bytes
/// searched per input byte stay bounded whatever the density of hits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Searched {
    lo: usize,
    hi: usize,
    first: usize,
    /// The run of the rule's match bytes before `left_at` starts at `left_start` (or at or
    /// before it, when that is where a walk stopped: `left_start` is then a floor that
    /// later hits, whose floors only grow, never go under).
    left_at: usize,
    left_start: usize,
    /// Every byte in `[right_from, right_to)` is a match byte of the rule; `right_end`:
    /// `hay[right_to]` is not (the run ends there), else the walk stopped at a cap.
    right_from: usize,
    right_to: usize,
    right_end: bool,
}

impl Default for Searched {
    fn default() -> Self {
        Self {
            lo: 0,
            hi: 0,
            first: 0,
            left_at: usize::MAX,
            left_start: 0,
            right_from: usize::MAX,
            right_to: 0,
            right_end: false,
        }
    }
}

impl Searched {
    /// `max(floor, start of the run of `bytes` that ends at `at`)`, walking only bytes not
    /// walked for an earlier hit (hits come in end order, so floors do not decrease).
    fn run_start(
        &mut self,
        hay: &[u8],
        bytes: &[bool; 256],
        at: usize,
        floor: usize,
        work: &mut Work,
    ) -> usize {
        if at <= floor {
            return at;
        }
        // Extending costs what it walks; never more than the walk back it replaces.
        if self.left_at <= at && at - self.left_at <= at - floor {
            // Extend the known run forward: a byte outside the set moves its start.
            for i in self.left_at..at {
                if !bytes[usize::from(hay[i])] {
                    self.left_start = i + 1;
                }
            }
            work.window_bytes += (at - self.left_at) as u64;
            self.left_at = at;
            return self.left_start.max(floor);
        }
        let mut ws = at;
        while ws > floor && bytes[usize::from(hay[ws - 1])] {
            ws -= 1;
        }
        work.window_bytes += (at - ws) as u64;
        self.left_at = at;
        self.left_start = ws;
        ws
    }

    /// `min(cap, end of the run of `bytes` that starts at `from`)`, continuing an earlier
    /// walk over the same run instead of walking it again.
    fn run_end(
        &mut self,
        hay: &[u8],
        bytes: &[bool; 256],
        from: usize,
        cap: usize,
        work: &mut Work,
    ) -> usize {
        let mut e = if self.right_from <= from && from <= self.right_to {
            if self.right_end || self.right_to >= cap {
                return self.right_to.min(cap).max(from);
            }
            self.right_to
        } else {
            self.right_from = from;
            from
        };
        let walked = e;
        while e < cap && bytes[usize::from(hay[e])] {
            e += 1;
        }
        work.window_bytes += (e - walked) as u64;
        self.right_to = e;
        self.right_end = e < cap;
        e
    }
}

/// Hits whose keyword ends in one block of this many bytes are found and handled before
/// the next block is searched: the hits held at once are bounded by the block, not the body.
const HIT_BLOCK: usize = 64 * 1024;

/// Bytes compared ahead when a periodic run is extended, so a long run is checked in a few
/// large comparisons rather than a little per hit.
const PERIOD_AHEAD: usize = 64 * 1024;

/// Bytes beyond a rule's `max_len` (plus the keyword) that deciding a candidate may read:
/// look-around, the key name before a value (64), a backslash run (64), a dropped member's
/// whitespace (64), a JSON escape after the value (5).
const REACH_SLACK: usize = 256;

/// A keyword's previous hit, and how far the text around it repeats with the distance
/// between that hit and the next.
///
/// Why: every candidate of a hit is a function of the bytes within the keyword's reach
/// (`Engine::pat_reach`) of it. When the hit at `h` and the previous hit of the same
/// keyword at `h - q` see equal bytes, i.e. `hay[h - reach .. h + reach)` repeats with
/// period `q`, running the rules again would find exactly the previous hit's candidates
/// moved by `q`. Copying them keeps the output identical and makes text that repeats
/// (one letter, one keyword, one literal over and over) cost a comparison per hit instead
/// of a regex search over the keyword's window per hit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Period {
    /// The previous hit's start, if any.
    prev: Option<usize>,
    /// The candidates it produced: a range of the output vector.
    cands: (usize, usize),
    /// `hay[i] == hay[i - q]` for every `i` in `[lo, hi)`.
    q: usize,
    lo: usize,
    hi: usize,
}

impl Period {
    /// Pushes the hit at `h`'s candidates by moving the previous hit's, when the bytes
    /// within `reach` of both are equal; false when the rules must run.
    fn translate(&mut self, hay: &[u8], h: usize, reach: usize, out: &mut Vec<Cand>) -> bool {
        let Some(prev) = self.prev else {
            return false;
        };
        let q = h - prev;
        // Both windows, with a byte of look-around, inside `hay`: neither sees where the
        // haystack starts or ends (`^`, `$`, a window cut short).
        if q == 0 || prev <= reach || h + reach >= hay.len() {
            return false;
        }
        let (a, b) = (h - reach, h + reach);
        if q != self.q || self.hi < a {
            self.q = q;
            self.lo = a;
            self.hi = a;
        }
        if self.hi < b {
            let to = (b + PERIOD_AHEAD).min(hay.len());
            match first_mismatch(hay, self.hi, to, q) {
                None => self.hi = to,
                Some(m) if m >= b => self.hi = m,
                Some(m) => {
                    self.lo = m + 1;
                    self.hi = m + 1;
                    return false;
                }
            }
        }
        if self.lo > a {
            return false;
        }
        for i in self.cands.0..self.cands.1 {
            let c = out[i];
            out.push(Cand {
                start: c.start + q,
                end: c.end + q,
                ..c
            });
        }
        true
    }

    /// Notes the hit at `h` and its candidates `out[start..end]`.
    fn record(&mut self, h: usize, start: usize, end: usize) {
        self.prev = Some(h);
        self.cands = (start, end);
    }
}

/// The first `i` in `[from, to)` with `hay[i] != hay[i - q]` (`from >= q`).
fn first_mismatch(hay: &[u8], from: usize, to: usize, q: usize) -> Option<usize> {
    const STEP: usize = 256;
    let mut i = from;
    // Text that does not repeat usually differs within a few bytes: compare a word at a
    // time first, and only then in long `memcmp` steps.
    while i + 8 <= to.min(from + 32) {
        let diff = word(hay, i) ^ word(hay, i - q);
        if diff != 0 {
            return Some(i + (diff.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < to {
        let n = STEP.min(to - i);
        // Slice equality is a `memcmp`: long runs are checked at memory speed.
        if hay[i..i + n] != hay[i - q..i - q + n] {
            let mut k = i;
            while k + 8 <= i + n {
                let diff = word(hay, k) ^ word(hay, k - q);
                if diff != 0 {
                    return Some(k + (diff.trailing_zeros() / 8) as usize);
                }
                k += 8;
            }
            return (k..i + n).find(|&k| hay[k] != hay[k - q]);
        }
        i += n;
    }
    None
}

/// The 8 bytes at `at`, little-endian (the lowest differing byte is the first one).
#[inline]
fn word(hay: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&hay[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The per-rule working memory [`Engine::eval_hit`] reads and updates.
struct HitState<'a> {
    last: &'a mut [usize],
    caps: &'a mut [Option<Captures>],
    split: &'a mut SplitCache,
    searched: &'a mut [Searched],
    /// Skip windows proved empty and anchored word-start searches inside words, and search
    /// short leads with anchored searches (off only in tests, for the reference).
    memo: bool,
    work: &'a mut Work,
}

impl Searched {
    /// Whether the rule has no match that starts at or before `hit` within `[ws, we)`,
    /// proved by an earlier search over a span holding it or, when none holds it, by a
    /// new search over `[ws, we + max_len)` (remembered for the hits that follow).
    fn proves_empty(
        &mut self,
        rule: &CompiledRule,
        hay: &[u8],
        hit: &Hit,
        ws: usize,
        we: usize,
        work: &mut Work,
    ) -> bool {
        let within = self.lo <= ws && we <= self.hi;
        if within && hit.start < self.first {
            return true;
        }
        if within && ws <= self.first {
            // The span's first match may be this hit's: search the window itself.
            return false;
        }
        let hi = we.saturating_add(rule.max_len).min(hay.len()).max(we);
        work.window_bytes += (hi - ws) as u64;
        let input = Input::new(hay).span(ws..hi);
        // A leftmost search: no match within the span starts before the one it reports.
        self.first = rule.m.re.search(&input).map_or(usize::MAX, |m| m.start());
        self.lo = ws;
        self.hi = hi;
        hit.start < self.first
    }
}

/// When masking one body must give up, shared by every stream that masks a part of it
/// (a multipart body has one per part). Once passed it stays passed.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    at: std::sync::Mutex<Option<std::time::Instant>>,
    passed: std::sync::atomic::AtomicBool,
}

impl Deadline {
    /// Sets (or, with `None`, lifts) the deadline; one that already passed stays passed.
    pub(crate) fn set(&self, at: Option<std::time::Instant>) {
        match self.at.lock() {
            Ok(mut guard) => *guard = at,
            Err(poisoned) => *poisoned.into_inner() = at,
        }
    }

    /// True when it has passed: notes it once seen, so later checks cost nothing.
    pub(crate) fn check(&self) -> bool {
        if self.passed() {
            return true;
        }
        let at = match self.at.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        };
        let passed = at.is_some_and(|d| std::time::Instant::now() >= d);
        if passed {
            self.passed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        passed
    }

    /// True once a check found it passed.
    pub(crate) fn passed(&self) -> bool {
        self.passed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Anchors checked between two looks at the clock: a few microseconds of work at most,
/// so a deadline is kept to well under a millisecond and costs nothing measurable.
const HITS_PER_DEADLINE_CHECK: usize = 256;

pub(crate) struct Engine {
    rules: Vec<CompiledRule>,
    prefilter: Prefilter,
    pat_rules: Vec<Vec<u32>>,
    /// Per keyword: how far from a hit its rules' candidates can depend on bytes (see
    /// [`Period`]).
    pat_reach: Vec<usize>,
    pii: pii::PiiConfig,
    lmax: usize,
    hash_key: Vec<u8>,
    known_strategy: Strategy,
    /// Strategy for Secrets written as text (`None`: not looked for), see `manifest`.
    manifest: Option<Strategy>,
    manifest_id: Arc<str>,
}

fn syntax_config() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

fn compile_regex(id: &str, pattern: &str) -> Result<Regex, RedactError> {
    compile_regex_with(id, pattern, WhichCaptures::All)
}

fn compile_regex_with(
    id: &str,
    pattern: &str,
    captures: WhichCaptures,
) -> Result<Regex, RedactError> {
    Regex::builder()
        .syntax(syntax_config())
        .configure(
            Regex::config()
                .utf8_empty(false)
                .which_captures(captures)
                .nfa_size_limit(Some(64 << 20))
                // Why no one-pass DFAs: they only serve capture resolution, which the
                // engine runs on a match's own span (most rules' groups are resolved by
                // `split` without a capture engine), where the backtracker is as fast;
                // they were 2.7 MB of the compiled pack (3 MiB of a warden's resident
                // memory), and the dense and adversarial benchmarks measured no change
                // without them (docs/benchmarks.md, session 6).
                .onepass(false),
        )
        .build(pattern)
        .map_err(|e| RedactError::Rule {
            id: id.to_string(),
            reason: e.to_string(),
        })
}

fn parse_hir(id: &str, pattern: &str) -> Result<regex_syntax::hir::Hir, RedactError> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| RedactError::Rule {
            id: id.to_string(),
            reason: e.to_string(),
        })
}

fn max_len_of(id: &str, pattern: &str) -> Result<usize, RedactError> {
    let hir = parse_hir(id, pattern)?;
    match hir.properties().maximum_len() {
        Some(n) if n <= MAX_RULE_LEN => Ok(n),
        Some(n) => Err(RedactError::Rule {
            id: id.to_string(),
            reason: format!("matches up to {n} bytes; the cap is {MAX_RULE_LEN}"),
        }),
        None => Err(RedactError::Rule {
            id: id.to_string(),
            reason: "unbounded repetition; use {m,n} so the stream tail stays bounded".into(),
        }),
    }
}

impl Engine {
    pub fn compile(pack: &RulePack, options: &RedactOptions) -> Result<Self, RedactError> {
        let specs = pack.expanded()?;
        let mut overrides: HashMap<&str, Strategy> = HashMap::new();
        for (id, s) in &options.strategies {
            overrides.insert(id.as_str(), *s);
        }
        let mut known_ids: Vec<&str> = specs.iter().map(|r| r.id.as_str()).collect();
        known_ids.extend(pii::IDS);
        known_ids.push("known");
        for id in options
            .disabled_rules
            .iter()
            .chain(&options.enabled_rules)
            .map(String::as_str)
            .chain(overrides.keys().copied())
        {
            if !known_ids.contains(&id) {
                return Err(RedactError::UnknownRule(id.to_string()));
            }
        }
        let strategy_for = |id: &str, pack_default: Strategy| -> Strategy {
            overrides
                .get(id)
                .copied()
                .or(options
                    .default_strategy
                    .filter(|_| pack_default == Strategy::Redact))
                .unwrap_or(pack_default)
        };

        let mut rules = Vec::new();
        let mut keyword_ix: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut pat_rules: Vec<Vec<u32>> = Vec::new();
        let mut max_kw = 0usize;
        for spec in &specs {
            let on = spec.enabled || options.enabled_rules.iter().any(|d| d == &spec.id);
            if !on || options.disabled_rules.iter().any(|d| d == &spec.id) {
                continue;
            }
            let anchored = !spec.prefixes.is_empty();
            let kws = if anchored {
                &spec.prefixes
            } else {
                &spec.keywords
            };
            if kws.is_empty() {
                return Err(RedactError::Rule {
                    id: spec.id.clone(),
                    reason: "needs keywords or prefixes (the prefilter anchors)".into(),
                });
            }
            if !spec.prefixes.is_empty() && !spec.keywords.is_empty() {
                return Err(RedactError::Rule {
                    id: spec.id.clone(),
                    reason: "use either keywords or prefixes, not both".into(),
                });
            }
            let re = compile_regex(&spec.id, &spec.regex)?;
            let max_len = match spec.max_len {
                Some(n) if n <= MAX_RULE_LEN => n,
                Some(n) => {
                    return Err(RedactError::Rule {
                        id: spec.id.clone(),
                        reason: format!("max_len {n} exceeds the cap {MAX_RULE_LEN}"),
                    })
                }
                None => max_len_of(&spec.id, &spec.regex)?,
            };
            let folded: Vec<Vec<u8>> = kws
                .iter()
                .map(|k| k.to_ascii_lowercase().into_bytes())
                .collect();
            let hir = parse_hir(&spec.id, &spec.regex)?;
            let bytes = anchor::match_bytes(&hir);
            let mode = if anchored {
                Mode::Anchored
            } else {
                match anchor::keyword_lead(&hir, &folded) {
                    Some(0) => Mode::Anchored,
                    Some(l) if l < max_len => Mode::Lead(l),
                    _ => Mode::Window,
                }
            };
            let first = match mode {
                Mode::Lead(l) if l <= SHORT_LEAD => Some(Box::new(anchor::first_bytes(&hir))),
                _ => None,
            };
            let lead_m = match mode {
                Mode::Lead(l) if l <= MAX_LEAD_RE => Some(LeadMatcher {
                    re: compile_regex_with(
                        &spec.id,
                        &format!("(?s-u:.){{0,{l}}}?(?:{})", spec.regex),
                        WhichCaptures::Implicit,
                    )?,
                    rev: RevStart::new(&hir),
                }),
                _ => None,
            };
            let reject = if spec.reject.is_empty() {
                None
            } else {
                Some(compile_regex(&spec.id, &spec.reject.join("|"))?)
            };
            let ix = u32::try_from(rules.len()).map_err(|_| RedactError::Rule {
                id: spec.id.clone(),
                reason: "too many rules".into(),
            })?;
            for kw in kws {
                let k = kw.to_ascii_lowercase().into_bytes();
                if k.is_empty() {
                    return Err(RedactError::Rule {
                        id: spec.id.clone(),
                        reason: "empty keyword".into(),
                    });
                }
                max_kw = max_kw.max(k.len());
                let p = *keyword_ix.entry(k.clone()).or_insert_with(|| {
                    patterns.push(k);
                    pat_rules.push(Vec::new());
                    patterns.len() - 1
                });
                if !pat_rules[p].contains(&ix) {
                    pat_rules[p].push(ix);
                }
            }
            let json_only = spec.contexts.iter().all(|c| *c == RuleContext::Json);
            let form_only = spec.contexts.iter().all(|c| *c == RuleContext::Form);
            let m = Matcher::new(re);
            let has_groups = m.group_s.is_some() || m.group_s2.is_some() || m.group_n.is_some();
            rules.push(CompiledRule {
                id: Arc::from(spec.id.as_str()),
                kind: spec.kind,
                split: if has_groups { Split::new(&hir) } else { None },
                has_groups,
                m,
                lead_m,
                first,
                mode,
                all_bytes: bytes.iter().all(|&b| b),
                bytes: Box::new(bytes),
                anchored,
                max_len,
                boundary: spec.boundary.unwrap_or(anchored),
                word_start: spec.word_start,
                min_entropy: spec.min_entropy,
                validator: spec.validate,
                reject,
                json_only,
                form_only,
                strategy: strategy_for(&spec.id, spec.strategy),
            });
        }
        let prefilter = Prefilter::new(&patterns)?;
        let pat_reach = pat_rules
            .iter()
            .map(|ixs| {
                let len = ixs
                    .iter()
                    .map(|&ix| rules[ix as usize].max_len)
                    .max()
                    .unwrap_or(0);
                len + max_kw + REACH_SLACK
            })
            .collect();
        let pii_spec = options.pii.unwrap_or(pack.pii);
        let pii = pii::PiiConfig::new(pii_spec, |id| strategy_for(id, Strategy::Redact));
        let rule_max = rules.iter().map(|r| r.max_len).max().unwrap_or(0);
        let lmax = rule_max.max(pii::MAX_LEN).max(manifest::REACH) + max_kw + 2;
        Ok(Self {
            rules,
            prefilter,
            pat_rules,
            pat_reach,
            pii,
            lmax,
            hash_key: options.hash_key.clone().unwrap_or_else(|| vec![0u8; 32]),
            known_strategy: strategy_for("known", Strategy::Redact),
            manifest: options.structure.kubernetes_secrets,
            manifest_id: Arc::from(K8S_SECRET_ID),
        })
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub fn rule_ids(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self.rules.iter().map(|r| Arc::clone(&r.id)).collect();
        v.extend(pii::IDS.iter().map(|s| Arc::<str>::from(*s)));
        v
    }

    /// The key of the `hash` strategy (the structure layer hashes values it masks).
    pub fn hash_key(&self) -> &[u8] {
        &self.hash_key
    }

    pub fn known_strategy(&self) -> Strategy {
        self.known_strategy
    }

    /// The largest distance between an anchor and any byte its candidate depends on.
    pub fn lmax(&self) -> usize {
        self.lmax
    }

    /// Finds all candidates whose region may end after `from`.
    ///
    /// `hay[0]` is either the true start of the segment or at least `2 * lmax` bytes before
    /// `from`; `eof` says whether `hay` ends where the segment ends. Anchors whose window is
    /// not complete yet (`!eof`) are skipped: the caller never commits near the end.
    #[allow(clippy::too_many_arguments)]
    pub fn detect(
        &self,
        hay: &[u8],
        from: usize,
        eof: bool,
        content: ContentKind,
        known: &KnownSet,
        scratch: &mut Scratch,
        out: &mut Vec<Cand>,
    ) {
        let jsonish = content.is_jsonish();
        let form = content == ContentKind::Form;
        let scan_from = from.saturating_sub(self.lmax);
        #[cfg(test)]
        let copy = !scratch.search_every_hit;
        #[cfg(test)]
        let scratch_every_window = scratch.search_every_window;
        #[cfg(not(test))]
        let copy = true;
        let Scratch {
            hits,
            lanes,
            periods,
            last,
            caps,
            split,
            searched,
            stale,
            deadline,
            work,
            secrets_only,
            ..
        } = scratch;
        if deadline.passed() {
            return;
        }
        // Why only when stale: a call that saw no keyword hit leaves these as they were
        // reset, and documents masked one by one (NDJSON, watch streams: tens of bytes
        // each) mostly see none; resetting ~30 KB of per-rule state per call cost more than
        // detecting such a document.
        if *stale
            || last.len() != self.rules.len()
            || periods.len() != self.pat_rules.len()
            || searched.len() != self.rules.len()
        {
            last.clear();
            last.resize(self.rules.len(), usize::MAX);
            periods.clear();
            periods.resize(self.pat_rules.len(), Period::default());
            searched.clear();
            searched.resize(self.rules.len(), Searched::default());
        }
        if caps.len() != self.rules.len() {
            caps.clear();
            caps.resize_with(self.rules.len(), || None);
        }
        *stale = true;
        #[cfg(test)]
        let memo = !scratch_every_window;
        #[cfg(not(test))]
        let memo = true;
        let mut seen = 0usize;
        let mut lo = scan_from;
        while lo < hay.len() {
            let hi = lo.saturating_add(HIT_BLOCK).min(hay.len());
            hits.clear();
            self.prefilter
                .find_ends_in(hay, scan_from, lo, hi, lanes, hits);
            for hit in hits.iter() {
                if seen % HITS_PER_DEADLINE_CHECK == 0 && deadline.check() {
                    // Out of time: what was found so far is incomplete, so nothing of this
                    // body may be emitted (the caller fails it closed).
                    out.clear();
                    return;
                }
                seen += 1;
                let p = hit.pattern as usize;
                let before = out.len();
                let period = &mut periods[p];
                if copy && period.translate(hay, hit.start, self.pat_reach[p], out) {
                    work.translated += 1;
                } else {
                    work.evaluated += 1;
                    let state = HitState {
                        last,
                        caps,
                        split,
                        searched,
                        memo,
                        work,
                    };
                    self.eval_hit(hay, hit, eof, jsonish, form, state, out);
                }
                period.record(hit.start, before, out.len());
            }
            lo = hi;
        }
        *stale = seen > 0;
        if !*secrets_only {
            pii::scan(&self.pii, hay, from, eof, out);
        }
        if self.manifest.is_some() {
            manifest::scan(hay, from, eof, jsonish, out);
        }
        known.scan(hay, from, out);
        if jsonish {
            for c in out.iter_mut() {
                json_safe(hay, c);
            }
        }
    }

    /// A lead rule's match `m` found while searching around `hit`: accepted when it
    /// reaches the hit's end (`None`: the search is done), else where to search next.
    #[allow(clippy::too_many_arguments)]
    fn take_lead_match(
        &self,
        hay: &[u8],
        ix: u32,
        rule: &CompiledRule,
        m: regex_automata::Match,
        hit: &Hit,
        (caps, split): (&mut Option<Captures>, &mut SplitCache),
        jsonish: bool,
        out: &mut Vec<Cand>,
    ) -> Option<usize> {
        if m.end() >= hit.end {
            let part = masked_part(rule, hay, m.start(), m.end(), caps, split);
            self.accept(hay, ix, rule, m.start(), m.end(), part, jsonish, out);
            return None;
        }
        Some(if m.end() > m.start() {
            m.end()
        } else {
            m.end() + 1
        })
    }

    /// Runs every rule of `hit`'s keyword around it and pushes their candidates.
    #[allow(clippy::too_many_arguments)]
    fn eval_hit(
        &self,
        hay: &[u8],
        hit: &Hit,
        eof: bool,
        jsonish: bool,
        form: bool,
        state: HitState<'_>,
        out: &mut Vec<Cand>,
    ) {
        let HitState {
            last,
            caps,
            split,
            searched,
            memo,
            work,
        } = state;
        for &ix in &self.pat_rules[hit.pattern as usize] {
            let rule = &self.rules[ix as usize];
            if (rule.json_only && !jsonish) || (rule.form_only && !form) {
                continue;
            }
            let we = hit.start + rule.max_len + 1;
            if we > hay.len() && !eof {
                continue;
            }
            let we = we.min(hay.len());
            let (ws, we) = match rule.mode {
                Mode::Anchored => (hit.start, we),
                Mode::Lead(l) => (hit.start.saturating_sub(l), we),
                Mode::Window => {
                    // No match crosses a byte it cannot contain: search only the run of
                    // such bytes around the hit (same matches, far less scanning).
                    let lo = hit.end.saturating_sub(rule.max_len);
                    if rule.all_bytes {
                        // What the walks below would reach, without walking
                        // (`[^"']{3,256}`-style rules walked hundreds of bytes per hit).
                        (hit.start.min(lo), hit.end.max(we))
                    } else {
                        // The walks continue the previous hit's where they overlap
                        // (`.ey.ey.ey…` walked 16 KiB per hit).
                        let known = &mut searched[ix as usize];
                        if memo {
                            let ws = known.run_start(hay, &rule.bytes, hit.start, lo, work);
                            let e = if hit.end >= we {
                                hit.end
                            } else {
                                known.run_end(hay, &rule.bytes, hit.end, we, work)
                            };
                            (ws, e)
                        } else {
                            // The reference: both walks in full, for every hit.
                            let mut ws = hit.start;
                            while ws > lo && rule.bytes[usize::from(hay[ws - 1])] {
                                ws -= 1;
                            }
                            let mut e = hit.end;
                            while e < we && rule.bytes[usize::from(hay[e])] {
                                e += 1;
                            }
                            work.window_bytes += (e - ws) as u64;
                            (ws, e)
                        }
                    }
                }
            };
            if last[ix as usize] == ws && rule.mode != Mode::Window {
                continue;
            }
            last[ix as usize] = ws;
            let short_lead = rule.first.as_deref().filter(|_| memo);
            match (&rule.mode, &rule.lead_m, short_lead) {
                (Mode::Lead(_), _, Some(first)) => {
                    let mut at = ws;
                    while at <= hit.start {
                        // The smallest start in `[at, hit]` that has a match, and that
                        // match: what the lead matcher would report (see `SHORT_LEAD`).
                        let found = (at..=hit.start)
                            .filter(|&k| first[usize::from(hay[k])])
                            .find_map(|k| {
                                work.lead_tries += 1;
                                let input = Input::new(hay).span(k..we).anchored(Anchored::Yes);
                                rule.m.re.search(&input)
                            });
                        let Some(m) = found else {
                            break;
                        };
                        let split_caps = (&mut caps[ix as usize], &mut *split);
                        match self.take_lead_match(hay, ix, rule, m, hit, split_caps, jsonish, out)
                        {
                            Some(next) => at = next,
                            None => break,
                        }
                    }
                }
                (Mode::Anchored, _, _) => {
                    // An anchored match starts at the hit, so a hit inside a word fails the
                    // rule's word-start check whatever the search finds: skip the search.
                    // Why: in keyword-dense text most hits are keywords glued to others
                    // (`apikey`, `secrettoken`), each running some 35 word-start rules
                    // (the context rules) whose searches were all thrown away in `accept`.
                    if rule.word_start && memo && !validate::word_start_ok(hay, ws) {
                        work.word_start_skipped += 1;
                        continue;
                    }
                    work.anchored_searches += 1;
                    let input = Input::new(hay).span(ws..we).anchored(Anchored::Yes);
                    if let Some(m) = rule.m.re.search(&input) {
                        let part = masked_part(
                            rule,
                            hay,
                            m.start(),
                            m.end(),
                            &mut caps[ix as usize],
                            split,
                        );
                        self.accept(hay, ix, rule, m.start(), m.end(), part, jsonish, out);
                    }
                }
                (Mode::Lead(_), Some(lm), None) => {
                    let mut at = ws;
                    while at <= hit.start {
                        // The lead matcher, DFA only, finds where the rule's leftmost
                        // match starting in `[at, at + lead]` ends; the rule's own regex
                        // then resolves groups inside `[at, end]` only, where its
                        // leftmost-first match is that same match.
                        let input = Input::new(hay).span(at..we).anchored(Anchored::Yes);
                        let Some(outer) = lm.re.search(&input) else {
                            break;
                        };
                        let from_rev = lm
                            .rev
                            .as_ref()
                            .and_then(|rv| rv.leftmost(hay, at, outer.end()));
                        let m = match from_rev {
                            Some(k) => regex_automata::Match::must(0, k..outer.end()),
                            None => {
                                let inner = Input::new(hay).span(at..outer.end());
                                let Some(m) = rule.m.re.search(&inner) else {
                                    break;
                                };
                                m
                            }
                        };
                        if m.start() > hit.start {
                            break;
                        }
                        let split_caps = (&mut caps[ix as usize], &mut *split);
                        match self.take_lead_match(hay, ix, rule, m, hit, split_caps, jsonish, out)
                        {
                            Some(next) => at = next,
                            None => break,
                        }
                    }
                }
                _ => {
                    if memo && searched[ix as usize].proves_empty(rule, hay, hit, ws, we, work) {
                        work.windows_skipped += 1;
                        continue;
                    }
                    work.window_bytes += (we - ws) as u64;
                    let mut input = Input::new(hay).span(ws..we);
                    while let Some(m) = rule.m.re.search(&input) {
                        if m.start() > hit.start {
                            break;
                        }
                        if m.end() >= hit.end {
                            let part = masked_part(
                                rule,
                                hay,
                                m.start(),
                                m.end(),
                                &mut caps[ix as usize],
                                split,
                            );
                            self.accept(hay, ix, rule, m.start(), m.end(), part, jsonish, out);
                        }
                        let next = if m.end() > m.start() {
                            m.end()
                        } else {
                            m.end() + 1
                        };
                        if next >= we || next > hit.start {
                            break;
                        }
                        input.set_start(next);
                    }
                }
            }
        }
    }

    /// Checks the match `[ms, me)` of rule `ix`, whose masked part is `part`, and pushes
    /// its candidate.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        hay: &[u8],
        ix: u32,
        rule: &CompiledRule,
        ms: usize,
        me: usize,
        part: (usize, usize, bool),
        jsonish: bool,
        out: &mut Vec<Cand>,
    ) {
        let whole = ms..me;
        let (s, e, quote) = part;
        if s >= e {
            return;
        }
        let drop = rule.strategy == Strategy::Drop && jsonish && rule.json_only;
        // Drop removes the whole member: the regex match is `"key": value`; take a comma
        // with it so the object stays valid JSON.
        let (cs, ce) = if drop {
            drop_extent(hay, whole.start, whole.end)
        } else {
            (s, e)
        };
        if dominated(out, cs, ce, drop, ix) {
            return;
        }
        let value = &hay[s..e];
        if rule.boundary && !(validate::left_ok(hay, s) && validate::right_ok(hay, e)) {
            return;
        }
        // A token prefix glued to `.`, `-` or `_` is the tail of a longer name
        // (`video_box.ico-…`, `task_test_…`), not the start of a token.
        if rule.anchored && rule.boundary && s > 0 && matches!(hay[s - 1], b'.' | b'-' | b'_') {
            return;
        }
        if rule.word_start && !validate::word_start_ok(hay, whole.start) {
            return;
        }
        if rule.min_entropy > 0.0 && validate::entropy(value) < rule.min_entropy {
            return;
        }
        if let Some(rj) = &rule.reject {
            if rj.is_match(value) {
                return;
            }
        }
        let key = &hay[validate::ident_start(hay, whole.start)..s];
        let ok = match rule.validator {
            Validator::None => true,
            Validator::Strict => !validate::is_marked_placeholder(value),
            Validator::Default => !validate::is_placeholder(value) && !validate::looks_fake(value),
            Validator::Light => !validate::is_placeholder(value) && !validate::fake_letters(value),
            Validator::Generic => validate::generic_ok(key, value),
            Validator::Password => {
                // Quoted values are literals; unquoted ones may interpolate (`$VAR`).
                let quoted = s > 0 && matches!(hay[s - 1], b'"' | b'\'' | b'`');
                if quoted {
                    validate::password_ok(value)
                } else {
                    validate::password_unquoted_ok(value)
                }
            }
            Validator::Jwt => validate::jwt_ok(value),
            Validator::Basic => validate::basic_ok(value),
            Validator::UserPass => validate::userpass_ok(value),
            Validator::UrlCreds => validate::url_creds_ok(value),
            Validator::Jwt64 => validate::jwt64_ok(value),
            Validator::Template => !validate::is_form_template(value),
        };
        if !ok {
            return;
        }
        out.push(Cand {
            start: cs,
            end: ce,
            source: Source::Rule(ix),
            quote,
            drop,
        });
    }

    fn strategy_of(&self, src: Source, known: &KnownSet) -> Strategy {
        match src {
            Source::Rule(ix) => self.rules[ix as usize].strategy,
            Source::Pii(k) => self.pii.strategy(k),
            Source::Known(_) => known.strategy(),
            Source::Manifest => self.manifest.unwrap_or(Strategy::Redact),
        }
    }

    pub fn source_id(&self, src: Source, known: &KnownSet) -> Arc<str> {
        match src {
            Source::Rule(ix) => Arc::clone(&self.rules[ix as usize].id),
            Source::Pii(k) => self.pii.id(k),
            Source::Known(i) => known.label(i),
            Source::Manifest => Arc::clone(&self.manifest_id),
        }
    }

    /// [`Self::source_id`] borrowed: rendering a marker needs the text only, not a
    /// reference-counted copy (two atomic operations per span, an allocation for PII).
    fn source_name<'a>(&'a self, src: Source, known: &'a KnownSet) -> &'a str {
        match src {
            Source::Rule(ix) => &self.rules[ix as usize].id,
            Source::Pii(k) => k.id(),
            Source::Known(i) => known.label_str(i),
            Source::Manifest => &self.manifest_id,
        }
    }

    pub fn source_kind(&self, src: Source) -> FindingKind {
        match src {
            Source::Rule(ix) => self.rules[ix as usize].kind,
            Source::Pii(_) => FindingKind::Pii,
            Source::Known(_) => FindingKind::KnownSecret,
            Source::Manifest => FindingKind::Secret,
        }
    }

    /// Writes the replacement for `span` (whose bytes are `value`).
    pub fn render(&self, span: &Span, value: &[u8], known: &KnownSet, out: &mut Vec<u8>) {
        let p = span.primary;
        let id = self.source_name(p.source, known);
        let strategy = self.strategy_of(p.source, known);
        if p.drop && span.start == p.start && span.end == p.end {
            return;
        }
        if p.quote {
            out.push(b'"');
        }
        match strategy {
            Strategy::Hash => {
                out.extend_from_slice(b"[HASH:");
                out.extend_from_slice(id.as_bytes());
                out.push(b':');
                out.extend_from_slice(&self.pseudonym(value));
                out.push(b']');
            }
            Strategy::Partial => {
                out.extend_from_slice(b"[REDACTED:");
                out.extend_from_slice(id.as_bytes());
                // Why the guards: 4 characters of a short value reveal too much, and only
                // alphanumerics are safe to copy into any content type (no quote, backslash).
                let tail = &value[value.len().saturating_sub(4)..];
                if value.len() >= 12 && tail.iter().all(u8::is_ascii_alphanumeric) {
                    out.extend_from_slice(b":...");
                    out.extend_from_slice(tail);
                }
                out.push(b']');
            }
            Strategy::Redact | Strategy::Drop => {
                out.extend_from_slice(b"[REDACTED:");
                out.extend_from_slice(id.as_bytes());
                out.push(b']');
            }
        }
        if p.quote {
            out.push(b'"');
        }
    }

    fn pseudonym(&self, value: &[u8]) -> [u8; 16] {
        pseudonym_bytes(&self.hash_key, value)
    }
}

/// The keyed pseudonym of `value`: the first 8 bytes of HMAC-SHA256 under `key`, in hex.
fn pseudonym_bytes(key: &[u8], value: &[u8]) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; 16];
    // new_from_slice only fails for key sizes HMAC cannot take; HMAC takes any size.
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) {
        mac.update(value);
        let tag = mac.finalize().into_bytes();
        for (i, b) in tag.iter().take(8).enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    }
    out
}

/// [`pseudonym_bytes`] as text (field masking writes the same pseudonyms).
pub(crate) fn pseudonym_hex(key: &[u8], value: &[u8]) -> String {
    String::from_utf8_lossy(&pseudonym_bytes(key, value)).into_owned()
}

/// The masked part of rule `rule`'s match `[ms, me)`: group `s`, else `s2`, else `n` (a bare
/// number, `quote`), else the whole match. Resolved by [`Split`] when the regex's shape
/// allows, by the capture engine otherwise (same answer; see `split.rs`).
fn masked_part(
    rule: &CompiledRule,
    hay: &[u8],
    ms: usize,
    me: usize,
    cap: &mut Option<Captures>,
    split_cache: &mut SplitCache,
) -> (usize, usize, bool) {
    if !rule.has_groups {
        return (ms, me, false);
    }
    if let Some(split) = &rule.split {
        if let Some(g) = split.resolve(hay, ms, me, split_cache) {
            return (g.start, g.end, g.quote);
        }
    }
    let m = &rule.m;
    let cap = cap.get_or_insert_with(|| m.re.create_captures());
    // The leftmost-first match found earlier is also the leftmost-first match of its own
    // span, and the capture engine resolves the same path in it.
    let input = Input::new(hay).span(ms..me).anchored(Anchored::Yes);
    m.re.search_captures(&input, cap);
    if let Some(sp) = m.group_s.and_then(|g| cap.get_group(g)) {
        (sp.start, sp.end, false)
    } else if let Some(sp) = m.group_s2.and_then(|g| cap.get_group(g)) {
        (sp.start, sp.end, false)
    } else if let Some(sp) = m.group_n.and_then(|g| cap.get_group(g)) {
        (sp.start, sp.end, true)
    } else {
        (ms, me, false)
    }
}

/// How many of the latest candidates [`dominated`] looks at: the rules of one keyword hit
/// push theirs next to each other, further back is a miss that costs a compare each.
const DOMINATED_LOOKBACK: usize = 8;

/// Whether a candidate `[start, end)` (with `drop`) of rule `ix` can be dropped unchecked: a
/// rule listed before it already pushed the very same region.
///
/// Why this is safe: `merge` orders equal regions by rule index, so the earlier rule's
/// candidate comes first and the later one can neither start nor extend a span nor name one
/// (it is a no-op whatever its validators say); `json_safe` moves equal regions equally.
/// Dense bodies hit this for every value matched by a key-name rule and a generic rule
/// (`"token": "…"`), whose validators were the costliest part of the scan.
fn dominated(out: &[Cand], start: usize, end: usize, drop: bool, ix: u32) -> bool {
    out.iter().rev().take(DOMINATED_LOOKBACK).any(|c| {
        c.start == start
            && c.end == end
            && c.drop == drop
            && matches!(c.source, Source::Rule(j) if j < ix)
    })
}

/// Merges candidates (any order) into disjoint spans that start at or after `from`.
///
/// Overlapping candidates are unioned so no part of either survives; a span stops growing at
/// `max_span` bytes (later overlapping candidates start a new span at its end) so that the
/// decision for a span never depends on data arbitrarily far away. `keys` is scratch.
pub(crate) fn merge(
    cands: &mut [Cand],
    from: usize,
    max_span: usize,
    keys: &mut Vec<u128>,
    spans: &mut Vec<Span>,
) {
    // Why packed keys: dense bodies have tens of thousands of candidates and the four-field
    // comparator (with two enum matches) cost more than the whole rest of the merge. Same
    // order; candidates with equal keys are equal in everything the merge reads. The
    // candidate's index rides in the low 32 bits, so a key is 16 bytes (half the moves of a
    // `(key, index)` pair) and keys are distinct.
    keys.clear();
    let packed = cands.iter().enumerate().try_for_each(|(i, c)| {
        keys.push(sort_key(c)? << 32 | u128::from(u32::try_from(i).ok()?));
        Some(())
    });
    if packed.is_none() {
        keys.clear();
        cands.sort_unstable_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(prio(a.source).cmp(&prio(b.source)))
                .then(source_key(a.source).cmp(&source_key(b.source)))
        });
        keys.extend((0..cands.len()).map(|i| i as u128));
    } else {
        // Stable sort for its run detection: candidates arrive as a few long ascending runs
        // (rule hits in keyword order, then the PII scan's), which it merges in near-linear
        // time where a quicksort partitions them again.
        keys.sort();
    }
    for &k in keys.iter() {
        // The low 32 bits are the index (see above).
        let i = k as u32;
        let c = &cands[i as usize];
        if c.end <= from {
            continue;
        }
        let mut c = *c;
        c.start = c.start.max(from);
        if let Some(last) = spans.last_mut() {
            if c.start < last.end {
                if last.end - last.start < max_span {
                    last.end = last.end.max(c.end);
                } else if c.end > last.end {
                    let start = last.end;
                    spans.push(Span {
                        start,
                        end: c.end,
                        primary: Cand { start, ..c },
                    });
                }
                continue;
            }
        }
        spans.push(Span {
            start: c.start,
            end: c.end,
            primary: c,
        });
    }
}

/// `(start, end descending, prio, source)` packed into the low 96 bits of an integer, when
/// the parts fit (positions below 4 GiB).
fn sort_key(c: &Cand) -> Option<u128> {
    const POS: usize = 1 << 32;
    let k = source_key(c.source);
    if c.start >= POS || c.end >= POS || k >= 1 << 30 {
        return None;
    }
    Some(
        (c.start as u128) << 64
            | ((POS - 1 - c.end) as u128) << 32
            | u128::from(prio(c.source)) << 30
            | u128::from(k),
    )
}

fn prio(s: Source) -> u8 {
    match s {
        Source::Known(_) => 0,
        // A Secret's value named as such says more than a key-name rule on the same bytes.
        Source::Manifest => 1,
        Source::Rule(_) => 2,
        Source::Pii(_) => 3,
    }
}

fn source_key(s: Source) -> u32 {
    match s {
        Source::Known(i) | Source::Rule(i) => i,
        Source::Pii(k) => k as u32,
        Source::Manifest => 0,
    }
}

/// Adjusts a candidate so masking cannot break a JSON string: never start right after the
/// backslash of an escape, never end inside an escape.
fn json_safe(hay: &[u8], c: &mut Cand) {
    if c.drop {
        return;
    }
    if c.start > 0 && hay[c.start - 1] == b'\\' && validate::odd_backslashes_before(hay, c.start) {
        c.start -= 1;
    }
    if c.end > c.start && validate::odd_backslashes_before(hay, c.end) {
        // The span ends with an escape's backslash: take the escaped character too.
        let extra = if hay.get(c.end) == Some(&b'u') { 5 } else { 1 };
        c.end = (c.end + extra).min(hay.len());
    }
}

/// For a dropped JSON member `[s, e)`, include one adjacent comma and the whitespace between.
fn drop_extent(hay: &[u8], s: usize, e: usize) -> (usize, usize) {
    let mut j = e;
    while j < hay.len() && j - e < 64 && hay[j].is_ascii_whitespace() {
        j += 1;
    }
    if hay.get(j) == Some(&b',') {
        return (s, j + 1);
    }
    let mut i = s;
    while i > 0 && s - i < 64 && hay[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    if i > 0 && hay[i - 1] == b',' {
        return (i - 1, e);
    }
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::{RedactOptions, RulePack};

    #[test]
    fn first_mismatch_equals_a_byte_by_byte_search() {
        // Periodic text with one broken byte at every offset of several ranges, so the
        // mismatch falls in the word-wise head, in a `memcmp` step and in its tail.
        let period = b"ab\"c:1,{xyz}";
        let base: Vec<u8> = period.iter().copied().cycle().take(1200).collect();
        let q = period.len();
        for broken in (q..1200).step_by(7).chain([q, q + 1, 300, 301]) {
            let mut hay = base.clone();
            hay[broken] ^= 0x40;
            for (from, to) in [(q, 1200), (q + 5, 40), (q, q + 3), (200, 1200), (260, 700)] {
                let to = to.max(from);
                let want = (from..to).find(|&k| hay[k] != hay[k - q]);
                assert_eq!(
                    first_mismatch(&hay, from, to, q),
                    want,
                    "broken {broken} from {from} to {to}"
                );
            }
        }
    }

    fn engine() -> Engine {
        let pack = RulePack::default_pack().expect("default pack");
        let opts = RedactOptions {
            enabled_rules: ["aws-arn", "aws-account-id", "s3-bucket", "gcs-bucket"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..RedactOptions::default()
        };
        Engine::compile(&pack, &opts).expect("compiles")
    }

    fn detect(
        e: &Engine,
        hay: &[u8],
        kind: ContentKind,
        search_every_hit: bool,
    ) -> (Work, Vec<Cand>) {
        let scratch = Scratch {
            search_every_hit,
            ..Scratch::default()
        };
        detect_in(e, hay, kind, scratch)
    }

    fn detect_with(
        e: &Engine,
        hay: &[u8],
        kind: ContentKind,
        every_window: bool,
    ) -> (Work, Vec<Cand>) {
        let scratch = Scratch {
            search_every_window: every_window,
            ..Scratch::default()
        };
        detect_in(e, hay, kind, scratch)
    }

    /// One whole-body detect with `scratch`'s reference switches: its work and candidates.
    fn detect_in(
        e: &Engine,
        hay: &[u8],
        kind: ContentKind,
        mut scratch: Scratch,
    ) -> (Work, Vec<Cand>) {
        let mut out = Vec::new();
        e.detect(
            hay,
            0,
            true,
            kind,
            &KnownSet::empty(),
            &mut scratch,
            &mut out,
        );
        (scratch.work, out)
    }

    /// The pack's keywords in pseudo-random order, each followed by a few of `= :"x1`:
    /// dense in hits and not periodic (the adversarial bench's shape).
    fn keyword_soup(len: usize, seed: u64) -> Vec<u8> {
        let pack = RulePack::default_pack().expect("default pack");
        let mut kws: Vec<String> = Vec::new();
        for spec in pack.expanded().expect("expands") {
            kws.extend(spec.keywords.iter().cloned());
            kws.extend(spec.prefixes.iter().cloned());
        }
        kws.sort();
        kws.dedup();
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::with_capacity(len + 64);
        while out.len() < len {
            let k = &kws[(next() % kws.len() as u64) as usize];
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&b"= :\"x1"[..(next() % 6) as usize]);
        }
        out.truncate(len);
        out
    }

    /// Bodies dense in the keywords of rules searched over a window (`jwt` on `.ey`, 8 KiB
    /// each way; `kind:` for the Secret-manifest detector): repeated, or in random order.
    fn window_heavy_bodies(len: usize) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                "keywords in random order",
                keyword_soup(len, 0x9e37_79b9_7f4a_7c15),
            ),
            ("`.ey` repeated", repeat(b".ey", len)),
            ("`kind:=` repeated", repeat(b"kind:=", len)),
            ("`.ey ` repeated", repeat(b"x.eyJ ", len)),
        ]
    }

    /// Bytes searched or walked around hits per input byte stay bounded however dense the
    /// hits of window-searched rules are (issue 16, item 5). Counted, not timed. Without
    /// [`Searched`] every hit searched its whole window: thousands of bytes per input byte
    /// on `.ey` (8 KiB each way per hit, for every hit the period copies cannot reach).
    #[test]
    fn window_searches_stay_linear_in_keyword_dense_text() {
        let e = engine();
        let mut failed = Vec::new();
        for len in [64 << 10, 256 << 10] {
            for (name, body) in window_heavy_bodies(len) {
                let (w, _) = detect_with(&e, &body, ContentKind::Text, false);
                let (old, _) = detect_with(&e, &body, ContentKind::Text, true);
                let per_byte = w.window_bytes as f64 / len as f64;
                println!(
                    "{name} {len}: {per_byte:.1} bytes searched per input byte ({:.1} searching every window)",
                    old.window_bytes as f64 / len as f64
                );
                if per_byte > 40.0 {
                    failed.push(format!("{name} ({len} bytes): {per_byte:.1} per byte"));
                }
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    /// Everything that tells two candidates apart, for comparing candidate lists.
    fn cand_key(c: &Cand) -> (usize, usize, u32, u8, bool, bool) {
        (
            c.start,
            c.end,
            source_key(c.source),
            prio(c.source),
            c.quote,
            c.drop,
        )
    }

    /// Windows skipped because a wider search proved them empty change no candidate: the
    /// same candidates as searching every window, on keyword-dense text with real JWTs,
    /// Kubernetes Secrets and credentials placed among the keywords.
    #[test]
    fn skipped_windows_change_no_candidate() {
        let e = engine();
        let key = cand_key;
        let plants: [&[u8]; 5] = [
            b" eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlMTIz ",
            b"\nkind: Secret\nmetadata:\n  name: x\ndata:\n  k: c3VwZXJzZWNyZXR2YWx1ZQ==\n",
            b" postgres://app:Tr0ub4dor-3x@db.internal/app ",
            b" curl -u admin:Hunter2hunter2 https://x ",
            b" ->Host = \"smtp.x\"; ->Password = \"Tr0ub4dor3\" ",
        ];
        for (seed, every) in [(1u64, 997usize), (2, 4099), (3, 9001)] {
            let mut body = keyword_soup(96 << 10, seed * 0x2545_f491_4f6c_dd1d);
            let mut at = every;
            let mut i = 0;
            while at < body.len() {
                let p = plants[i % plants.len()];
                body.splice(at..at, p.iter().copied());
                at += every + p.len();
                i += 1;
            }
            for kind in [ContentKind::Text, ContentKind::Json] {
                let (w, mut a) = detect_with(&e, &body, kind, false);
                let (_, mut b) = detect_with(&e, &body, kind, true);
                a.sort_by_key(key);
                b.sort_by_key(key);
                let same = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| key(x) == key(y));
                assert!(
                    same,
                    "seed {seed} {kind:?}: {} skipped; {} candidates vs {} searching every window",
                    w.windows_skipped,
                    a.len(),
                    b.len()
                );
                assert!(
                    w.windows_skipped > 0,
                    "nothing skipped: the test tests nothing"
                );
                assert!(
                    w.word_start_skipped > 0,
                    "no word-start search skipped: the test tests nothing"
                );
                assert!(
                    w.lead_tries > 0,
                    "no short lead searched: the test tests nothing"
                );
            }
        }
    }

    fn repeat(unit: &[u8], len: usize) -> Vec<u8> {
        unit.iter().copied().cycle().take(len).collect()
    }

    /// Every keyword and prefix of the pack, bare and in the shapes that complete an
    /// assignment, plus single letters and separators.
    fn units() -> Vec<(Vec<u8>, ContentKind)> {
        let pack = RulePack::default_pack().expect("default pack");
        let mut kws: Vec<String> = Vec::new();
        for spec in pack.expanded().expect("expands") {
            kws.extend(spec.keywords.iter().cloned());
            kws.extend(spec.prefixes.iter().cloned());
        }
        kws.sort();
        kws.dedup();
        let mut units = Vec::new();
        for k in &kws {
            for (suffix, kind) in [
                ("", ContentKind::Text),
                (" ", ContentKind::Text),
                ("=", ContentKind::Text),
                ("\":\"", ContentKind::Json),
            ] {
                units.push((format!("{k}{suffix}").into_bytes(), kind));
            }
        }
        for u in [
            "A", "a", "0", "1 ", "@", "a@", "a@b.co ", "\\", "[", "{\"a\":",
        ] {
            units.push((u.as_bytes().to_vec(), ContentKind::Text));
            units.push((u.as_bytes().to_vec(), ContentKind::Json));
        }
        units
    }

    /// Rule searches on text that repeats do not grow with its length: past the first
    /// window, every hit's candidates are copied from the previous hit's (issue 16, item 5).
    /// Counted, not timed: before the copies a body four times longer ran four times the
    /// searches (8 MiB of one letter took 5 s).
    #[test]
    fn rule_searches_do_not_grow_with_repeated_text() {
        let e = engine();
        let mut grew = Vec::new();
        for (unit, kind) in units() {
            let (small, _) = detect(&e, &repeat(&unit, 48 << 10), kind, false);
            let (big, _) = detect(&e, &repeat(&unit, 192 << 10), kind, false);
            if big.evaluated > small.evaluated + 16 {
                grew.push(format!(
                    "{:?}: {} -> {} searches",
                    String::from_utf8_lossy(&unit),
                    small.evaluated,
                    big.evaluated
                ));
            }
        }
        assert!(grew.is_empty(), "{}", grew.join("\n"));
    }

    /// Copied candidates are exactly the ones the rules would find, on periodic bodies with
    /// a finding in every period (and periods broken now and then).
    #[test]
    fn copied_candidates_equal_searched_ones() {
        let e = engine();
        let key = cand_key;
        let mut shapes: Vec<(Vec<u8>, ContentKind)> = [
            (
                "{\"token\":\"ghp_Zq3vN8kLm2Pw5Rt7Yx1Cb4Df6Gh9Jk0Ls2Q\"},",
                ContentKind::Json,
            ),
            ("{\"password\":12345678,\"x\":\"y\"},", ContentKind::Json),
            ("password=hunter2X9!q ", ContentKind::Text),
            ("AKIAZ7QJ3MX5TRV2WQ4N ", ContentKind::Text),
            ("secret_key = \"Zq3vN8kLm2Pw5Rt7Yx1C\"\n", ContentKind::Text),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlMTIz\n",
                ContentKind::Text,
            ),
            (
                "postgres://app:Tr0ub4dor-3x@db.internal/app ",
                ContentKind::Text,
            ),
            ("token=abc&password=Tr0ub4dor3x&", ContentKind::Form),
        ]
        .iter()
        .map(|(u, k)| (u.as_bytes().to_vec(), *k))
        .collect();
        shapes.extend(units().into_iter().step_by(7));
        for (unit, kind) in shapes {
            let mut hay = repeat(&unit, 40 << 10);
            // Break the period in a few places: the copies must stop and restart there.
            for at in [9000, 20_011, 20_012, 33_333] {
                hay[at] ^= 0x20;
            }
            let (copied, mut a) = detect(&e, &hay, kind, false);
            let (_, mut b) = detect(&e, &hay, kind, true);
            a.sort_by_key(key);
            a.dedup_by_key(|c| key(c));
            b.sort_by_key(key);
            b.dedup_by_key(|c| key(c));
            let same = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| key(x) == key(y));
            assert!(
                same,
                "{:?}: {} copied hits; {} candidates vs {} searched",
                String::from_utf8_lossy(&unit),
                copied.translated,
                a.len(),
                b.len()
            );
        }
    }
}
