//! Post-match checks: boundaries, entropy, and the gates that keep look-alikes (hashes,
//! UUIDs, digests, identifiers, placeholders) from being masked.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use base64::Engine as _;

/// Whether any of `needles` occurs in `hay`, ASCII case-insensitively: one automaton pass
/// instead of one scan per needle (validators run on every candidate of dense bodies). Falls
/// back to the per-needle scan if the automaton could not be built.
fn any_ci(cell: &'static OnceLock<Option<AhoCorasick>>, needles: &[&[u8]], hay: &[u8]) -> bool {
    let ac = cell.get_or_init(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(needles)
            .ok()
    });
    match ac {
        Some(ac) => ac.is_match(hay),
        None => needles.iter().any(|n| contains_ci(hay, n)),
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Whether the byte before `pos` is preceded by an odd run of backslashes, i.e. `hay[pos-1]`
/// is itself escaped... more precisely: whether the run of backslashes ending at `pos` is odd
/// (so `hay[pos-1]` is a backslash that escapes `hay[pos]`). The run is capped at 64 bytes so
/// the answer depends on bounded context only.
pub(crate) fn odd_backslashes_before(hay: &[u8], pos: usize) -> bool {
    let mut n = 0usize;
    let mut i = pos;
    while i > 0 && hay[i - 1] == b'\\' && n < 64 {
        n += 1;
        i -= 1;
    }
    n % 2 == 1
}

/// A match may start at `s`: the byte before is not alphanumeric, or it is the letter of a
/// `\n`/`\r`/`\t` escape (text that came out of a JSON string or a log line).
pub(crate) fn left_ok(hay: &[u8], s: usize) -> bool {
    if s == 0 || !is_word(hay[s - 1]) {
        return true;
    }
    matches!(hay[s - 1], b'n' | b'r' | b't') && s >= 2 && odd_backslashes_before(hay, s - 1)
}

/// A match may end at `e`: the next byte is not alphanumeric.
pub(crate) fn right_ok(hay: &[u8], e: usize) -> bool {
    e >= hay.len() || !is_word(hay[e])
}

/// A keyword match may start at `s`: not inside an identifier, except at a camelCase hump.
pub(crate) fn word_start_ok(hay: &[u8], s: usize) -> bool {
    if left_ok(hay, s) {
        return true;
    }
    let prev = hay[s - 1];
    (prev.is_ascii_lowercase() || prev.is_ascii_digit()) && hay[s].is_ascii_uppercase()
}

/// Start of the identifier that ends at `s` (at most 64 bytes back), so a key check sees
/// `public_key`, not just the `key` keyword.
pub(crate) fn ident_start(hay: &[u8], s: usize) -> usize {
    let mut i = s;
    while i > 0
        && s - i < 64
        && (hay[i - 1].is_ascii_alphanumeric() || matches!(hay[i - 1], b'_' | b'-' | b'.'))
    {
        i -= 1;
    }
    i
}

/// Shannon entropy in bits per byte.
pub(crate) fn entropy(v: &[u8]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    // Why a memo: one candidate's value is often measured two or three times in a row
    // (`is_placeholder`, then the validator's own threshold, then a rule's `min_entropy`).
    // The result depends on the bytes only, so the last value and result are kept per
    // thread and compared byte for byte.
    thread_local! {
        static LAST: std::cell::RefCell<(Vec<u8>, f64)> =
            const { std::cell::RefCell::new((Vec::new(), 0.0)) };
    }
    if v.len() <= 512 {
        if let Some(h) = LAST.with(|l| {
            let l = l.borrow();
            (l.0 == v).then_some(l.1)
        }) {
            return h;
        }
        let h = entropy_uncached(v);
        LAST.with(|l| {
            let mut l = l.borrow_mut();
            l.0.clear();
            l.0.extend_from_slice(v);
            l.1 = h;
        });
        return h;
    }
    entropy_uncached(v)
}

/// Values up to this long take their small counts' entropy terms from [`small_terms`].
const TERM_TABLE_LEN: usize = 512;

/// Counts below this have their entropy term tabulated (most bytes of a value occur once or
/// twice).
const TERM_TABLE_COUNTS: usize = 8;

/// `term(c, n) = -(c/n) * log2(c/n)` for every `n <= TERM_TABLE_LEN` and
/// `c < TERM_TABLE_COUNTS`, computed once by the very expression [`entropy_uncached`] uses,
/// so a table entry has the same bits as a fresh computation. Why: the `log2` calls were
/// most of the cost of a value's entropy, and a value's row is one cache line.
fn small_terms() -> &'static [[f64; TERM_TABLE_COUNTS]] {
    static TABLE: OnceLock<Vec<[f64; TERM_TABLE_COUNTS]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=TERM_TABLE_LEN)
            .map(|len| {
                let n = len as f64;
                std::array::from_fn(|c| term(c as u32, n))
            })
            .collect()
    })
}

/// One byte's entropy term: its count `c` among `n` bytes.
#[inline(always)]
fn term(c: u32, n: f64) -> f64 {
    let p = f64::from(c) / n;
    -p * p.log2()
}

fn entropy_uncached(v: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    let mut seen = [0u64; 4];
    for &b in v {
        counts[usize::from(b)] += 1;
        seen[usize::from(b >> 6)] |= 1 << (b & 63);
    }
    let n = v.len() as f64;
    // Same terms summed in the same (byte) order as a plain walk over all 256 counts, but
    // only over bytes present: most values use a few dozen distinct bytes. A term depends on
    // the count (and the length) only and most bytes occur once or twice, so small counts'
    // terms come from a table (or, for long values, are computed once per call).
    let row = small_terms().get(v.len());
    let mut memo = [f64::NAN; TERM_TABLE_COUNTS];
    let mut sum = 0.0;
    for (w, &bits) in seen.iter().enumerate() {
        let mut bits = bits;
        while bits != 0 {
            let b = w * 64 + bits.trailing_zeros() as usize;
            let c = counts[b];
            sum += match (
                row.and_then(|r| r.get(c as usize)),
                memo.get_mut(c as usize),
            ) {
                (Some(&t), _) => t,
                (None, Some(m)) => {
                    if m.is_nan() {
                        *m = term(c, n);
                    }
                    *m
                }
                (None, None) => term(c, n),
            };
            bits &= bits - 1;
        }
    }
    sum
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    // Why memchr on the first byte: validators run on every candidate of dense bodies and
    // call this with a dozen needles each; comparing at every offset dominated their cost.
    let last_start = hay.len() - needle.len();
    memchr::memchr2_iter(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        &hay[..=last_start],
    )
    .any(|i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// Byte classes for the value scans below (one table load per byte instead of a match).
const FAKE_RUN: u8 = 1;
const FAKE_LETTERS: u8 = 2;
const MARKER: u8 = 4;

/// Per byte, which scans a needle may start at it: the first bytes (either case) of the
/// fake runs in [`fake_run_at`] and of the mask markers in [`is_placeholder`].
static START: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 26 {
        let lower = b'a' + i as u8;
        let mut f = 0;
        if matches!(lower, b'a' | b'g' | b'q' | b'u') {
            f |= FAKE_RUN | FAKE_LETTERS;
        }
        if lower == b'c' {
            f |= FAKE_RUN;
        }
        if lower == b'x' {
            f |= MARKER;
        }
        t[lower as usize] |= f;
        t[lower.to_ascii_uppercase() as usize] |= f;
        i += 1;
    }
    t[b'2' as usize] |= FAKE_RUN;
    t[b'*' as usize] |= MARKER;
    t[b'#' as usize] |= MARKER;
    t[b'.' as usize] |= MARKER;
    t[b'E' as usize] |= MARKER;
    t
};

/// Whether `v` starts, ASCII case-insensitively, with `needle`.
fn starts_ci(v: &[u8], needle: &[u8]) -> bool {
    v.get(..needle.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(needle))
}

/// Whether a fake run starts at `v[0]`: keyboard and alphabet runs (`letters`: only the
/// letter ones, see [`fake_letters`]).
///
/// The needles, case-insensitive: `abcdefg`, `a1b2c3`, `c3b2a1`, `qwerty`, `ghijkl`,
/// `uvwxyz`, `234567`; `1234567` and `0123456789` were needles too but every text holding
/// them holds `234567`.
fn fake_run_at(v: &[u8], letters: bool) -> bool {
    match v[0].to_ascii_lowercase() {
        b'a' => starts_ci(v, b"abcdefg") || (!letters && starts_ci(v, b"a1b2c3")),
        b'c' => !letters && starts_ci(v, b"c3b2a1"),
        b'q' => starts_ci(v, b"qwerty"),
        b'g' => starts_ci(v, b"ghijkl"),
        b'u' => starts_ci(v, b"uvwxyz"),
        b'2' => !letters && v.starts_with(b"234567"),
        _ => false,
    }
}

/// Keyboard and alphabet runs and long constant runs: how people type fake keys. Used where
/// the value alone decides (prefix tokens, generic secrets); provider-keyword rules skip it
/// because vendor docs' sample keys (`12345678-ABCD-…`) sit exactly where real ones do.
pub(crate) fn looks_fake(v: &[u8]) -> bool {
    // Why a table walk and not a multi-needle search: this runs on every prefix-token
    // candidate of dense bodies, whose values are a few dozen bytes; an automaton's set-up
    // per call cost more than the whole walk.
    if (0..v.len()).any(|i| START[usize::from(v[i])] & FAKE_RUN != 0 && fake_run_at(&v[i..], false))
    {
        return true;
    }
    constant_runs(v)
}

/// Three or more runs of 5+ identical characters (`3333333kZZZZZ9999999…`): filler typed by
/// holding keys down, a generalisation of one repeated character. A random token of any
/// length practically never has one such run, let alone three.
fn constant_runs(v: &[u8]) -> bool {
    // Such runs hold at least 3 × 4 places where a byte equals the one before it; counting
    // those is a branch-free (vectorised) pass, and random values have a handful, so the
    // run walk below only runs when it could succeed.
    if v.len() < 15 || v.iter().zip(&v[1..]).filter(|(a, b)| a == b).count() < 12 {
        return false;
    }
    // Runs of white space do not count: they are layout (aligned `=` and comments in a match
    // that spans several assignments, like a `user … password` pair), not typed filler.
    v.chunk_by(|a, b| a == b)
        .filter(|run| run.len() >= 5 && !run[0].is_ascii_whitespace())
        .count()
        >= 3
}

/// Alphabet and keyboard letter runs (`ABCDEFGHIJ`, `qwerty`): fake even where a provider key
/// name vouches for the value; digit runs are not (vendor sample ids like `12345678-…`).
pub(crate) fn fake_letters(v: &[u8]) -> bool {
    (0..v.len()).any(|i| START[usize::from(v[i])] & FAKE_LETTERS != 0 && fake_run_at(&v[i..], true))
}

/// Values that are obviously not real secrets: masks (`xxxx`, `****`), template and variable
/// references (`${X}`, `{{ x }}`, `<your key>`, `%VAR%`), documentation examples, and
/// near-constant strings.
pub(crate) fn is_placeholder(v: &[u8]) -> bool {
    placeholder_scan(v, true)
}

/// The explicit placeholder markers of [`is_placeholder`] only: masks (`xxxx`, `****`,
/// `####`, `...`), `EXAMPLE`, template and variable references, values of at most four
/// distinct bytes (`AKIAAAAAAAAAAAAAAAAA`) and repeated-key filler ([`padded_run`],
/// [`constant_runs`]); not low entropy, not digit or alphabet runs. For values in a
/// provider's strict format, where a low-entropy value (`AKIADEADBEEFDEADBEEF`,
/// `ghp_1234567890abcdef…`) is still a credential.
pub(crate) fn is_marked_placeholder(v: &[u8]) -> bool {
    placeholder_scan(v, false) || padded_run(v) || constant_runs(v)
}

/// One byte repeated for at least half the value, eight or more times
/// (`00000000000000000000000000000000000TUVWXYZ`): a filler, not a key.
fn padded_run(v: &[u8]) -> bool {
    let need = (v.len() / 2).max(8);
    v.chunk_by(|a, b| a == b).any(|run| run.len() >= need)
}

/// [`is_placeholder`], with the low-entropy test only when `low_entropy` is set.
fn placeholder_scan(v: &[u8], low_entropy: bool) -> bool {
    if v.len() < 4 {
        return true;
    }
    // One pass for all the mask markers and the distinct-byte set.
    let mut seen = [0u64; 4];
    let mut marker = false;
    for (i, &b) in v.iter().enumerate() {
        seen[usize::from(b >> 6)] |= 1 << (b & 63);
        if START[usize::from(b)] & MARKER != 0 {
            marker = marker
                || match b {
                    b'x' | b'X' => starts_ci(&v[i..], b"xxxx"),
                    b'*' => v[i..].starts_with(b"****"),
                    b'#' => v[i..].starts_with(b"####"),
                    b'.' => v[i..].starts_with(b"..."),
                    _ => v[i..].starts_with(b"EXAMPLE"),
                };
        }
    }
    if marker {
        return true;
    }
    if is_template(v) {
        return true;
    }
    let first = v[0];
    let last = v[v.len() - 1];
    if v.starts_with(b"${")
        || v.starts_with(b"$(")
        || v.starts_with(b"{{")
        || v.starts_with(b"#{")
        || v.starts_with(b"%(")
        || (first == b'<' && last == b'>')
        || (first == b'%' && last == b'%')
        || (first == b'[' && last == b']')
        || (first == b'{' && last == b'}')
    {
        return true;
    }
    let distinct: u32 = seen.iter().map(|w| w.count_ones()).sum();
    if distinct <= 4 && v.len() >= 8 {
        return true;
    }
    low_entropy
        && v.len() >= 12
        && !entropy_at_least_2(v.len(), distinct as usize)
        && entropy(v) < 2.0
}

/// A template expression or variable reference: the value names a secret kept elsewhere
/// (`${DB_PASSWORD}`, `$(DB_PASSWORD)`, `$DB_PASSWORD`, `${env:X}`, `{{ .Values.x }}`,
/// `${{ secrets.X }}`, `{DB_PASSWORD}`, `#{x}`, `[[x]]`, `((x))`, `%DB_PASSWORD%`,
/// `%(x)s`, `<your-password>`, `<%= x %>`, `@X@`, `__X__`), so it is kept, not masked.
///
/// Why whole values only: a literal with a `$` inside (`pa$$w0rd`) is a password; only a
/// value that is nothing but the reference names something else.
pub(crate) fn is_template(v: &[u8]) -> bool {
    let v = strip_quotes(v);
    if v.len() < 3 {
        return false;
    }
    const WRAPPERS: [(&[u8], &[u8]); 12] = [
        (b"${", b"}"),
        (b"$(", b")"),
        (b"{{", b"}}"),
        (b"#{", b"}"),
        (b"[[", b"]]"),
        (b"((", b"))"),
        (b"<%", b"%>"),
        (b"%(", b")s"),
        (b"%{", b"}"),
        (b"{", b"}"),
        (b"<", b">"),
        (b"[", b"]"),
    ];
    let inner_ok = |inner: &[u8]| {
        !inner.is_empty()
            && !inner
                .iter()
                .any(|&b| matches!(b, b'\n' | b'\r' | b';' | b'&'))
    };
    if WRAPPERS.iter().any(|(open, close)| {
        v.len() > open.len() + close.len()
            && v.starts_with(open)
            && v.ends_with(close)
            && inner_ok(&v[open.len()..v.len() - close.len()])
    }) {
        return true;
    }
    let ident = |s: &[u8]| {
        !s.is_empty()
            && s[0].is_ascii_alphabetic()
            && s.iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
    };
    let n = v.len();
    (v[0] == b'%' && v[n - 1] == b'%' && ident(&v[1..n - 1]))
        || (v[0] == b'@' && v[n - 1] == b'@' && ident(&v[1..n - 1]))
        || (n > 4 && v.starts_with(b"__") && v.ends_with(b"__") && ident(&v[2..n - 2]))
        // `$NAME`: an upper-case (or `env:`) name; `$ecret99` is more likely a password.
        || (v[0] == b'$'
            && ident(&v[1..])
            && (v[1..].starts_with(b"env:")
                || v[1..].iter().all(|&b| !b.is_ascii_lowercase())))
}

/// [`is_template`] for a form or query value, which may be percent-encoded
/// (`%24%7BDB_PASSWORD%7D`): checked as written and decoded.
pub(crate) fn is_form_template(v: &[u8]) -> bool {
    if is_template(v) {
        return true;
    }
    if !v.iter().any(|&b| b == b'%' || b == b'+') {
        return false;
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match (
            v[i],
            v.get(i + 1).copied().and_then(hex),
            v.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b'+', ..) => {
                out.push(b' ');
                i += 1;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    is_template(&out)
}

fn strip_quotes(v: &[u8]) -> &[u8] {
    match v {
        [q, inner @ .., r] if q == r && matches!(q, b'"' | b'\'' | b'`') => inner,
        _ => v,
    }
}

/// Whether `n` bytes with `distinct` different values have a Shannon entropy above 2 bits
/// whatever their counts, so `entropy(v) < 2.0` is false without computing it.
///
/// Why it holds: the most frequent byte occurs at most `n - distinct + 1` times, and the
/// entropy is at least the min-entropy `-log2(max_count / n)`, which is above 2 when
/// `4 * max_count < n`. The margin (at least `-log2(1 - 1/n)` ≈ `1.44 / n` bits) dwarfs the
/// rounding of [`entropy`]'s sum. Random tokens (nearly all bytes distinct) pass this test,
/// so `is_placeholder` skips their entropy count.
fn entropy_at_least_2(n: usize, distinct: usize) -> bool {
    distinct > 0 && 4 * (n - distinct + 1) < n
}

fn is_hex(v: &[u8]) -> bool {
    v.iter().all(u8::is_ascii_hexdigit)
}

fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Digests and integrity strings: `sha256:…`, `sha512-…` (SRI), `md5=…`, and bare hex of a
/// hash length (MD5, SHA-1/git, SHA-256, SHA-512).
pub(crate) fn is_digest(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    for p in [
        "sha1", "sha224", "sha256", "sha384", "sha512", "md5", "blake2b", "blake3", "sha3",
    ] {
        if lower.starts_with(p.as_bytes())
            && matches!(lower.get(p.len()), Some(b':' | b'-' | b'=' | b'_'))
        {
            return true;
        }
    }
    is_hex(v) && matches!(v.len(), 32 | 40 | 64 | 96 | 128)
}

/// Digests published everywhere: of empty input (MD5, SHA-1, SHA-2, git's empty blob and
/// tree) and MD5 / SHA-1 / SHA-256 of the words documentation hashes in its examples (`abc`,
/// the NIST test vector; `test`, `password`, `hello`...). Such a value in a key field is an
/// example or a default, never a key anyone was issued.
const WELL_KNOWN_DIGESTS: &[&str] = &[
    // empty input
    "d41d8cd98f00b204e9800998ecf8427e",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
    "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    // abc
    "900150983cd24fb0d6963f7d28e17f72",
    "a9993e364706816aba3e25717850c26c9cd0d89d",
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    // test
    "098f6bcd4621d373cade4e832627b4f6",
    "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    // password
    "5f4dcc3b5aa765d61d8327deb882cf99",
    "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
    "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    // hello
    "5d41402abc4b2a76b9719d911017c592",
    "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    // hello world
    "5eb63bbbe01eeed093cb22bb8f5acdc3",
    "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed",
    "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
    // foo
    "acbd18db4cc2f85cedef654fccc4a4d8",
    "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33",
    "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    // secret
    "5ebe2294ecd0e0f08eab7690d2a6ee69",
    "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4",
    "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",
    // admin
    "21232f297a57a5a743894a0e4a801fc3",
    "d033e22ae348aeb5660fc2140aec35850c4da997",
    "8c6976e5b5410415bde908bd4dee15dfb167a9c873fc4bb8a81f6f2ab448a918",
    // 123456
    "e10adc3949ba59abbe56e057f20f883e",
    "7c4a8d09ca3762af61e59520943dc26494f8941b",
    "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92",
    // changeme
    "4cb9c8a8048fd02294477fcb1a41191a",
    "fa9beb99e4029ad5a6615399e7bbae21356086b3",
    "057ba03d6c44104863dc7361fe4578965d1887360f90a0895882e58a6248fc86",
    // example
    "1a79a4d60de6718e8e5b326e338ae533",
    "c3499c2729730a7f807efb8676a92dcb6f8a3f8f",
    "50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c",
];

/// Whether `v` (hex, either case) is one of [`WELL_KNOWN_DIGESTS`].
pub(crate) fn is_well_known_digest(v: &[u8]) -> bool {
    WELL_KNOWN_DIGESTS
        .iter()
        .any(|d| d.len() == v.len() && d.as_bytes().eq_ignore_ascii_case(v))
}

/// Whether a key name says its value is a digest (`api_key_hash`, `fileSha256`, `etag`,
/// `content_md5`, `checksum`...), whatever secret word comes before.
fn key_names_digest(key_name: &[u8]) -> bool {
    let k: Vec<u8> = key_name
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
        .collect();
    const SUFFIXES: &[&[u8]] = &[
        b"hash",
        b"hashed",
        b"digest",
        b"checksum",
        b"shasum",
        b"md5",
        b"md5sum",
        b"sha",
        b"sha1",
        b"sha224",
        b"sha256",
        b"sha384",
        b"sha512",
        b"etag",
        b"fingerprint",
        b"integrity",
    ];
    SUFFIXES.iter().any(|s| k.ends_with(s))
}

/// Whether a key name names an API key (`api_key`, `apiKey`, `X-API-KEY`, `stripe_apikey`).
fn names_api_key(key_name: &[u8]) -> bool {
    let k: Vec<u8> = key_name
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
        .collect();
    k.windows(6).any(|w| w == b"apikey")
}

/// Key names that hold identifiers, not secrets, even when they contain `key`/`token`.
fn key_is_benign(key: &[u8]) -> bool {
    let k = key.to_ascii_lowercase();
    let k: Vec<u8> = k
        .into_iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .collect();
    const SUFFIXES: &[&[u8]] = &[
        b"id",
        b"ids",
        b"name",
        b"names",
        b"url",
        b"uri",
        b"urls",
        b"path",
        b"file",
        b"files",
        b"length",
        b"len",
        b"size",
        b"type",
        b"version",
        b"count",
        b"mode",
        b"format",
        b"label",
        b"field",
        b"policy",
        b"hash",
        b"index",
        b"event",
        b"code",
        b"prefix",
        b"suffix",
        b"endpoint",
        b"host",
        b"region",
        b"pattern",
        b"selector",
        b"enabled",
        b"expiry",
        b"expires",
        b"expiresat",
        b"timeout",
        b"ttl",
        b"chars",
        b"alphabet",
        b"header",
    ];
    const CONTAINS: &[&[u8]] = &[
        b"public",
        b"pubkey",
        b"publishable",
        b"keyboard",
        b"keypress",
        b"keydown",
        b"keyup",
        b"keyframe",
        b"keystore",
        b"keytab",
        b"keyword",
        b"monkey",
        b"donkey",
        b"turkey",
        b"primarykey",
        b"foreignkey",
        b"sortkey",
        b"partitionkey",
        b"cachekey",
        b"schemakey",
        b"sequencekey",
        b"bucketkey",
        b"hotkey",
        b"tokenizer",
        b"maxtoken",
        b"tokens",
        b"csrf",
        b"xsrf",
        b"nonce",
        b"idempotency",
        b"pagetoken",
        b"nexttoken",
        b"continuationtoken",
        b"cursor",
        b"keyvault",
        b"secretname",
        b"secretref",
        b"secretstore",
        b"keyname",
        b"keyid",
        b"accessor",
        b"passwordlabel",
        b"passwordfield",
        b"forgot",
        b"reset",
    ];
    static AC: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    SUFFIXES.iter().any(|s| k.ends_with(s)) || any_ci(&AC, CONTAINS, &k)
}

/// Gate for context-only (generic) secrets: the value must look random and not be one of the
/// many identifier-like things that sit next to words such as `key` or `token`.
pub(crate) fn generic_ok(key: &[u8], v: &[u8]) -> bool {
    if v.len() < 8 || v.len() > 512 || is_placeholder(v) || looks_fake(v) || is_uuid(v) {
        return false;
    }
    // `a->b` is a pointer dereference, not an assignment.
    if key.windows(2).any(|w| w == b"->") {
        return false;
    }
    let key_lower = key.to_ascii_lowercase();
    static STRONG: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    let strong_key = any_ci(
        &STRONG,
        &[
            b"secret",
            b"credential",
            b"password",
            b"passwd",
            b"token",
            b"auth",
            b"creds",
        ],
        &key_lower,
    );
    // The key region is everything the regex matched before the value; only the last
    // identifier in it is the key name.
    let key_name = key
        .rsplit(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        .find(|s| !s.is_empty())
        .unwrap_or(key);
    // Bare hex is what hashes, ids and commit SHAs look like; only a strongly named key
    // (secret, token, credential...) or an API-key name (many SaaS keys are 32/40/64 hex)
    // makes it a secret, and not when the name or the value says it is a digest.
    if is_hex(v) {
        return matches!(v.len(), 16 | 24 | 32 | 40 | 48 | 64)
            && (strong_key || (names_api_key(key_name) && !key_is_benign(key_name)))
            && !key_names_digest(key_name)
            && !is_well_known_digest(v);
    }
    if is_digest(v) {
        return false;
    }
    // `k=v` inside a value is an expression or a query string, not a token (padding `=` at the
    // end is fine).
    let trimmed = v
        .strip_suffix(b"==")
        .or_else(|| v.strip_suffix(b"="))
        .unwrap_or(v);
    if trimmed.contains(&b'=') {
        return false;
    }
    if is_identifier_like(v) {
        return false;
    }
    if key_is_benign(key_name) {
        return false;
    }
    let lower = v.iter().filter(|b| b.is_ascii_lowercase()).count();
    let upper = v.iter().filter(|b| b.is_ascii_uppercase()).count();
    let digit = v.iter().filter(|b| b.is_ascii_digit()).count();
    let classes = usize::from(lower > 0) + usize::from(upper > 0) + usize::from(digit > 0);
    // Dotted or slashed words are paths, hosts, versions and qualified names.
    let seps = v
        .iter()
        .filter(|&&b| matches!(b, b'.' | b'/' | b':'))
        .count();
    if seps > 0 && looks_like_words(v) {
        return false;
    }
    if digit == 0 && looks_like_words(v) {
        return false;
    }
    let h = entropy(v);
    match classes {
        3 => h >= 3.0,
        2 => h >= 3.3 && v.len() >= 17,
        _ => h >= 3.6 && v.len() >= 20,
    }
}

/// Hostnames, dotted member accesses, dashed/underscored identifiers: several segments that
/// are each plain words or plain numbers, or a segment that repeats a key word.
fn is_identifier_like(v: &[u8]) -> bool {
    // One pass, nothing collected: this runs on every generic candidate.
    let (mut n, mut n_plain, mut word) = (0usize, 0usize, false);
    for seg in v
        .split(|b| !b.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
    {
        n += 1;
        n_plain += usize::from(
            seg.iter().all(u8::is_ascii_alphabetic) || seg.iter().all(u8::is_ascii_digit),
        );
        word = word
            || [
                &b"key"[..],
                b"token",
                b"secret",
                b"password",
                b"id",
                b"name",
            ]
            .iter()
            .any(|w| seg.eq_ignore_ascii_case(w));
    }
    if (n >= 3 && n_plain * 4 >= n * 3) || word {
        return true;
    }
    // `X25519.KeyPair`, `file.txt`, `host.example.com`: ends in a dotted word.
    if let Some(dot) = v.iter().rposition(|&b| b == b'.') {
        let last = &v[dot + 1..];
        if last.len() >= 3 && last.iter().all(u8::is_ascii_alphabetic) {
            return true;
        }
    }
    false
}

/// Whether a value is made of word-like pieces (identifiers, versions, dotted names): every
/// alphabetic run is short or pronounceable-looking and digits are few.
fn looks_like_words(v: &[u8]) -> bool {
    let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
    if digits * 5 > v.len() {
        return false;
    }
    // camelCase / snake_case identifiers and dotted names: few case flips relative to length.
    let mut flips = 0;
    let mut prev_upper = None;
    for &b in v {
        if b.is_ascii_alphabetic() {
            let up = b.is_ascii_uppercase();
            if prev_upper == Some(false) && up {
                flips += 1;
            }
            prev_upper = Some(up);
        } else {
            prev_upper = None;
        }
    }
    let vowels = v
        .iter()
        .filter(|b| matches!(b.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u'))
        .count();
    let letters = v.iter().filter(|b| b.is_ascii_alphabetic()).count().max(1);
    flips * 6 <= v.len() && vowels * 100 / letters >= 25
}

/// `/a/b…` or `~/a…` made of path characters only, with at least two `/`.
fn is_absolute_path(v: &[u8]) -> bool {
    (v.starts_with(b"/") || v.starts_with(b"~/"))
        && v.iter().filter(|&&b| b == b'/').count() >= 2
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-' | b'~'))
}

/// The words placeholder passwords are made of, besides [`PLACEHOLDER_NOUNS`]: who (`your`,
/// `my`), what (`db`, `admin`) and fillers (`here`, `goes`).
const PLACEHOLDER_FILLERS: &[&[u8]] = &[
    b"your",
    b"my",
    b"the",
    b"a",
    b"enter",
    b"insert",
    b"put",
    b"some",
    b"new",
    b"example",
    b"sample",
    b"dummy",
    b"fake",
    b"test",
    b"default",
    b"super",
    b"strong",
    b"secure",
    b"db",
    b"database",
    b"admin",
    b"root",
    b"user",
    b"app",
    b"api",
    b"smtp",
    b"mail",
    b"email",
    b"account",
    b"service",
    b"server",
    b"here",
    b"goes",
    b"value",
    b"s",
    b"access",
];

/// The secret nouns of placeholder passwords (`password`, `secret`, `key`...) and the public
/// default passwords: a placeholder phrase names what goes there, so it holds one of these.
const PLACEHOLDER_NOUNS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"pass",
    b"pwd",
    b"passphrase",
    b"secret",
    b"key",
    b"token",
    b"credential",
    b"changeme",
    b"changeit",
    b"letmein",
];

/// Whether a password value is nothing but placeholder vocabulary (ASCII case and `_`, `-`,
/// `.`, space ignored) naming a secret: `password`, `secret`, `YOUR_PASSWORD`,
/// `your-password-here`, `MySecretPassword`, `changeme`.
///
/// Why whole-value vocabulary and not substrings: `thisismypassword` or a misspelled
/// `YOURPASSWROD` contain the words but are not made of them; an auditor reads those as
/// (weak) passwords, and a value we cannot recognise as a placeholder is masked (fail closed).
/// `changeme`, `changeit` and `letmein` are kept because they are public defaults: masking
/// them hides nothing, and showing them tells the reader a default is configured.
pub(crate) fn is_placeholder_phrase(v: &[u8]) -> bool {
    let norm: Vec<u8> = v
        .iter()
        .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' '))
        .map(u8::to_ascii_lowercase)
        .collect();
    if norm.is_empty() || norm.len() > 64 {
        return false;
    }
    // reach[i] bit 0: `norm[..i]` splits into vocabulary words; bit 1: one of them a noun.
    let mut reach = vec![0u8; norm.len() + 1];
    reach[0] = 1;
    for i in 0..norm.len() {
        if reach[i] == 0 {
            continue;
        }
        let words = PLACEHOLDER_FILLERS
            .iter()
            .map(|w| (w, 0))
            .chain(PLACEHOLDER_NOUNS.iter().map(|w| (w, 2)));
        for (w, noun) in words {
            if norm[i..].starts_with(w) {
                reach[i + w.len()] |= 1 | (reach[i] & 2) | noun;
            }
        }
    }
    reach[norm.len()] & 2 != 0
}

/// Gate for password-like values next to a `password` key: low entropy is allowed (real
/// passwords are often weak) but references and placeholders are kept.
/// [`password_ok`] for a value written without quotes, where `$name` inside it is shell or
/// template interpolation (`password = super$ecret`), not part of a literal.
///
/// Why unquoted lowercase words are kept: written bare, `password_encoder = bcrypt` or
/// `auth: password` are settings, not literals; a quoted literal (`"thisismypassword"`) is
/// what a password looks like in code and config, so [`password_ok`] masks it.
pub(crate) fn password_unquoted_ok(v: &[u8]) -> bool {
    let interpolates = v.windows(2).any(|w| {
        w[0] == b'$' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'{' | b'(' | b'_'))
    });
    !interpolates && !v.iter().all(u8::is_ascii_lowercase) && password_ok(v)
}

/// Gate for password-like values next to a `password` key: low entropy is allowed (real
/// passwords are often weak) but references and placeholders are kept.
pub(crate) fn password_ok(v: &[u8]) -> bool {
    if v.len() < 6 || is_placeholder(v) {
        return false;
    }
    if looks_fake(v) {
        return false;
    }
    let first = v[0];
    if matches!(
        first,
        b'$' | b'%' | b'@' | b'&' | b'(' | b'<' | b'{' | b'!' | b'\\'
    ) {
        return false;
    }

    // An absolute path (`PWD="/home/runner/work/app"` in `env` / `declare -x` output,
    // `password_file: "/run/secrets/db"`) names where something is, not a password.
    if is_absolute_path(v) {
        return false;
    }
    // Lowercase words joined by `_`/`-`/`@`/`.` are names (`mysql_native_password`,
    // `user@host`, `db.example`) far more often than passwords; one run of lowercase letters
    // is a passphrase (`thisismypassword`) unless it is placeholder vocabulary (below).
    let lowercase_only = v.iter().all(u8::is_ascii_lowercase);
    if !lowercase_only
        && v.iter()
            .all(|b| b.is_ascii_lowercase() || matches!(b, b'_' | b'-' | b'@' | b'.'))
    {
        return false;
    }
    if is_placeholder_phrase(v) {
        return false;
    }
    // A value naming the secret (`password`, `secret`, `your`) with digits or symbols in it is
    // a label, selector, route or doc value (`Password:`, `#add-password`,
    // `policy/ChangePassword`, `CleartextPassword1`); letters only, it is a (weak) password
    // unless it is made of placeholder words (`is_placeholder_phrase` above): an auditor reads
    // `thisismypassword` or a misspelled `YOURPASSWROD` as a password, so they are masked.
    static NAMES: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    if !v.iter().all(u8::is_ascii_alphabetic)
        && any_ci(&NAMES, &[b"password", b"passwd", b"secret", b"your"], v)
    {
        return false;
    }
    // Explicit markers anywhere in the value.
    static WORDS: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    if any_ci(
        &WORDS,
        &[
            b"changeme",
            b"placeholder",
            b"redacted",
            b"example",
            b"dummy",
            b"sample",
            b"getenv",
            b"process.env",
            b"env.",
            b"var.",
            b"null",
            b"none",
            b"undefined",
            b"true",
            b"false",
        ],
        v,
    ) {
        return false;
    }
    // Function calls and member accesses are code, not values.
    if v.contains(&b'(') || (v.contains(&b'.') && looks_like_words(v)) {
        return false;
    }
    entropy(v) >= 2.5
}

fn b64_decode_any(s: &[u8]) -> Option<Vec<u8>> {
    let trimmed: Vec<u8> = s.iter().copied().filter(|&b| b != b'=').collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&trimmed)
        .ok()
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(&trimmed)
                .ok()
        })
}

/// Longest header [`jwt_ok`] decodes on the stack.
const SMALL_B64: usize = 96;

/// [`b64_decode_any`] into `buf`, for `s` without `=` and at most [`SMALL_B64`] bytes (then
/// nothing needs trimming and the output fits); `Err(())` for other inputs, which the caller
/// decodes the allocating way. Why: JWT headers are short and every JWT of a dense body is
/// checked; the two allocations per check cost more than the decoding.
fn b64_decode_small<'a>(s: &[u8], buf: &'a mut [u8; SMALL_B64]) -> Result<Option<&'a [u8]>, ()> {
    if s.len() > SMALL_B64 || s.contains(&b'=') {
        return Err(());
    }
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode_slice(s, buf)
        .ok()
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode_slice(s, buf)
                .ok()
        });
    Ok(n.map(|n| &buf[..n]))
}

/// A JWT's header segment must decode to a JSON object naming an algorithm or type.
pub(crate) fn jwt_ok(v: &[u8]) -> bool {
    let Some(header) = v.split(|&b| b == b'.').next() else {
        return false;
    };
    let mut buf = [0u8; SMALL_B64];
    let owned;
    let decoded = match b64_decode_small(header, &mut buf) {
        Ok(d) => d,
        Err(()) => {
            owned = b64_decode_any(header);
            owned.as_deref()
        }
    };
    match decoded {
        Some(h) => {
            h.first() == Some(&b'{') && (contains_ci(h, b"\"alg\"") || contains_ci(h, b"\"typ\""))
        }
        // Some emitters of test tokens mangle the header; the three-segment `eyJ` shape with
        // enough entropy is still a token worth masking.
        None => entropy(v) >= 4.0,
    }
}

/// `user:password` where the password is not a placeholder or variable reference.
pub(crate) fn userpass_ok(v: &[u8]) -> bool {
    let v: Vec<u8> = v
        .iter()
        .copied()
        .filter(|&b| b != b'"' && b != b'\'')
        .collect();
    let Some(colon) = v.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&v[..colon], &v[colon + 1..]);
    if pass.len() < 3
        || user.starts_with(b"$")
        || user.starts_with(b"<")
        || user.starts_with(b"{")
        || user.starts_with(b"[")
    {
        return false;
    }
    if pass.starts_with(b"$")
        || pass.starts_with(b"<")
        || pass.starts_with(b"{")
        || pass.starts_with(b"[")
        || pass.starts_with(b"%")
    {
        return false;
    }
    if pass.iter().all(|&b| b == b'*' || b == b'x' || b == b'X') {
        return false;
    }
    let lower = pass.to_ascii_lowercase();
    let words: [&[u8]; 10] = [
        b"password",
        b"pass",
        b"passwd",
        b"token",
        b"secret",
        b"yyy",
        b"pwd",
        b"test",
        b"changeme",
        b"your_password",
    ];
    !words.contains(&lower.as_slice()) && lower != user.to_ascii_lowercase()
}

/// `user:password` in a URL: only template references and masks are kept; any literal
/// password in a URL is a credential.
pub(crate) fn url_creds_ok(v: &[u8]) -> bool {
    let Some(colon) = v.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&v[..colon], &v[colon + 1..]);
    let templ = |s: &[u8]| {
        s.is_empty()
            || matches!(s[0], b'$' | b'<' | b'{' | b'[' | b'%')
            || s.iter().all(|&b| b == b'*' || b == b'x' || b == b'X')
    };
    !templ(pass) && !user.starts_with(b"${") && !user.starts_with(b"<")
}

/// Base64 of a JWT: decodes to `eyJ...` with dots.
pub(crate) fn jwt64_ok(v: &[u8]) -> bool {
    let cut = &v[..v.len() - v.len() % 4];
    match base64::engine::general_purpose::STANDARD.decode(cut) {
        Ok(d) => d.starts_with(b"eyJ") && d.contains(&b'.'),
        Err(_) => false,
    }
}

/// HTTP Basic credentials decode to `user:password`.
pub(crate) fn basic_ok(v: &[u8]) -> bool {
    match b64_decode_any(v) {
        Some(d) => d.contains(&b':') || entropy(v) >= 3.5,
        None => entropy(v) >= 3.5 && !is_placeholder(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_recognised() {
        for t in [
            &b"${DB_PASSWORD}"[..],
            b"$(DB_PASSWORD)",
            b"$DB_PASSWORD",
            b"${env:DB_PASSWORD}",
            b"$env:DB_PASSWORD",
            b"{{ .Values.dbPassword }}",
            b"${{ secrets.API_KEY }}",
            b"{DB_PASSWORD}",
            b"#{db.password}",
            b"[[db_password]]",
            b"((vault_password))",
            b"%DB_PASSWORD%",
            b"%(password)s",
            b"<your-password>",
            b"<%= ENV['DB_PASSWORD'] %>",
            b"@DB_PASSWORD@",
            b"__DB_PASSWORD__",
            b"\"${DB_PASSWORD}\"",
        ] {
            assert!(is_template(t), "{}", String::from_utf8_lossy(t));
            assert!(is_placeholder(t), "{}", String::from_utf8_lossy(t));
        }
        for s in [
            &b"pa$$w0rd"[..],
            b"$ecret99x",
            b"hunter2",
            b"ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1",
            b"{x};DROP",
            b"%%",
        ] {
            assert!(!is_template(s), "{}", String::from_utf8_lossy(s));
        }
        assert!(is_form_template(b"%24%7BDB_PASSWORD%7D"));
        assert!(is_form_template(b"%7B%7B+.Values.dbPassword+%7D%7D"));
        assert!(!is_form_template(b"Tr0ub4dor%263"));
    }

    #[test]
    fn placeholders_are_recognised() {
        for p in [
            &b"${DB_PASSWORD}"[..],
            b"xxxxxxxxxxxxxxxx",
            b"<your-api-key>",
            b"{{ .Values.password }}",
            b"%API_KEY%",
            b"AKIAIOSFODNN7EXAMPLE",
            b"aaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(is_placeholder(p), "{}", String::from_utf8_lossy(p));
        }
        assert!(!is_placeholder(b"ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1"));
    }

    #[test]
    fn generic_gate_keeps_lookalikes() {
        let key = b"api_key = ";
        for v in [
            &b"d41d8cd98f00b204e9800998ecf8427e"[..],                 // md5
            b"da39a3ee5e6b4b0d3255bfef95601890afd80709",              // sha1 / git
            b"123e4567-e89b-12d3-a456-426614174000",                  // uuid
            b"sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
            b"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            b"XSalsa20.key_length",
            b"env/cert.p12",
        ] {
            assert!(!generic_ok(key, v), "{}", String::from_utf8_lossy(v));
        }
        assert!(generic_ok(
            key,
            b"6pfblGAIu8k0qfs8hIuqFrnoJdyykhVzjLI8tXti0rUc"
        ));
        assert!(!generic_ok(
            b"public_key = ",
            b"6pfblGAIu8k0qfs8hIuqFrnoJdyykhVzjLI8tXti0rUc"
        ));
    }

    #[test]
    fn hex_under_an_api_key_name_is_a_key_unless_it_is_a_digest() {
        // Random 32/40/64 hex (as many SaaS keys are) under an API-key name: a key.
        let hex32 = b"8f3a61c2d94e07b5a1c6e2f0947d3b58";
        let hex40 = b"3c9e1f7a0b5d28e6c4f1a9073e2d6b8c5a0f4e17";
        for key in [
            &b"api_key = "[..],
            b"\"apiKey\": \"",
            b"X-API-KEY: ",
            b"STRIPE_APIKEY=",
        ] {
            assert!(generic_ok(key, hex32), "{}", String::from_utf8_lossy(key));
            assert!(generic_ok(key, hex40), "{}", String::from_utf8_lossy(key));
        }
        // A key name that says digest or id, or a digest everyone has seen: kept.
        for key in [
            &b"api_key_sha256 = "[..],
            b"apiKeyHash: ",
            b"api_key_checksum=",
            b"api_key_md5: ",
            b"api_key_id: ",
            b"file_etag: ",
        ] {
            assert!(!generic_ok(key, hex32), "{}", String::from_utf8_lossy(key));
        }
        for digest in WELL_KNOWN_DIGESTS {
            assert!(is_well_known_digest(digest.as_bytes()));
            assert!(is_well_known_digest(digest.to_ascii_uppercase().as_bytes()));
            assert!(!generic_ok(b"api_key: ", digest.as_bytes()), "{digest}");
        }
        // `sha` inside a word is not a digest name: a shared secret is a secret.
        assert!(generic_ok(b"shared_secret = ", hex32));
        // Hex under a name that is neither strong nor an API key stays an identifier.
        assert!(!generic_ok(b"build_key = ", hex32));
    }

    #[test]
    fn absolute_paths_are_not_passwords() {
        for v in [
            &b"/home/runner/work/app"[..],
            b"~/.config/app/creds",
            b"/run/secrets/db",
        ] {
            assert!(!password_ok(v), "{}", String::from_utf8_lossy(v));
        }
        // Slashes inside a value with other symbols, or one leading slash: still a password.
        for v in [&b"/Xk9#q/p2!z"[..], b"/Tr0ub4dor3", b"ab/cd/Ef9xQ"] {
            assert!(password_ok(v), "{}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn boundaries_understand_json_escapes() {
        let hay = br#"a\nghp_x"#;
        assert!(left_ok(hay, 3));
        assert!(!left_ok(b"aghp_x", 1));
        assert!(right_ok(b"abc", 3));
        assert!(!right_ok(b"abcd", 3));
    }

    #[test]
    fn fake_runs_and_entropy_memo() {
        assert!(looks_fake(b"3333333kZZZZZ9999999"));
        // Strict formats: only explicit markers keep a value, not alphabet runs or low entropy.
        assert!(!is_marked_placeholder(b"AKIADEADBEEFDEADBEEF"));
        assert!(!is_marked_placeholder(b"A3T0ABCDEFGHIJKLMNOP"));
        assert!(is_marked_placeholder(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_marked_placeholder(
            b"tvly-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        ));
        assert!(is_marked_placeholder(b"AKIAAAAAAAAAAAAAAAAA"));
        assert!(is_marked_placeholder(
            b"00000000000000000000000000000000000TUVWXYZ"
        ));
        assert!(is_marked_placeholder(b"${AWS_ACCESS_KEY_ID}"));
        assert!(is_marked_placeholder(b"glsa_77777aZZZZZZb999999cxyz0123"));
        assert!(!is_marked_placeholder(
            b"ghp_1234567890abcdefghijklmnopqrstuvwxyz"
        ));
        assert!(!looks_fake(b"5555x6666y7777z"));
        // Aligned assignments: runs of spaces are layout, not filler.
        assert!(!looks_fake(
            b"smtp.corp.test';       //host\n$m->Username     = 'svc';      //user\n$m->Password   = 'Zq9!vT4wL2"
        ));
        assert!(looks_fake(b"5555555 dAAAAA     7777777"));
        let a = entropy(b"abcabcabcabc");
        let b = entropy(b"abcdabcdabcd");
        assert!(a < b);
        // Served from the memo, and the memo is keyed by content, not length.
        assert_eq!(entropy(b"abcabcabcabc").to_bits(), a.to_bits());
        assert_eq!(entropy(b"abcdabcdabcd").to_bits(), b.to_bits());
        assert_eq!(
            entropy(b"abcabcabcabc").to_bits(),
            entropy_uncached(b"abcabcabcabc").to_bits()
        );
        // Tabulated terms have the bits of a fresh computation, long values included.
        let plain = |v: &[u8]| {
            let mut counts = [0u32; 256];
            for &b in v {
                counts[usize::from(b)] += 1;
            }
            let n = v.len() as f64;
            counts
                .iter()
                .filter(|&&c| c > 0)
                .map(|&c| {
                    let p = f64::from(c) / n;
                    -p * p.log2()
                })
                .fold(0.0, |a, t| a + t)
        };
        for len in [1usize, 2, 7, 12, 40, 511, 512, 513, 900] {
            let v: Vec<u8> = (0..len).map(|i| (i * i % 37) as u8 + b'0').collect();
            assert_eq!(
                entropy_uncached(&v).to_bits(),
                plain(&v).to_bits(),
                "len {len}"
            );
        }
    }

    #[test]
    fn fake_runs_equal_the_needle_search() {
        let runs: &[&[u8]] = &[
            b"abcdefg",
            b"1234567",
            b"a1b2c3",
            b"c3b2a1",
            b"qwerty",
            b"ghijkl",
            b"234567",
            b"uvwxyz",
            b"0123456789",
        ];
        let letters: &[&[u8]] = &[b"abcdefg", b"ghijkl", b"uvwxyz", b"qwerty"];
        let reference = |needles: &[&[u8]], v: &[u8]| needles.iter().any(|n| contains_ci(v, n));
        let mut vals: Vec<Vec<u8>> = Vec::new();
        for n in runs {
            for cut in 0..=n.len() {
                // Whole needles, cut ones, at the start, middle and end, in both cases.
                let part = &n[..cut];
                vals.push(part.to_vec());
                vals.push([b"Zx9".as_slice(), part, b"9xZ"].concat());
                vals.push([b"k3Y".as_slice(), &part.to_ascii_uppercase()].concat());
                vals.push([part, &n[cut..].to_ascii_uppercase()].concat());
            }
        }
        vals.push(b"ghp_Zq3vN8kLm2Pw5Rt7Yx1Cb4Df6Gh9Jk0Ls2Q".to_vec());
        vals.push(b"a1b2c".to_vec());
        vals.push(b"23456".to_vec());
        for v in &vals {
            let fake_runs = (0..v.len()).any(|i| fake_run_at(&v[i..], false));
            assert_eq!(
                fake_runs,
                reference(runs, v),
                "{}",
                String::from_utf8_lossy(v)
            );
            assert_eq!(
                fake_letters(v),
                reference(letters, v),
                "{}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn placeholder_markers() {
        for p in [
            &b"abXxXxcd"[..],
            b"ab****cd",
            b"ab####cd",
            b"ab...cd",
            b"keyEXAMPLEkey",
        ] {
            assert!(is_placeholder(p), "{}", String::from_utf8_lossy(p));
        }
        for p in [
            &b"abXxXcdq9Z"[..],
            b"ab***cdq9Z",
            b"ab###cdq9Z",
            b"ab..cdq9Z1",
            b"keyEXAMPLkey",
        ] {
            assert!(!is_placeholder(p), "{}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn jwt_header_must_decode() {
        assert!(jwt_ok(
            b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.sig"
        ));
        assert!(!jwt_ok(b"eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.sig"));
        // The stack decode equals the allocating one (padded, long, standard alphabet,
        // invalid).
        let long = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9".repeat(3);
        for h in [
            "eyJhbGciOiJIUzI1NiJ9",
            "eyJhbGciOiJIUzI1NiJ9==",
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ii8-PyJ9",
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ii8+PyJ9",
            "eyJhbGciOiJIUzI1NiJ9$",
            "e",
            long.as_str(),
        ] {
            let mut buf = [0u8; SMALL_B64];
            if let Ok(d) = b64_decode_small(h.as_bytes(), &mut buf) {
                assert_eq!(d, b64_decode_any(h.as_bytes()).as_deref(), "{h}");
            }
        }
    }
}
