//! Accuracy of the default rule pack on the labelled corpus in `../shared/corpus` (third-party
//! data, read in place, never copied) and on our own fixtures in `tests/fixtures/redact/`.
//!
//! Scoring (the corpus README's): a `redact` row passes when its `secret` no longer appears in
//! the masked text; a `keep` row passes when the text is unchanged. Rows are masked as plain
//! text with PII detectors off: the corpus labels secrets only (a keep row may well contain an
//! email address, which Warden masks by design and the fixtures test separately).
//!
//! `REDACT_CORPUS_VERBOSE=1` prints every failing row's rule and text.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use warden::redact::{ContentKind, Direction, PiiSpec, RedactOptions, Redactor, RulePack};

#[derive(Deserialize)]
struct Row {
    rule: String,
    text: String,
    secret: Option<String>,
    expect: String,
    expect_full_ruleset: Option<String>,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// Rules the pack ships switched off (cloud resource identifiers); the corpus labels them as
/// findings, so the accuracy run switches them on like an outbound-DLP policy would.
const OPTIONAL_RULES: [&str; 6] = [
    "aws-arn",
    "aws-account-id",
    "s3-bucket",
    "gcs-bucket",
    "shopify-domain",
    "auth0-tenant",
];

fn secrets_only() -> Redactor {
    let pack = RulePack::default_pack().expect("default pack");
    println!("pack: default + optional {OPTIONAL_RULES:?}; PII detectors off");
    let opts = RedactOptions {
        enabled_rules: OPTIONAL_RULES.iter().map(|s| s.to_string()).collect(),
        pii: Some(PiiSpec {
            email: false,
            phone: false,
            card: false,
            iban: false,
            ssn: false,
        }),
        ..RedactOptions::default()
    };
    Redactor::new(&pack, &opts).expect("compiles")
}

/// Family = rule id without its last `-`/`.` suffix (`github-pat` → `github`, `np.aws.2` → `np.aws`).
fn family(rule: &str) -> &str {
    match rule.rfind(['-', '.']) {
        Some(i) if i > 0 => &rule[..i],
        _ => rule,
    }
}

#[derive(Default)]
struct Tally {
    pos: usize,
    pos_ok: usize,
    neg: usize,
    neg_ok: usize,
}

struct Score {
    recall: f64,
    keep: f64,
}

fn score(file: &str, r: &Redactor, verbose: bool) -> Score {
    let path = corpus_dir().join(file);
    // Missing data must fail the run, not pass it: a skipped accuracy check reads as a
    // passing one.
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{file}: cannot read the labelled corpus at {} ({e}); it lives outside the repo \
             (third-party data): check out ../shared/corpus next to the workspace",
            path.display()
        )
    });
    let rows: Vec<Row> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("corpus row parses"))
        .collect();
    // The noseyparker file has no `expect_full_ruleset`; derive the same notion: a keep row
    // whose exact text is a `redact` row of another rule is a real secret for the full pack.
    let positive_texts: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|r| r.expect == "redact")
        .map(|r| r.text.as_str())
        .collect();
    let mut fam: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    for row in &rows {
        let label = match &row.expect_full_ruleset {
            Some(l) => l.as_str(),
            None if row.expect == "keep" && positive_texts.contains(row.text.as_str()) => "redact",
            None => row.expect.as_str(),
        };
        let out = r.redact(row.text.as_bytes(), ContentKind::Text, Direction::Response);
        let masked = String::from_utf8_lossy(&out.body);
        let t = fam.entry(family(&row.rule).to_string()).or_default();
        if label == "redact" {
            // A row labelled redact only by inheritance has no secret of its own: any
            // change to the text counts as masking it.
            let ok = match &row.secret {
                Some(s) => !masked.contains(s.as_str()),
                None => masked != row.text,
            };
            t.pos += 1;
            total.pos += 1;
            if ok {
                t.pos_ok += 1;
                total.pos_ok += 1;
            } else if verbose {
                println!(
                    "MISS {} {:?}",
                    row.rule,
                    row.text.chars().take(220).collect::<String>()
                );
            }
        } else {
            let ok = masked == row.text;
            t.neg += 1;
            total.neg += 1;
            if ok {
                t.neg_ok += 1;
                total.neg_ok += 1;
            } else if verbose {
                println!(
                    "FP   {} {:?} -> {:?}",
                    row.rule,
                    row.text.chars().take(200).collect::<String>(),
                    masked.chars().take(200).collect::<String>()
                );
            }
        }
    }
    println!("== {file}: per family (recall pos_ok/pos, keep neg_ok/neg)");
    for (f, t) in &fam {
        let flag = if t.pos_ok < t.pos || t.neg_ok < t.neg {
            "  <"
        } else {
            ""
        };
        println!(
            "  {f:40} recall {:>3}/{:<3} keep {:>3}/{:<3}{flag}",
            t.pos_ok, t.pos, t.neg_ok, t.neg
        );
    }
    let recall = total.pos_ok as f64 / total.pos.max(1) as f64;
    let keep = total.neg_ok as f64 / total.neg.max(1) as f64;
    println!(
        "== {file}: recall {:.2}% ({}/{}), keep-rate {:.2}% ({}/{})",
        recall * 100.0,
        total.pos_ok,
        total.pos,
        keep * 100.0,
        total.neg_ok,
        total.neg
    );
    Score { recall, keep }
}

#[test]
fn corpus_recall_and_keep_rate() {
    let r = secrets_only();
    let verbose = std::env::var_os("REDACT_CORPUS_VERBOSE").is_some();
    let mut failures = Vec::new();
    // Targets of issue 16 (item 6) for gitleaks; noseyparker's are 97% / 98% and not
    // reached yet (see docs/benchmarks.md), so its floor is today's score.
    let s = score("gitleaks_samples.jsonl", &r, verbose);
    if s.recall < 0.995 {
        failures.push(format!("gitleaks recall {:.2}% < 99.5%", s.recall * 100.0));
    }
    if s.keep < 0.98 {
        failures.push(format!("gitleaks keep-rate {:.2}% < 98%", s.keep * 100.0));
    }
    let s = score("noseyparker_examples.jsonl", &r, verbose);
    if s.recall < 0.90 {
        failures.push(format!("noseyparker recall {:.2}% < 90%", s.recall * 100.0));
    }
    if s.keep < 0.95 {
        failures.push(format!(
            "noseyparker keep-rate {:.2}% < 95%",
            s.keep * 100.0
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("; "));
}

#[derive(Deserialize)]
struct Fixture {
    text: String,
    /// Substrings that must be gone after masking (positives); empty for negatives.
    #[serde(default)]
    secrets: Vec<String>,
    /// `json`, `text`, ... (default text).
    #[serde(default)]
    content_type: Option<String>,
    /// Why the row exists.
    #[allow(dead_code)]
    #[serde(default)]
    note: Option<String>,
}

fn fixtures(name: &str) -> Vec<Fixture> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/redact")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture file");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}")))
        .collect()
}

#[test]
fn own_fixtures_positives_are_masked() {
    let r = Redactor::with_defaults().expect("compiles");
    let mut bad = Vec::new();
    for f in fixtures("positives.jsonl") {
        let kind =
            ContentKind::from_content_type(f.content_type.as_deref().unwrap_or("text/plain"));
        let out = r.redact(f.text.as_bytes(), kind, Direction::Response);
        let masked = String::from_utf8_lossy(&out.body);
        for s in &f.secrets {
            if masked.contains(s.as_str()) {
                bad.push(format!("survived {s:?} in {masked:?}"));
            }
        }
        if kind == ContentKind::Json {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&out.body).is_ok(),
                "invalid JSON: {masked}"
            );
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn own_fixtures_lookalikes_are_kept() {
    let r = Redactor::with_defaults().expect("compiles");
    let mut bad = Vec::new();
    for f in fixtures("negatives.jsonl") {
        let kind =
            ContentKind::from_content_type(f.content_type.as_deref().unwrap_or("text/plain"));
        let out = r.redact(f.text.as_bytes(), kind, Direction::Response);
        if out.body != f.text.as_bytes() {
            bad.push(format!(
                "{:?} -> {:?}",
                f.text,
                String::from_utf8_lossy(&out.body)
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
