//! The masked group's span without a capture engine.
//!
//! Resolving capture groups (`s`, `s2`, `n`) was the single largest cost on secret-dense
//! bodies: the bounded backtracker spends ~7k instructions per match on the big key-name
//! regexes. But the masked group is nearly always a top-level piece of the regex,
//! `P (?P<s>S) Q`, or one branch of a final alternation (`"key": (?:"(?P<s>…)"|(?P<n>…))`).
//! For such a *variant* the group's span inside a known match `[ms, me)` is a split point
//! `k1` (and `k2`) with `hay[ms..k1] ∈ P`, `hay[k1..k2] ∈ S`, `hay[k2..me] ∈ Q`. Lazy DFAs
//! walked over the match find every such split: `P` forwards from `ms` (all match ends),
//! `S Q` backwards from `me` (all match starts), and, when `Q` is not empty, `S` forwards
//! and `Q` backwards between `k1` and `me`.
//!
//! Why this equals capture resolution: the capture engine reports the highest-priority path
//! that matches exactly `[ms, me)`. Every path through the regex goes through exactly one
//! variant and splits the match at that variant's group bounds. When the walks find exactly
//! one split over all variants, every matching path — the reported one included — has that
//! split. When they find none or several (an ambiguous match), the caller falls back to the
//! capture engine, so the answer is always the capture engine's.
//!
//! Look-around (`^`, `$`, `\b`) is evaluated by the DFAs against the whole haystack, as in
//! the full regex.

use std::panic::{RefUnwindSafe, UnwindSafe};

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::hybrid::LazyStateID;
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::pool::Pool;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{Hir, HirKind};

/// Names of the groups the engine reads (see `engine::accept`).
const GROUPS: [&str; 3] = ["s", "s2", "n"];

type CacheFn = Box<dyn Fn() -> Cache + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// A lazy DFA with its caches. Why a pool (as `meta::Regex` does internally): the states a
/// lazy DFA has built stay warm across streams, so a small body does not pay to rebuild
/// them; each thread takes its own cache.
struct Lazy {
    dfa: DFA,
    caches: Pool<Cache, CacheFn>,
}

impl Lazy {
    fn new(hir: &Hir, reverse: bool) -> Option<Self> {
        let dfa = dfa(hir, reverse)?;
        let d = dfa.clone();
        Some(Self {
            dfa,
            caches: Pool::new(Box::new(move || d.create_cache())),
        })
    }
}

/// One way through the regex: `P (?P<group>S) Q`. The pieces are indexes into
/// [`Split::dfas`].
struct Variant {
    /// Group `n`: a bare JSON number, masked as a string.
    quote: bool,
    /// `P`, forwards, every match end.
    pre: usize,
    /// `S Q`, reversed, every match start.
    rest_rev: usize,
    /// `S` forwards and `Q` reversed, when `Q` is not empty.
    tail: Option<(usize, usize)>,
}

type CachesFn = Box<dyn Fn() -> Vec<Cache> + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// The variants of one rule's regex.
pub(crate) struct Split {
    variants: Vec<Variant>,
    /// Every piece's lazy DFA.
    dfas: Vec<DFA>,
    /// One cache per DFA, pooled together: a resolve takes them with one pool access
    /// instead of one per walk (two to five walks per match).
    caches: Pool<Vec<Cache>, CachesFn>,
}

/// Per-stream scratch for [`Split::resolve`].
#[derive(Default)]
pub(crate) struct SplitCache {
    marks: Vec<u64>,
}

/// A resolved group: its span and whether it is a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Group {
    pub start: usize,
    pub end: usize,
    pub quote: bool,
}

fn items(h: &Hir) -> Vec<Hir> {
    match h.kind() {
        HirKind::Concat(v) => v.clone(),
        _ => vec![h.clone()],
    }
}

/// The named group this item is, if it is one the engine reads.
fn group_name(h: &Hir) -> Option<&str> {
    match h.kind() {
        HirKind::Capture(c) => c.name.as_deref().filter(|n| GROUPS.contains(n)),
        _ => None,
    }
}

/// Whether `h` contains a group the engine reads.
fn has_group(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Capture(c) => {
            c.name.as_deref().is_some_and(|n| GROUPS.contains(&n)) || has_group(&c.sub)
        }
        HirKind::Repetition(r) => has_group(&r.sub),
        HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(has_group),
        _ => false,
    }
}

/// Pieces `(P, S, Q, name)` of every variant, or `None` when the regex has another shape.
fn pieces(hir: &Hir) -> Option<Vec<(Hir, Hir, Hir, String)>> {
    let top = items(hir);
    let one = |pre: Vec<Hir>, mid: &Hir, post: Vec<Hir>| -> Option<(Hir, Hir, Hir, String)> {
        let name = group_name(mid)?.to_string();
        let HirKind::Capture(c) = mid.kind() else {
            return None;
        };
        let (p, s, q) = (Hir::concat(pre), (*c.sub).clone(), Hir::concat(post));
        if has_group(&p) || has_group(&s) || has_group(&q) {
            return None;
        }
        Some((p, s, q, name))
    };
    let at = top
        .iter()
        .position(|h| group_name(h).is_some() || has_group(h))?;
    if group_name(&top[at]).is_some() {
        return Some(vec![one(
            top[..at].to_vec(),
            &top[at],
            top[at + 1..].to_vec(),
        )?]);
    }
    // A final-part alternation whose every branch holds the group at its top level.
    let HirKind::Alternation(branches) = top[at].kind() else {
        return None;
    };
    let mut out = Vec::new();
    for b in branches {
        let bi = items(b);
        let j = bi.iter().position(|h| group_name(h).is_some())?;
        let mut pre = top[..at].to_vec();
        pre.extend_from_slice(&bi[..j]);
        let mut post = bi[j + 1..].to_vec();
        post.extend_from_slice(&top[at + 1..]);
        out.push(one(pre, &bi[j], post)?);
    }
    Some(out)
}

fn dfa(hir: &Hir, reverse: bool) -> Option<DFA> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .reverse(reverse)
                .which_captures(WhichCaptures::None)
                .nfa_size_limit(Some(64 << 20)),
        )
        .build_from_hir(hir)
        .ok()?;
    DFA::builder()
        .configure(DFA::config().match_kind(MatchKind::All))
        .build_from_nfa(nfa)
        .ok()
}

impl Split {
    /// Analyses a rule's regex; `None` when its groups are not top-level pieces (the engine
    /// then always uses the capture engine).
    pub fn new(hir: &Hir) -> Option<Self> {
        let mut variants = Vec::new();
        let mut dfas = Vec::new();
        let mut add = |h: &Hir, reverse: bool| -> Option<usize> {
            dfas.push(dfa(h, reverse)?);
            Some(dfas.len() - 1)
        };
        for (p, s, q, name) in pieces(hir)? {
            let q_empty = matches!(q.kind(), HirKind::Empty);
            let sq = Hir::concat(vec![s.clone(), q.clone()]);
            variants.push(Variant {
                quote: name == "n",
                pre: add(&p, false)?,
                rest_rev: add(&sq, true)?,
                tail: if q_empty {
                    None
                } else {
                    Some((add(&s, false)?, add(&q, true)?))
                },
            });
        }
        let d = dfas.clone();
        Some(Self {
            variants,
            dfas,
            caches: Pool::new(Box::new(move || d.iter().map(DFA::create_cache).collect())),
        })
    }

    /// The group of the match `[ms, me)`, when exactly one split exists; `None` means "ask
    /// the capture engine".
    ///
    /// Every path that matches `[ms, me)` goes through some variant `v` and a `k1` where `P_v`
    /// ends; when only one such `(v, k1)` exists it is the answer, without walking `S Q`.
    /// Likewise, once `k1` is fixed, a single place where `Q` can start fixes `k2`.
    pub fn resolve(
        &self,
        hay: &[u8],
        ms: usize,
        me: usize,
        cache: &mut SplitCache,
    ) -> Option<Group> {
        let marks = &mut cache.marks;
        let mut guard = self.caches.get();
        let caches: &mut [Cache] = &mut guard;
        let dfas = &self.dfas;
        let words = (me - ms + 1).div_ceil(64);
        marks.clear();
        marks.resize(words * self.variants.len(), 0);
        // Stage 1: where each variant's `P` can end.
        let mut total = 0usize;
        let mut only = (0usize, 0usize);
        for (vi, v) in self.variants.iter().enumerate() {
            let m = &mut marks[vi * words..(vi + 1) * words];
            fwd_ends(&dfas[v.pre], &mut caches[v.pre], hay, ms, me, |k| {
                mark_set(m, k - ms);
                total += 1;
                only = (vi, k);
            })?;
        }
        let (vi, k1) = match total {
            0 => return None,
            1 => only,
            _ => {
                // Several: keep those where `S Q` can start too.
                let mut n = 0usize;
                for (vi, v) in self.variants.iter().enumerate() {
                    let m = &marks[vi * words..(vi + 1) * words];
                    if m.iter().all(|&w| w == 0) {
                        continue;
                    }
                    let r = v.rest_rev;
                    rev_starts(&dfas[r], &mut caches[r], hay, ms, me, |k| {
                        if mark_get(m, k - ms) {
                            n += 1;
                            only = (vi, k);
                        }
                    })?;
                }
                if n != 1 {
                    return None;
                }
                only
            }
        };
        let v = &self.variants[vi];
        let end = match &v.tail {
            None => me,
            Some((s_fwd, q_rev)) => {
                let (s_fwd, q_rev) = (*s_fwd, *q_rev);
                // Stage 2: where `Q` can start, after `k1`.
                let m = &mut marks[..words];
                m.fill(0);
                let mut nq = 0usize;
                let mut k2 = 0usize;
                rev_starts(&dfas[q_rev], &mut caches[q_rev], hay, k1, me, |k| {
                    mark_set(m, k - ms);
                    nq += 1;
                    k2 = k;
                })?;
                match nq {
                    0 => return None,
                    1 => k2,
                    _ => {
                        let mut n = 0usize;
                        fwd_ends(&dfas[s_fwd], &mut caches[s_fwd], hay, k1, me, |k| {
                            if mark_get(m, k - ms) {
                                n += 1;
                                k2 = k;
                            }
                        })?;
                        if n != 1 {
                            return None;
                        }
                        k2
                    }
                }
            }
        };
        Some(Group {
            start: k1,
            end,
            quote: v.quote,
        })
    }
}

/// A rule's regex reversed: where matches that end at a known place can start.
///
/// Used after a lead search (`engine.rs`, `Mode::Lead`), which already gives the end `E` of
/// the leftmost match starting in `[at, at + lead]`: that match's start is the smallest `k`
/// in `[at, E]` where the rule matches exactly `[k, E)` (a smaller such `k` would be an
/// earlier match start, which the lead search would have preferred). One reverse walk
/// instead of a forward and a reverse search.
pub(crate) struct RevStart {
    rev: Lazy,
}

impl RevStart {
    /// Compiles the rule's regex reversed; `None` if that fails (the caller then searches).
    pub fn new(hir: &Hir) -> Option<Self> {
        Some(Self {
            rev: Lazy::new(hir, true)?,
        })
    }

    /// The smallest `k` in `[at, end]` where the rule matches exactly `[k, end)`; `None`
    /// when there is none or the lazy DFA gave up (the caller then searches).
    pub fn leftmost(&self, hay: &[u8], at: usize, end: usize) -> Option<usize> {
        let mut first = None;
        let mut guard = self.rev.caches.get();
        rev_starts(&self.rev.dfa, &mut guard, hay, at, end, |k| first = Some(k))?;
        first
    }
}

fn mark_set(marks: &mut [u64], i: usize) {
    if let Some(w) = marks.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

fn mark_get(marks: &[u64], i: usize) -> bool {
    marks.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// Calls `f(k)` for every `k` in `[s, e]` where `hay[s..k]` matches `dfa` (anchored at `s`,
/// look-around against the whole haystack). `None` if the lazy DFA gave up.
fn fwd_ends(
    dfa: &DFA,
    cache: &mut Cache,
    hay: &[u8],
    s: usize,
    e: usize,
    mut f: impl FnMut(usize),
) -> Option<()> {
    let input = Input::new(hay).span(s..e).anchored(Anchored::Yes);
    let mut sid = dfa.start_state_forward(cache, &input).ok()?;
    // Match states are delayed by one byte: the state after reading `hay[at]` says whether
    // a match ends at `at`.
    for (at, &b) in hay[s..e].iter().enumerate() {
        sid = dfa.next_state(cache, sid, b).ok()?;
        if sid.is_tagged() && !step_ok(sid, || f(s + at))? {
            return Some(());
        }
    }
    sid = match hay.get(e) {
        Some(&b) => dfa.next_state(cache, sid, b).ok()?,
        None => dfa.next_eoi_state(cache, sid).ok()?,
    };
    if sid.is_match() {
        f(e);
    }
    Some(())
}

/// Calls `f(k)` for every `k` in `[s, e]` where `hay[k..e]` matches the reversed `dfa`.
fn rev_starts(
    dfa: &DFA,
    cache: &mut Cache,
    hay: &[u8],
    s: usize,
    e: usize,
    mut f: impl FnMut(usize),
) -> Option<()> {
    let input = Input::new(hay).span(s..e).anchored(Anchored::Yes);
    let mut sid = dfa.start_state_reverse(cache, &input).ok()?;
    // Why the slice iterator and not `hay[at]`: no bounds check per byte.
    for (k, &b) in hay[s..e].iter().enumerate().rev() {
        let at = s + k;
        sid = dfa.next_state(cache, sid, b).ok()?;
        if sid.is_tagged() && !step_ok(sid, || f(at + 1))? {
            return Some(());
        }
    }
    sid = match s.checked_sub(1) {
        Some(p) => dfa.next_state(cache, sid, hay[p]).ok()?,
        None => dfa.next_eoi_state(cache, sid).ok()?,
    };
    if sid.is_match() {
        f(s);
    }
    Some(())
}

/// Handles a tagged state: reports a match, says whether to go on (`Some(false)` when
/// dead), `None` on a quit state (never built here: Unicode is off).
fn step_ok(sid: LazyStateID, f: impl FnOnce()) -> Option<bool> {
    if sid.is_match() {
        f();
    }
    if sid.is_dead() {
        return Some(false);
    }
    if sid.is_quit() || sid.is_unknown() {
        return None;
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;

    fn hir(re: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(re)
            .expect("parses")
    }

    /// The split agrees with the capture engine whenever it answers.
    fn check(re: &str, hay: &str) -> Option<Group> {
        let split = Split::new(&hir(re)).expect("splits");
        let rx = Regex::builder()
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .unicode(false)
                    .utf8(false),
            )
            .build(re)
            .expect("compiles");
        let mut caps = rx.create_captures();
        rx.captures(hay.as_bytes(), &mut caps);
        let m = caps.get_match().expect("matches");
        let mut cache = SplitCache::default();
        let got = split.resolve(hay.as_bytes(), m.start(), m.end(), &mut cache);
        if let Some(g) = got {
            let gi = rx.group_info();
            let want = GROUPS
                .iter()
                .filter_map(|n| gi.to_index(regex_automata::PatternID::ZERO, n))
                .find_map(|i| caps.get_group(i))
                .expect("group");
            assert_eq!((g.start, g.end), (want.start, want.end), "{re} on {hay}");
        }
        got
    }

    #[test]
    fn splits_agree_with_captures() {
        let key = r#"(?i)"(?:[a-z0-9_.\-]{0,40}(?:password|secret)|token)"\s{0,8}:\s{0,8}(?:"(?P<s>(?:[^"\\]|\\.)+)"|(?P<n>-?[0-9][0-9.eE+\-]{0,40}))"#;
        assert!(check(key, r#"x {"token": "ghp_abc\"def"} y"#).is_some());
        let g = check(key, r#"{"db_password":12345,"#).expect("resolves");
        assert!(g.quote);
        let bearer = r"(?i)bearer:?\s{1,3}(?P<s>[a-z0-9\-_.~+/]{8,64}={0,2})";
        assert!(check(bearer, "Authorization: Bearer abcdefgh123==").is_some());
        let url = r#"(?i)[a-z][a-z0-9+.\-]{1,20}:(?://|\\/\\/)(?P<s>[^\s:/?#@"'<>\[\]{}\\|]{1,128}:[^\s/?#@"'<>{}\\|]{1,256})@[a-z0-9][a-z0-9.\-_]{0,253}"#;
        assert!(check(url, "postgres://app:pw@db.internal/app").is_some());
        // Ambiguous: `a{1,3}` then `a{1,3}`; the split declines, captures decide.
        assert_eq!(check("(?P<s>a{1,3})a{1,3}", "aaaa"), None);
        // A group that is last, with `$` after it.
        assert!(check(r"k=(?P<s>[a-z]{2,8})(?:;|$)", "k=abc").is_some());
    }

    #[test]
    fn shapes_without_top_level_groups_are_refused() {
        assert!(Split::new(&hir("a(?:(?P<s>b)|c)+")).is_none());
        assert!(Split::new(&hir("(?:(?P<s>b)|c)d")).is_none());
    }
}
