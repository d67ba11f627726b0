//! The keyword prefilter: every (overlapping) occurrence of every rule keyword, ASCII case
//! folded, in one pass.
//!
//! Why not `AhoCorasick::find_overlapping_iter`: with hundreds of keywords no SIMD prefilter
//! applies, and the DFA walk is bound by the latency of one dependent table load per byte
//! (~550 MB/s measured here). Walking [`LANES`] independent slices of the haystack in
//! lock-step keeps several loads in flight (~1.5 GB/s with 6 lanes on the dev VM), which is
//! what lets clean bodies go through fast. Each lane starts `max_pattern_len - 1` bytes
//! before its slice so no occurrence straddling a slice boundary is lost, and only reports
//! occurrences ending inside its own slice so none is reported twice.

use std::collections::HashMap;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{Anchored, MatchKind};

use super::RedactError;

/// Lanes walked in lock-step. Measured on the dev VM (`time_prefilter`, clean JSON): 1 lane
/// ~0.55 GB/s, 4 ~1.0, 6 ~1.55, 8 ~1.35 (register pressure).
const LANES: usize = 6;

/// Below this many bytes per lane the set-up cost is not worth it: walk one lane.
const MIN_LANE: usize = 4096;

/// One keyword occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub start: usize,
    pub end: usize,
    /// Index into the keyword list the prefilter was built from.
    pub pattern: u32,
}

/// Per-lane hit buffers for [`Prefilter::find_ends_in`] (so lanes' hits come out in order),
/// kept by the caller and reused.
#[derive(Default)]
pub(crate) struct LaneHits([Vec<Hit>; LANES]);

pub(crate) struct Prefilter {
    /// Transitions, `state + class[byte]`, state ids premultiplied by `stride`. Its length is
    /// a power of two, so an index masked with `len - 1` needs no bounds check in the hot
    /// loop.
    trans: Box<[u32]>,
    class: [u8; 256],
    start: u32,
    /// A power of two: match states' (premultiplied) ids are this plus their index, the
    /// others' are below it, so "is any lane in a match state" is an OR of the lanes' states
    /// and one test in the hot loop.
    match_flag: u32,
    stride: u32,
    /// Per match state (by index): (pattern, pattern length) of every keyword ending there.
    matches: Vec<Vec<(u32, u32)>>,
    max_pattern_len: usize,
}

impl Prefilter {
    /// Builds the automaton over (already lower-cased) keywords; matching is ASCII
    /// case-insensitive.
    ///
    /// The table is copied out of `aho_corasick`'s DFA into a plain array because the walk
    /// below is the single hottest loop of the engine: owning the layout makes a step one
    /// class lookup, one add and one load, and "match or not" a single compare.
    pub fn new(patterns: &[Vec<u8>]) -> Result<Self, RedactError> {
        let dfa = aho_corasick::dfa::Builder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns)
            .map_err(|e| RedactError::Automaton(e.to_string()))?;
        let start = dfa
            .start_state(Anchored::No)
            .map_err(|e| RedactError::Automaton(e.to_string()))?;
        // Reachable states, breadth first.
        let mut ids: HashMap<StateID, usize> = HashMap::new();
        let mut order = vec![start];
        ids.insert(start, 0);
        let mut k = 0;
        while k < order.len() {
            let sid = order[k];
            for b in 0..=255u8 {
                let next = dfa.next_state(Anchored::No, sid, b);
                if let std::collections::hash_map::Entry::Vacant(e) = ids.entry(next) {
                    e.insert(order.len());
                    order.push(next);
                }
            }
            k += 1;
        }
        // Byte classes: bytes with identical columns behave identically.
        let mut class = [0u8; 256];
        let mut columns: HashMap<Vec<usize>, u8> = HashMap::new();
        for b in 0..=255u8 {
            let col: Vec<usize> = order
                .iter()
                .map(|&sid| ids[&dfa.next_state(Anchored::No, sid, b)])
                .collect();
            let n = columns.len();
            let c = *columns
                .entry(col)
                .or_insert_with(|| u8::try_from(n).unwrap_or(u8::MAX));
            class[usize::from(b)] = c;
        }
        if columns.len() > 256 {
            return Err(RedactError::Automaton("too many byte classes".into()));
        }
        let stride = columns.len();
        // Renumber: the other states from 0, then the match states from `match_flag`.
        let is_match: Vec<bool> = order.iter().map(|&s| dfa.is_match(s)).collect();
        let n_match = is_match.iter().filter(|&&m| m).count();
        let n_other = order.len() - n_match;
        let too_big = || RedactError::Automaton("keyword automaton too large".into());
        // Both groups fit below the flag, so every match state's id has the flag bit set
        // (`flag + k * stride < 2 * flag`) and no other state's has.
        let match_flag = n_other
            .max(n_match)
            .checked_mul(stride)
            .and_then(|c| c.max(1).checked_next_power_of_two())
            .ok_or_else(too_big)?;
        let mut new_of_old = vec![0usize; order.len()];
        let (mut next_other, mut next_match) = (0, 0);
        for (old, &m) in is_match.iter().enumerate() {
            new_of_old[old] = if m {
                next_match += 1;
                match_flag + (next_match - 1) * stride
            } else {
                next_other += 1;
                (next_other - 1) * stride
            };
        }
        let cells = match_flag.checked_mul(2).ok_or_else(too_big)?;
        u32::try_from(cells).map_err(|_| too_big())?;
        let mut trans = vec![0u32; cells];
        let mut matches = vec![Vec::new(); n_match];
        for (old, &sid) in order.iter().enumerate() {
            let row = new_of_old[old];
            for b in 0..=255u8 {
                let next = new_of_old[ids[&dfa.next_state(Anchored::No, sid, b)]];
                // Fits: cells was checked to fit in u32.
                trans[row + usize::from(class[usize::from(b)])] = next as u32;
            }
            if is_match[old] {
                matches[(row - match_flag) / stride] = (0..dfa.match_len(sid))
                    .map(|i| {
                        let pid = dfa.match_pattern(sid, i);
                        (pid.as_u32(), dfa.pattern_len(pid) as u32)
                    })
                    .collect();
            }
        }
        Ok(Self {
            trans: trans.into_boxed_slice(),
            class,
            start: new_of_old[0] as u32,
            match_flag: match_flag as u32,
            stride: stride as u32,
            matches,
            max_pattern_len: dfa.max_pattern_len(),
        })
    }

    #[inline(always)]
    fn step(&self, s: u32, byte: u8) -> u32 {
        let t = &self.trans;
        // In bounds without a check: `t.len()` is a power of two (see `new`).
        t[(s as usize + usize::from(self.class[usize::from(byte)])) & (t.len() - 1)]
    }

    /// Appends every occurrence that starts at or after `from` (overlapping ones too),
    /// ordered by end (see [`Self::find_ends_in`]).
    #[cfg(test)]
    pub fn find_all(&self, hay: &[u8], from: usize, out: &mut Vec<Hit>) {
        let mut lanes = LaneHits::default();
        self.find_ends_in(hay, from, from, hay.len(), &mut lanes, out);
    }

    /// Appends every occurrence (overlapping ones too) that starts at or after `from` and
    /// ends in `(lo, hi]`, ordered by end (occurrences ending together in automaton
    /// order). `lo` must be at least `from`.
    ///
    /// Why a range: the engine takes a haystack's hits one block at a time, so the hits
    /// held at once are bounded by the block, not the body (one letter repeated makes a hit
    /// at every byte). Why ordered: the engine recognises periodic text by comparing a hit
    /// with the previous hit of the same keyword.
    pub fn find_ends_in(
        &self,
        hay: &[u8],
        from: usize,
        lo: usize,
        hi: usize,
        lanes: &mut LaneHits,
        out: &mut Vec<Hit>,
    ) {
        let hi = hi.min(hay.len());
        if lo >= hi || lo < from {
            return;
        }
        let back = self.max_pattern_len.saturating_sub(1);
        // Warm up from up to `back` bytes before `at` (never before `from`, where
        // occurrences are not wanted), reporting nothing: the state then is exactly the
        // state a single walk from `from` would have at `at`.
        let warm = |at: usize| {
            let w = at.saturating_sub(back).max(from);
            hay[w..at]
                .iter()
                .fold(self.start, |st, &byte| self.step(st, byte))
        };
        let len = hi - lo;
        if len < LANES * MIN_LANE {
            let mut st = warm(lo);
            for (i, &byte) in hay[..hi].iter().enumerate().skip(lo) {
                st = self.step(st, byte);
                if st & self.match_flag != 0 {
                    self.report(st, i + 1, out);
                }
            }
            return;
        }
        let seg = len / LANES;
        let mut state: [u32; LANES] = std::array::from_fn(|j| warm(lo + j * seg));
        for l in lanes.0.iter_mut() {
            l.clear();
        }
        // Lane j owns [lo + j*seg, lo + (j+1)*seg); the last lane also owns the rest.
        let slices: [&[u8]; LANES] =
            std::array::from_fn(|j| &hay[lo + j * seg..lo + (j + 1) * seg]);
        // Why indexed: all lanes advance by the same `i` in lock-step; iterator zips over
        // `LANES` slices measured no faster and read worse.
        #[allow(clippy::needless_range_loop)]
        for i in 0..seg {
            let mut any = 0;
            for j in 0..LANES {
                state[j] = self.step(state[j], slices[j][i]);
                any |= state[j];
            }
            if any & self.match_flag != 0 {
                for (j, &s) in state.iter().enumerate() {
                    if s & self.match_flag != 0 {
                        self.report(s, lo + j * seg + i + 1, &mut lanes.0[j]);
                    }
                }
            }
        }
        let mut st = state[LANES - 1];
        for (i, &byte) in hay[..hi].iter().enumerate().skip(lo + LANES * seg) {
            st = self.step(st, byte);
            if st & self.match_flag != 0 {
                self.report(st, i + 1, &mut lanes.0[LANES - 1]);
            }
        }
        // Each lane's hits are in end order and the lanes are consecutive.
        for l in &lanes.0 {
            out.extend_from_slice(l);
        }
    }

    #[inline]
    fn report(&self, st: u32, end: usize, out: &mut Vec<Hit>) {
        let Some(list) = self
            .matches
            .get(((st - self.match_flag) / self.stride) as usize)
        else {
            return;
        };
        for &(pattern, len) in list {
            out.push(Hit {
                start: end - len as usize,
                end,
                pattern,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::AhoCorasickBuilder;

    fn reference(pats: &[Vec<u8>], hay: &[u8], from: usize) -> Vec<Hit> {
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(pats)
            .expect("builds");
        let input = aho_corasick::Input::new(hay).span(from..hay.len());
        let mut v: Vec<Hit> = ac
            .find_overlapping_iter(input)
            .map(|m| Hit {
                start: m.start(),
                end: m.end(),
                pattern: m.pattern().as_u32(),
            })
            .collect();
        v.sort_by_key(|h| (h.start, h.end, h.pattern));
        v
    }

    #[test]
    fn blocks_in_end_order_equal_one_walk() {
        let pats: Vec<Vec<u8>> = ["aaa", "a", "ab", "key", "keys"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let pf = Prefilter::new(&pats).expect("builds");
        let mut hay = b"aaaab keys ".repeat(9000);
        hay.extend_from_slice(&[b'a'; 30_000]);
        for from in [0, 3, 4099] {
            let mut want = reference(&pats, &hay, from);
            want.sort_by_key(|h| h.end);
            for block in [7, 4096, 60_000, hay.len()] {
                let mut lanes = LaneHits::default();
                let mut got = Vec::new();
                let mut lo = from;
                while lo < hay.len() {
                    let before = got.len();
                    pf.find_ends_in(&hay, from, lo, lo + block, &mut lanes, &mut got);
                    assert!(got[before..].windows(2).all(|w| w[0].end <= w[1].end));
                    lo += block;
                }
                // Same hits; ties at one end may come in another order.
                let mut g = got.clone();
                g.sort_by_key(|h| (h.end, h.start, h.pattern));
                let mut w = want.clone();
                w.sort_by_key(|h| (h.end, h.start, h.pattern));
                assert_eq!(g, w, "from {from} block {block}");
            }
        }
    }

    #[test]
    fn lanes_equal_a_plain_overlapping_walk() {
        let pats: Vec<Vec<u8>> = ["key", "api_key", "secret", "ab", "abcabc", "x"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let pf = Prefilter::new(&pats).expect("builds");
        // Pseudo-random text over a tiny alphabet so occurrences straddle lane boundaries.
        let mut seed = 0x2545_f491_u64;
        let alphabet = b"abcKEYkeyapi_SECRETsx ";
        let hay: Vec<u8> = (0..70_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                alphabet[(seed % alphabet.len() as u64) as usize]
            })
            .collect();
        for from in [0, 1, 7, 5000, 69_990] {
            let mut got = Vec::new();
            pf.find_all(&hay, from, &mut got);
            got.sort_by_key(|h| (h.start, h.end, h.pattern));
            assert_eq!(got, reference(&pats, &hay, from), "from {from}");
        }
    }
}

#[cfg(test)]
mod timing {
    #[test]
    #[ignore]
    fn time_prefilter() {
        let pack = super::super::RulePack::default_pack().expect("pack");
        let mut kws: Vec<Vec<u8>> = Vec::new();
        for r in pack.expanded().expect("x") {
            for k in r.keywords.iter().chain(&r.prefixes) {
                kws.push(k.to_ascii_lowercase().into_bytes());
            }
        }
        kws.sort();
        kws.dedup();
        let pf = super::Prefilter::new(&kws).expect("b");
        let mut body = Vec::new();
        let mut i = 0u64;
        while body.len() < 4 << 20 {
            body.extend_from_slice(format!("{{\"id\":\"{:08x}-4a1b-4c2d-9e3f-{:012x}\",\"created_at\":\"2024-05-{:02}T10:{:02}:00Z\",\"type\":\"issue\",\"title\":\"Fix flaky retry in the upload worker #{i}\",\"body\":\"When the upstream returns 503 we retry with backoff; the counter was not reset between attempts so the third retry waited far too long.\",\"labels\":[\"bug\",\"worker\",\"p{}\"],\"url\":\"https://example.com/org/repo/issues/{i}\",\"comments\":{},\"score\":{}.{},\"author\":{{\"login\":\"dev{}\",\"site_admin\":false}}}},", i * 2654435761 % 0xffff_ffff, i * 40503, i % 28 + 1, i % 60, i % 4, i % 17, i % 100, i % 10, i % 50).as_bytes());
            i += 1;
        }
        let mut best = f64::MAX;
        let mut v = Vec::new();
        for _ in 0..20 {
            v.clear();
            let t = std::time::Instant::now();
            pf.find_all(&body, 0, &mut v);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "prefilter {} states*classes, {:.0} MB/s, {} hits",
            pf.trans.len(),
            body.len() as f64 / best / 1e6,
            v.len()
        );
    }
}
