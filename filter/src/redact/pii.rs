//! Built-in PII detectors. These are code, not regexes, because what makes them precise is a
//! validator (Luhn, mod-97, SSN ranges, country lengths) rather than a pattern.
//!
//! Every detector is anchored on a local feature (an `@`, or the first digit of a run whose
//! left neighbour is not alphanumeric) and reads at most [`MAX_LEN`] bytes around it, which
//! is what lets streaming reproduce one-shot results exactly.

use std::sync::Arc;

use super::engine::{Cand, Source};
use super::rules::PiiSpec;
use super::Strategy;

/// Rule ids of the built-in detectors.
pub(crate) const IDS: [&str; 5] = ["pii-email", "pii-phone", "pii-card", "pii-iban", "pii-ssn"];

/// Longest region a PII detector reads around its anchor.
pub(crate) const MAX_LEN: usize = 64 + 1 + 253 + 2;

/// Longest digit token (with separators) considered.
const MAX_NUM: usize = 48;

/// Fewest digits any number detector accepts (E.164 phone 8, SSN 9, North American phone
/// 10, card 13; IBANs are anchored on their letters and checked apart).
const MIN_DIGITS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PiiKind {
    Email = 0,
    Phone = 1,
    Card = 2,
    Iban = 3,
    Ssn = 4,
}

impl PiiKind {
    pub fn id(self) -> &'static str {
        IDS[self as usize]
    }
}

pub(crate) struct PiiConfig {
    spec: PiiSpec,
    strategies: [Strategy; 5],
    /// [`IDS`] as shared strings, so a finding clones one instead of allocating its id.
    ids: [Arc<str>; 5],
}

impl PiiConfig {
    pub fn new(spec: PiiSpec, strategy_for: impl Fn(&str) -> Strategy) -> Self {
        let strategies = IDS.map(&strategy_for);
        Self {
            spec,
            strategies,
            ids: IDS.map(Arc::from),
        }
    }

    /// The rule id of a PII kind, shared.
    pub fn id(&self, k: PiiKind) -> Arc<str> {
        Arc::clone(&self.ids[k as usize])
    }

    pub fn strategy(&self, k: PiiKind) -> Strategy {
        match self.strategies[k as usize] {
            // Drop only makes sense for JSON members found by key name.
            Strategy::Drop => Strategy::Redact,
            s => s,
        }
    }

    fn any_number(&self) -> bool {
        self.spec.phone || self.spec.card || self.spec.iban || self.spec.ssn
    }
}

fn push(out: &mut Vec<Cand>, start: usize, end: usize, k: PiiKind) {
    out.push(Cand {
        start,
        end,
        source: Source::Pii(k),
        quote: false,
        drop: false,
    });
}

pub(crate) fn scan(cfg: &PiiConfig, hay: &[u8], from: usize, eof: bool, out: &mut Vec<Cand>) {
    let start = from.saturating_sub(MAX_LEN);
    if cfg.spec.email {
        for at in memchr::memchr_iter(b'@', &hay[start..]) {
            email(hay, start + at, eof, out);
        }
    }
    if cfg.any_number() {
        numbers(cfg, hay, start, eof, out);
    }
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn email(hay: &[u8], at: usize, eof: bool, out: &mut Vec<Cand>) {
    // Local part: walk back at most 64 bytes.
    let mut ls = at;
    while ls > 0 && at - ls < 64 && is_local(hay[ls - 1]) {
        ls -= 1;
    }
    if ls > 0 && is_local(hay[ls - 1]) {
        return; // longer than 64: not an address
    }
    // Text out of a JSON string: `\nbob@x.io` must not take the `n` of the escape.
    if ls > 0 && hay[ls - 1] == b'\\' && ls < at && matches!(hay[ls], b'n' | b'r' | b't') {
        ls += 1;
    }
    while ls < at && hay[ls] == b'.' {
        ls += 1;
    }
    if ls == at {
        return;
    }
    // Domain: labels of [A-Za-z0-9-] separated by dots.
    let mut de = at + 1;
    while de < hay.len()
        && de - at <= 253
        && (hay[de].is_ascii_alphanumeric() || matches!(hay[de], b'.' | b'-'))
    {
        de += 1;
    }
    if de >= hay.len() && !eof {
        return; // the domain may continue in the next chunk; decided later with more data
    }
    if de - at > 253 {
        return;
    }
    while de > at + 1 && matches!(hay[de - 1], b'.' | b'-') {
        de -= 1;
    }
    let domain = &hay[at + 1..de];
    let Some(dot) = domain.iter().rposition(|&b| b == b'.') else {
        return;
    };
    let tld = &domain[dot + 1..];
    if !(2..=24).contains(&tld.len()) || !tld.iter().all(u8::is_ascii_alphabetic) {
        return;
    }
    if domain
        .split(|&b| b == b'.')
        .any(|l| l.is_empty() || l[0] == b'-')
    {
        return;
    }
    push(out, ls, de, PiiKind::Email);
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

/// Walks every digit-run anchor from `start` and classifies the number token there.
fn numbers(cfg: &PiiConfig, hay: &[u8], start: usize, eof: bool, out: &mut Vec<Cand>) {
    let n = hay.len();
    let mut i = start;
    let mut prev_digit = start > 0 && hay[start - 1].is_ascii_digit();
    // Where the last number token found too long ends (see `number_at`).
    let mut long_end = 0usize;
    // Why 32 bytes at a time: this runs over every byte of every body (clean ones too) and
    // most digit runs are short ids and counters no detector takes; a word-wide digit mask
    // finds run starts and lengths without a byte loop or a call per run.
    while i + 32 <= n {
        let mut block = [0u8; 32];
        block.copy_from_slice(&hay[i..i + 32]);
        let d = digit_mask(&block);
        let mut starts = d & !((d << 1) | u32::from(prev_digit));
        prev_digit = d >> 31 != 0;
        while starts != 0 {
            let k = starts.trailing_zeros() as usize;
            starts &= starts - 1;
            // Digits from `k` on, when the run ends inside this block.
            let run = (!(d >> k)).trailing_zeros() as usize;
            if k + run < 32 && run < MIN_DIGITS && !is_sep(block[k + run]) {
                // A token of fewer than `MIN_DIGITS` digits that no separator extends
                // (`"id":123,`, `ghp_Zq3v…`) is no number we detect; only an IBAN (two
                // uppercase letters right before the digits, see `run_start`) needs a look.
                let at = i + k;
                let cc =
                    at >= 2 && hay[at - 1].is_ascii_uppercase() && hay[at - 2].is_ascii_uppercase();
                if !cc {
                    continue;
                }
            }
            // Most runs are inside words, versions, dates and paths: no token starts there
            // and only an IBAN (uppercase letters right before) needs `run_start`.
            let at = i + k;
            if anchor(hay, at).is_none() && !(at > 0 && hay[at - 1].is_ascii_uppercase()) {
                continue;
            }
            run_start(cfg, hay, at, eof, &mut long_end, out);
        }
        i += 32;
    }
    while i < n {
        if hay[i].is_ascii_digit() && !prev_digit {
            run_start(cfg, hay, i, eof, &mut long_end, out);
        }
        prev_digit = hay[i].is_ascii_digit();
        i += 1;
    }
}

/// Bit `k` set iff `block[k]` is an ASCII digit.
///
/// Per 8 bytes, exact per byte (no carry crosses a byte): `y = x ^ '0'` maps digits to
/// 0..=9; adding 118 to `y`'s low 7 bits sets bit 7 exactly when they are 10 or more, and
/// `y`'s own bit 7 marks bytes of 128 and up. One multiply then gathers the 8 flag bits into
/// the top byte (byte `j` lands on bit `56 + j`; the partial products never overlap, so
/// nothing carries).
#[inline(always)]
fn digit_mask(block: &[u8; 32]) -> u32 {
    const L: u64 = 0x0101_0101_0101_0101;
    let mut m = 0u32;
    for (w, chunk) in block.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let y = u64::from_le_bytes(b) ^ (L * u64::from(b'0'));
        let not_digit = ((y & (L * 0x7f)) + L * 118) | y;
        let flags = (!not_digit & (L * 0x80)) >> 7;
        let bits = flags.wrapping_mul(0x0102_0408_1020_4080) >> 56;
        m |= (bits as u32) << (8 * w);
    }
    m
}

/// Where a number token whose digits start at `i` begins (a `+` or `(` before the digits,
/// or the digits themselves); `None` when the byte before them makes the run part of
/// something else.
#[inline]
fn anchor(hay: &[u8], i: usize) -> Option<usize> {
    let prev = if i > 0 { hay[i - 1] } else { b' ' };
    match prev {
        b'+' => {
            let pp = if i >= 2 { hay[i - 2] } else { b' ' };
            if pp.is_ascii_alphanumeric() {
                None
            } else {
                Some(i - 1)
            }
        }
        b'(' => Some(i - 1),
        b'.' | b'-' | b'_' | b'/' | b'\\' | b'$' | b'#' | b'%' | b':' | b'=' => {
            // Inside versions, paths, decimals, ranges, escapes: `=` and `:` are allowed
            // when a quote or space separates (`"phone": "...`, `tel=...`).
            if matches!(prev, b':' | b'=') {
                Some(i)
            } else {
                None
            }
        }
        p if p.is_ascii_alphanumeric() => None,
        _ => Some(i),
    }
}

/// Handles the first digit of a run at `i` (the byte before it is not a digit).
///
/// `long_end`: the end of the last number token found longer than [`MAX_NUM`]. Every run
/// start at least `MAX_NUM` bytes before it is in a token as long, so no detector takes it;
/// skipping those keeps a long run of digits and separators (`1 1 1 …`) linear instead of
/// a `MAX_NUM`-byte walk per digit.
fn run_start(
    cfg: &PiiConfig,
    hay: &[u8],
    i: usize,
    eof: bool,
    long_end: &mut usize,
    out: &mut Vec<Cand>,
) {
    let prev = if i > 0 { hay[i - 1] } else { b' ' };
    if prev.is_ascii_uppercase() && cfg.spec.iban && i >= 2 && hay[i - 2].is_ascii_uppercase() {
        let before = if i >= 3 { hay[i - 3] } else { b' ' };
        if !before.is_ascii_alphanumeric() {
            iban(hay, i - 2, eof, out);
        }
    }
    if i < *long_end && *long_end - i >= MAX_NUM {
        return;
    }
    if let Some(a) = anchor(hay, i) {
        if let Some(end) = number_at(cfg, hay, a, eof, out) {
            *long_end = end;
        }
    }
}

/// Classifies the number token at anchor `a`. Returns where the token ends when it is
/// longer than [`MAX_NUM`] (none of ours), so later run starts inside it can be skipped.
fn number_at(
    cfg: &PiiConfig,
    hay: &[u8],
    a: usize,
    eof: bool,
    out: &mut Vec<Cand>,
) -> Option<usize> {
    let n = hay.len();
    let mut j = a;
    let plus = hay[a] == b'+';
    if plus || hay[a] == b'(' {
        j += 1;
    }
    let mut digits = [0u8; MAX_NUM];
    let mut nd = 0usize;
    let mut groups = [0u8; MAX_NUM];
    let mut ng = 0usize;
    let mut seps = [0u8; MAX_NUM];
    let mut cur = 0u8;
    let mut end = j;
    while j < n && j - a < MAX_NUM {
        let b = hay[j];
        if b.is_ascii_digit() {
            digits[nd] = b - b'0';
            nd += 1;
            cur += 1;
            j += 1;
            end = j;
        } else if number_continues(hay, j) {
            if cur > 0 {
                groups[ng] = cur;
                seps[ng] = b;
                ng += 1;
                cur = 0;
            }
            j += 1;
        } else {
            break;
        }
    }
    if j - a >= MAX_NUM {
        // Too long to be one of ours; find where the token ends (the walk's test reads
        // two bytes, so any start inside the token reaches the same end).
        while j < n && number_continues(hay, j) {
            j += 1;
        }
        return Some(j);
    }
    if j >= n && !eof {
        return None; // may continue in the next chunk
    }
    if cur > 0 {
        groups[ng] = cur;
        ng += 1;
    }
    // The token must not run into a word (`12345abc`) or a decimal (`1.5`).
    if end < n
        && (hay[end].is_ascii_alphanumeric()
            || (hay[end] == b'.' && hay.get(end + 1).is_some_and(u8::is_ascii_digit)))
    {
        return None;
    }
    let digits = &digits[..nd];
    let groups = &groups[..ng];
    let seps = &seps[..ng.saturating_sub(1)];
    let same_sep = seps.windows(2).all(|w| w[0] == w[1]);

    if cfg.spec.ssn
        && !plus
        && groups == [3, 2, 4]
        && same_sep
        && matches!(seps.first(), Some(b'-' | b' '))
        && ssn_valid(digits)
    {
        push(out, a, end, PiiKind::Ssn);
        return None;
    }
    if cfg.spec.card
        && !plus
        && hay[a] != b'('
        && card_groups_ok(groups, same_sep, seps)
        && card_valid(digits)
    {
        push(out, a, end, PiiKind::Card);
        return None;
    }
    if cfg.spec.phone && phone_ok(hay, a, plus, digits, groups, seps) {
        push(out, a, end, PiiKind::Phone);
    }
    None
}

/// Whether a number token goes on at `j`: a digit, or a separator before a digit (or `) `).
fn number_continues(hay: &[u8], j: usize) -> bool {
    let b = hay[j];
    b.is_ascii_digit()
        || (is_sep(b)
            && j + 1 < hay.len()
            && (hay[j + 1].is_ascii_digit() || (b == b')' && hay[j + 1] == b' ')))
}

fn ssn_valid(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn card_groups_ok(groups: &[u8], same_sep: bool, seps: &[u8]) -> bool {
    if groups.len() == 1 {
        return (13..=19).contains(&groups[0]);
    }
    if !same_sep || !matches!(seps.first(), Some(b' ' | b'-')) {
        return false;
    }
    match groups {
        [4, 6, 5] | [4, 6, 4] => true,
        [first @ .., last] => {
            first.iter().all(|&g| g == 4) && (1..=4).contains(last) && groups.len() >= 4
        }
        [] => false,
    }
}

/// Luhn plus a known issuer prefix and length, and not a constant run.
pub(crate) fn card_valid(d: &[u8]) -> bool {
    let len = d.len();
    if !(13..=19).contains(&len) || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let p2 = u32::from(d[0]) * 10 + u32::from(d[1]);
    let p4 = p2 * 100 + u32::from(d[2]) * 10 + u32::from(d[3]);
    let p3 = p4 / 10;
    let iin_ok = match d[0] {
        4 => matches!(len, 13 | 16 | 19),              // Visa
        5 => (51..=55).contains(&p2) && len == 16,     // Mastercard
        2 => (2221..=2720).contains(&p4) && len == 16, // Mastercard 2-series
        3 => {
            ((p2 == 34 || p2 == 37) && len == 15)                                  // Amex
            || ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&len) // Diners
            || (3528..=3589).contains(&p4) && (16..=19).contains(&len)
        } // JCB
        6 => {
            (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || p2 == 62)
                && (16..=19).contains(&len)
        } // Discover, UnionPay
        _ => false,
    };
    iin_ok && luhn(d)
}

pub(crate) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

fn phone_ok(hay: &[u8], a: usize, plus: bool, d: &[u8], groups: &[u8], seps: &[u8]) -> bool {
    if plus {
        // E.164: country code + subscriber number, 8 to 15 digits; unformatted runs need 10+.
        return (8..=15).contains(&d.len()) && d[0] != 0 && (groups.len() > 1 || d.len() >= 10);
    }
    // North American formats only: (ddd) ddd-dddd, ddd-ddd-dddd, ddd.ddd.dddd, ddd ddd dddd,
    // optionally led by 1. Bare digit runs are ids far more often than phone numbers.
    let (d, groups, seps) = if groups.len() == 4 && groups[0] == 1 && d[0] == 1 {
        (&d[1..], &groups[1..], seps.get(1..).unwrap_or(&[]))
    } else {
        (d, groups, seps)
    };
    if groups != [3, 3, 4] || d.len() != 10 || d[0] < 2 || d[3] < 2 {
        return false;
    }
    let paren = hay[a] == b'(' || hay.get(a.wrapping_sub(1)) == Some(&b'(');
    match seps {
        [b')', b'-'] | [b')', b' '] => paren || hay[a] == b'(',
        [x, y] if x == y && matches!(x, b'-' | b'.' | b' ') => true,
        _ => false,
    }
}

/// IBAN lengths by country (ISO 13616 registry).
fn iban_len(cc: &[u8]) -> Option<usize> {
    Some(match cc {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BR" => 29,
        b"BY" => 28,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IQ" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NL" => 18,
        b"NO" => 15,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"SA" => 24,
        b"SC" => 31,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        _ => return None,
    })
}

fn iban(hay: &[u8], a: usize, eof: bool, out: &mut Vec<Cand>) {
    let Some(want) = iban_len(&hay[a..a + 2]) else {
        return;
    };
    let mut chars = [0u8; 34];
    let mut nc = 0usize;
    let mut j = a;
    // Compact (`DE89370400440532013000`) or printed in groups of four separated by spaces.
    while j < hay.len() && nc < want {
        let b = hay[j];
        if b.is_ascii_digit() || b.is_ascii_uppercase() {
            chars[nc] = b;
            nc += 1;
            j += 1;
        } else if b == b' '
            && nc % 4 == 0
            && nc > 0
            && j + 1 < hay.len()
            && hay[j + 1].is_ascii_alphanumeric()
        {
            j += 1;
        } else {
            break;
        }
    }
    if nc < want {
        if j >= hay.len() && !eof {
            return;
        }
        return;
    }
    if j >= hay.len() && !eof {
        return; // need one more byte to know the token ends here
    }
    if j < hay.len() && hay[j].is_ascii_alphanumeric() {
        return;
    }
    if mod97(&chars[..nc]) == 1 {
        push(out, a, j, PiiKind::Iban);
    }
}

fn mod97(s: &[u8]) -> u32 {
    let mut r = 0u32;
    for &b in s[4..].iter().chain(&s[..4]) {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        r = if v >= 10 {
            (r * 100 + v) % 97
        } else {
            (r * 10 + v) % 97
        };
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, &'static str)> {
        let cfg = PiiConfig::new(PiiSpec::default(), |_| Strategy::Redact);
        let mut out = Vec::new();
        scan(&cfg, text.as_bytes(), 0, true, &mut out);
        // Nested candidates (an inner anchor of the same number) merge away later.
        let all = out.clone();
        out.retain(|c| {
            !all.iter().any(|o| {
                o.start <= c.start && o.end >= c.end && (o.end - o.start) > (c.end - c.start)
            })
        });
        out.iter()
            .map(|c| {
                let k = match c.source {
                    Source::Pii(k) => k.id(),
                    _ => "?",
                };
                (text[c.start..c.end].to_string(), k)
            })
            .collect()
    }

    #[test]
    fn digit_mask_is_exact() {
        for b in 0..=255u8 {
            for pos in 0..32 {
                for fill in [b'_', b'5', 0xff] {
                    let mut w = [fill; 32];
                    w[pos] = b;
                    let want: u32 = w
                        .iter()
                        .enumerate()
                        .map(|(k, x)| u32::from(x.is_ascii_digit()) << k)
                        .sum();
                    assert_eq!(digit_mask(&w), want, "{b} at {pos} in {fill}");
                }
            }
        }
    }

    #[test]
    fn digit_runs_across_blocks() {
        // The 32-byte block path (texts this long), with runs straddling block ends, short
        // runs that a separator extends, and an IBAN whose first digit run is short.
        for pad in 0..70 {
            let text = format!(
                "{}x 4111 1111 1111 1111 a1 123-45-6789 v9 GB82WEST12345698765432 id 42,",
                "-".repeat(pad)
            );
            let got = found(&text);
            assert_eq!(
                got,
                vec![
                    ("4111 1111 1111 1111".into(), "pii-card"),
                    ("123-45-6789".into(), "pii-ssn"),
                    ("GB82WEST12345698765432".into(), "pii-iban")
                ],
                "pad {pad}"
            );
        }
    }

    #[test]
    fn cards_need_luhn_and_issuer() {
        assert_eq!(
            found("card 4111 1111 1111 1111 ok"),
            vec![("4111 1111 1111 1111".into(), "pii-card")]
        );
        assert_eq!(
            found("\"pan\":\"5500-0000-0000-0004\""),
            vec![("5500-0000-0000-0004".into(), "pii-card")]
        );
        assert_eq!(
            found("amex 378282246310005"),
            vec![("378282246310005".into(), "pii-card")]
        );
        assert!(
            found("card 4111 1111 1111 1112 ok").is_empty(),
            "Luhn-invalid"
        );
        assert!(found("ts 1700000000000 and 1234567812345678").is_empty());
        assert!(found("v1.4111111111111111").is_empty());
    }

    #[test]
    fn ssn_ranges() {
        assert_eq!(
            found("ssn 123-45-6789."),
            vec![("123-45-6789".into(), "pii-ssn")]
        );
        assert!(found("ssn 666-45-6789").is_empty());
        assert!(found("ssn 900-45-6789").is_empty());
        assert!(found("ssn 123-00-6789").is_empty());
        assert!(found("ssn 123-45-0000").is_empty());
    }

    #[test]
    fn phones() {
        assert_eq!(
            found("call +1 415-555-2671 now"),
            vec![("+1 415-555-2671".into(), "pii-phone")]
        );
        assert_eq!(
            found("call (415) 555-2671"),
            vec![("(415) 555-2671".into(), "pii-phone")]
        );
        assert_eq!(
            found("tel: 415.555.2671"),
            vec![("415.555.2671".into(), "pii-phone")]
        );
        assert_eq!(
            found("+442079460958"),
            vec![("+442079460958".into(), "pii-phone")]
        );
        assert!(found("date 2024-01-15 id 4155552671 v 1.2.3").is_empty());
    }

    #[test]
    fn ibans_need_mod97() {
        assert_eq!(
            found("iban DE89 3704 0044 0532 0130 00."),
            vec![("DE89 3704 0044 0532 0130 00".into(), "pii-iban")]
        );
        assert_eq!(
            found("GB82WEST12345698765432"),
            vec![("GB82WEST12345698765432".into(), "pii-iban")]
        );
        assert!(found("GB82WEST12345698765433").is_empty());
    }

    #[test]
    fn emails() {
        assert_eq!(
            found("to: alice.smith+x@mail.example.co.uk,"),
            vec![("alice.smith+x@mail.example.co.uk".into(), "pii-email")]
        );
        assert_eq!(
            found(r#""a\nbob@corp.io""#),
            vec![("bob@corp.io".into(), "pii-email")]
        );
        assert!(found("pkg@npm:2.0.0 and aws-cli@sha256:abc and @handle").is_empty());
    }
}
