//! Where a keyword sits inside a rule's matches, worked out from the regex itself.
//!
//! A keyword rule's regex only runs near its keyword hits. How near decides the cost: the
//! old way searched the whole `[hit - max_len, hit + max_len]` window and kept matches that
//! contain the hit, so a rule with a long `max_len` (JSON key names: 8 KiB) re-scanned
//! kilobytes per hit and dense bodies went quadratic. Most rules, though, *start* with their
//! keyword (`(?i)(?:password|secret|…)…`) or put it a few bytes in (`"…(?:token|…)"`). This
//! module proves, per rule, a bound `lead` such that every match contains a keyword occurrence
//! starting at most `lead` bytes after the match start. Then searching for match starts in
//! `[hit - lead, hit]` finds every match, and a rule with `lead == 0` is a plain anchored
//! search at the hit.
//!
//! The proof works on the case-folded language of the regex: literals and small classes are
//! expanded into finite string sets (bounded), and a keyword must occur in every string of
//! the set. Anything the analysis cannot bound gives `None` and the caller keeps the old,
//! always-correct window.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Largest finite string set expanded while analysing.
const MAX_SET: usize = 256;
/// Longest string kept in an expanded set.
const MAX_STR: usize = 64;
/// Largest class (after case folding) expanded into single bytes.
const MAX_CLASS: usize = 4;

/// The proven bound, or `None` when every match cannot be shown to contain a keyword.
/// `keywords` must be lower-case.
pub(crate) fn keyword_lead(hir: &Hir, keywords: &[Vec<u8>]) -> Option<usize> {
    lead(hir, keywords)
}

fn lead(hir: &Hir, kws: &[Vec<u8>]) -> Option<usize> {
    if let Some(set) = strings(hir) {
        return set_lead(&set, kws);
    }
    match hir.kind() {
        HirKind::Capture(c) => lead(&c.sub, kws),
        // The first iteration starts where the repetition starts.
        HirKind::Repetition(r) if r.min >= 1 => lead(&r.sub, kws),
        HirKind::Alternation(alts) => {
            let mut worst = 0;
            for a in alts {
                worst = worst.max(lead(a, kws)?);
            }
            Some(worst)
        }
        HirKind::Concat(items) => {
            let mut best: Option<usize> = None;
            let mut before = 0usize;
            for i in 0..items.len() {
                if let Some(o) = lead(&items[i], kws) {
                    best = Some(best.map_or(before + o, |b| b.min(before + o)));
                }
                // Runs of adjacent items whose strings together hold a keyword: `(?i)key` is
                // three one-letter classes, `api_?key` is `api`, `_?`, `key`.
                let mut run = strings(&items[i]);
                for it in &items[i + 1..] {
                    let Some(cur) = run.take() else { break };
                    let Some(next) = strings(it).and_then(|n| product(&cur, &n)) else {
                        break;
                    };
                    if let Some(o) = set_lead(&next, kws) {
                        best = Some(best.map_or(before + o, |b| b.min(before + o)));
                        break;
                    }
                    run = Some(next);
                }
                match items[i].properties().maximum_len() {
                    Some(m) => before = before.saturating_add(m),
                    None => break,
                }
            }
            best
        }
        _ => None,
    }
}

/// Every byte any match of `hir` can contain. A match never crosses a byte outside this set,
/// so a search around a hit can stop at the nearest such byte on either side (a JWT inside
/// quotes is searched within the quotes, not through `max_len` bytes of neighbours).
pub(crate) fn match_bytes(hir: &Hir) -> [bool; 256] {
    let mut set = [false; 256];
    fill_bytes(hir, &mut set);
    set
}

/// Every byte a match of `hir` can start with (every byte when it can match empty).
/// A search anchored at a byte outside this set finds nothing.
pub(crate) fn first_bytes(hir: &Hir) -> [bool; 256] {
    let mut set = [false; 256];
    if fill_first(hir, &mut set) {
        set = [true; 256];
    }
    set
}

/// Adds the bytes a match of `hir` can start with to `set`; true when `hir` can match
/// empty (then what follows it can start a match too). Look-around matches empty.
fn fill_first(hir: &Hir, set: &mut [bool; 256]) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(lit) => match lit.0.first() {
            Some(&b) => {
                set[usize::from(b)] = true;
                false
            }
            None => true,
        },
        HirKind::Class(_) => {
            fill_bytes(hir, set);
            false
        }
        HirKind::Capture(c) => fill_first(&c.sub, set),
        HirKind::Repetition(r) => fill_first(&r.sub, set) || r.min == 0,
        HirKind::Concat(items) => items.iter().all(|it| fill_first(it, set)),
        HirKind::Alternation(items) => {
            // Every branch adds its bytes (no short circuit).
            let mut empty = false;
            for it in items {
                empty |= fill_first(it, set);
            }
            empty
        }
    }
}

fn fill_bytes(hir: &Hir, set: &mut [bool; 256]) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(lit) => {
            for &b in lit.0.iter() {
                set[usize::from(b)] = true;
            }
        }
        HirKind::Class(Class::Bytes(c)) => {
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    set[usize::from(b)] = true;
                }
            }
        }
        HirKind::Class(Class::Unicode(c)) => {
            for r in c.ranges() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()).min(255));
                for b in lo..=hi {
                    set[b as usize] = true;
                }
                // Why: a non-ASCII char is several bytes in UTF-8; be conservative.
                if u32::from(r.end()) > 127 {
                    set.iter_mut().skip(128).for_each(|x| *x = true);
                }
            }
        }
        HirKind::Capture(c) => fill_bytes(&c.sub, set),
        HirKind::Repetition(r) => fill_bytes(&r.sub, set),
        HirKind::Concat(items) | HirKind::Alternation(items) => {
            for it in items {
                fill_bytes(it, set);
            }
        }
    }
}

/// Every string must contain a keyword; the bound is the worst first-occurrence offset.
fn set_lead(set: &[Vec<u8>], kws: &[Vec<u8>]) -> Option<usize> {
    let mut worst = 0;
    for s in set {
        let first = kws
            .iter()
            .filter_map(|k| memchr::memmem::find(s, k))
            .min()?;
        worst = worst.max(first);
    }
    Some(worst)
}

/// The case-folded strings `hir` matches, when that set is small and finite.
fn strings(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(vec![Vec::new()]),
        HirKind::Literal(lit) => {
            if lit.0.len() > MAX_STR {
                return None;
            }
            Some(vec![lit.0.to_ascii_lowercase()])
        }
        HirKind::Class(class) => {
            let bytes = class_bytes(class)?;
            Some(bytes.into_iter().map(|b| vec![b]).collect())
        }
        HirKind::Capture(c) => strings(&c.sub),
        HirKind::Repetition(r) => {
            let max = r.max?;
            if max > 4 {
                return None;
            }
            let sub = strings(&r.sub)?;
            let mut out: Vec<Vec<u8>> = Vec::new();
            let mut cur = vec![Vec::new()];
            for n in 0..=max {
                if n >= r.min {
                    out.extend(cur.iter().cloned());
                }
                if n < max {
                    cur = product(&cur, &sub)?;
                }
            }
            dedup(out)
        }
        HirKind::Concat(items) => {
            let mut cur = vec![Vec::new()];
            for it in items {
                cur = product(&cur, &strings(it)?)?;
            }
            Some(cur)
        }
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(strings(a)?);
                if out.len() > MAX_SET {
                    return None;
                }
            }
            dedup(out)
        }
    }
}

fn product(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len().saturating_mul(b.len()) > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            if x.len() + y.len() > MAX_STR {
                return None;
            }
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.push(s);
        }
    }
    dedup(out)
}

fn dedup(mut v: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    v.sort_unstable();
    v.dedup();
    (v.len() <= MAX_SET).then_some(v)
}

/// The bytes of a small class, ASCII case folded.
fn class_bytes(class: &Class) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut push = |lo: u32, hi: u32| -> Option<()> {
        // Count before expanding: a class like `[^"]` must not be walked byte by byte.
        if hi - lo >= 2 * MAX_CLASS as u32 + 2 {
            return None;
        }
        for c in lo..=hi {
            let b = u8::try_from(c).ok()?;
            out.push(b.to_ascii_lowercase());
        }
        Some(())
    };
    match class {
        Class::Bytes(c) => {
            for r in c.ranges() {
                push(u32::from(r.start()), u32::from(r.end()))?;
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                push(u32::from(r.start()), u32::from(r.end()))?;
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    (out.len() <= MAX_CLASS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `re` parsed as the engine compiles rules (bytes, not Unicode).
    fn hir(re: &str) -> regex_syntax::hir::Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(re)
            .expect("parses")
    }

    fn first_of(re: &str) -> Vec<u8> {
        let hir = hir(re);
        let set = first_bytes(&hir);
        (0..=255u8).filter(|&b| set[usize::from(b)]).collect()
    }

    #[test]
    fn first_bytes_are_the_bytes_a_match_can_start_with() {
        assert_eq!(first_of("(?i)(?:secret|accesstoken)=x"), b"ASas".to_vec());
        assert_eq!(first_of("\\b(?:x-)?[ab]{0,3}key"), b"abkx".to_vec());
        assert_eq!(first_of("(?:\"|')?tok"), b"\"'t".to_vec());
        // A regex that can match empty can start anywhere.
        assert_eq!(first_of("a*").len(), 256);
        assert_eq!(first_of("(?:a|)b?").len(), 256);
    }

    fn lead_of(re: &str, kws: &[&str]) -> Option<usize> {
        let hir = hir(re);
        let kws: Vec<Vec<u8>> = kws.iter().map(|k| k.as_bytes().to_vec()).collect();
        keyword_lead(&hir, &kws)
    }

    #[test]
    fn leads() {
        assert_eq!(
            lead_of("(?i)(?:secret|token)[a-z]{0,3}=", &["secret", "token"]),
            Some(0)
        );
        assert_eq!(
            lead_of(
                "(?i)\"(?:[a-z]{0,40}(?:api_?key|password)|token)\"",
                &["api_key", "apikey", "password", "token"]
            ),
            Some(41)
        );
        assert_eq!(
            lead_of(
                "[0-9]{8,14}-[a-z]{4}\\.apps\\.google\\.com",
                &[".apps.google.com"]
            ),
            Some(19)
        );
        // `signing_?key` contains no keyword: no bound.
        assert_eq!(
            lead_of("(?i)\"(?:signing_?key|token)\"", &["token", "key_"]),
            None
        );
        // A keyword only in an optional part proves nothing.
        assert_eq!(lead_of("a(?:token)?b", &["token"]), None);
        assert_eq!(lead_of("(?i)bearer:?\\s{1,3}x", &["bearer"]), Some(0));
        assert_eq!(
            lead_of("(?:^|[;\\s])(?:user id|uid)=", &["user id=", "uid="]),
            Some(1)
        );
        assert_eq!(
            lead_of("(?:^|[;\\s])(?:user id|uid)=", &["user id", "uid"]),
            Some(1)
        );
    }
}
