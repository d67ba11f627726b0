//! Accuracy of the default rule pack on the labelled corpus in `../shared/corpus` (third-party
//! data, read in place, never copied) and on our own fixtures in `tests/fixtures/redact/`.
//!
//! Scoring (the corpus README's): a `redact` row passes when its `secret` no longer appears in
//! the masked text; a `keep` row passes when the text is unchanged. Rows are masked as plain
//! text with PII detectors off: the corpus labels secrets only (a keep row may well contain an
//! email address, which Warden masks by design and the fixtures test separately).
//!
//! `REDACT_CORPUS_VERBOSE=1` prints every failing row's line in its corpus file, its rule, the shape of its secret (length and
//! character classes, never the value: the corpus stays out of logs and the repo) and the
//! Warden rules that fired.

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

/// A secret's shape for the miss report: length and character classes, never its value.
fn shape(secret: &str) -> String {
    let mut classes = String::new();
    for (name, test) in [
        ("a-z", u8::is_ascii_lowercase as fn(&u8) -> bool),
        ("A-Z", u8::is_ascii_uppercase),
        ("0-9", u8::is_ascii_digit),
    ] {
        if secret.bytes().any(|b| test(&b)) {
            classes.push_str(name);
        }
    }
    let mut other: Vec<char> = secret
        .chars()
        .filter(|c| !c.is_ascii_alphanumeric())
        .collect();
    other.sort_unstable();
    other.dedup();
    classes.extend(other);
    format!("len {} [{classes}]", secret.len())
}

/// The Warden rule ids in a result, for the miss report.
fn fired(findings: &[warden::redact::Finding]) -> String {
    let mut ids: Vec<&str> = findings.iter().map(|f| &*f.rule_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        "nothing".into()
    } else {
        ids.join(",")
    }
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
    // Missing data must fail the run, not pass it (see `load_rows`).
    let rows = load_rows(file);
    // The noseyparker file has no `expect_full_ruleset`; derive the same notion: a keep row
    // whose exact text is a `redact` row of another rule is a real secret for the full pack.
    let positive_texts: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|r| r.expect == "redact")
        .map(|r| r.text.as_str())
        .collect();
    let mut fam: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    for (index, row) in rows.iter().enumerate() {
        let line = index + 1;
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
                    "MISS {file}:{line} {:40} secret {}; fired {}",
                    row.rule,
                    row.secret.as_deref().map_or("(inherited)".into(), shape),
                    fired(&out.findings)
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
                    "FP   {file}:{line} {:40} fired {}",
                    row.rule,
                    fired(&out.findings)
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
    // Targets of issue 16 (item 6): recall 99.5% (gitleaks) and 97% (noseyparker), keep 98%.
    // noseyparker's keep target is not reached: its six kept-labelled rows Warden masks are
    // live-looking secrets (an Auth0 client secret, an Azure AD client secret, an OAuth
    // client secret, a New Relic license key, a stream key, a quoted password), negatives
    // only for one noseyparker regex; docs/coverage.md says which. Its floor is today's
    // score.
    let s = score("gitleaks_samples.jsonl", &r, verbose);
    if s.recall < 0.995 {
        failures.push(format!("gitleaks recall {:.2}% < 99.5%", s.recall * 100.0));
    }
    if s.keep < 0.98 {
        failures.push(format!("gitleaks keep-rate {:.2}% < 98%", s.keep * 100.0));
    }
    let s = score("noseyparker_examples.jsonl", &r, verbose);
    if s.recall < 0.97 {
        failures.push(format!("noseyparker recall {:.2}% < 97%", s.recall * 100.0));
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

// ---------------------------------------------------------------------------------------------
// The coverage table (issue 16, item 6): docs/coverage.md maps every gitleaks and noseyparker
// rule to the Warden rule(s) that mask its samples, or says why not. The table part of that
// file is generated here from the corpus and the default pack; the test fails when the
// committed table is stale. Regenerate with
// `REDACT_COVERAGE_UPDATE=1 cargo test -p warden --test redact_corpus coverage_table`.
// Only rule ids and counts go into the table, never sample text.
// ---------------------------------------------------------------------------------------------

const COVERAGE_BEGIN: &str = "<!-- BEGIN GENERATED: redact_corpus.rs coverage_table_is_current -->";
const COVERAGE_END: &str = "<!-- END GENERATED -->";

/// gitleaks rules (config/gitleaks.toml, v8.30) the corpus has no samples for, with the Warden
/// rule that covers the same token shape (or `-`) and why.
const GITLEAKS_NOT_IN_CORPUS: [(&str, &str, &str); 3] = [
    (
        "dropbox-long-lived-api-token",
        "dropbox-long-lived-api-token",
        "no corpus samples; same shape as gitleaks' rule, after a `dropbox` key name",
    ),
    (
        "dropbox-short-lived-api-token",
        "dropbox-short-lived",
        "no corpus samples; `sl.` prefix rule, entropy-gated",
    ),
    (
        "pkcs12-file",
        "-",
        "a file-path rule (`*.p12`/`*.pfx` in a repo); a body has no path, and a PKCS#12 \
         blob is binary: Warden's binary-body policy applies, not a text rule",
    ),
];

/// Why a source rule is not fully matched by the pack (misses or false positives in the
/// corpus). Every imperfect rule needs an entry; entries for rules that score perfectly fail
/// the test, so the notes stay true.
const COVERAGE_NOTES: &[(&str, &str)] = &[
    ("1password-service-account-token", "one sample is truncated with `...` (a doc excerpt): shorter than the token shape"),
    ("aws-amazon-bedrock-api-key-long-lived", "the missed sample is AWS's documentation key, `EXAMPLE` repeated: an explicit placeholder marker, kept by design (strict formats keep only explicit markers)"),
    ("databricks-api-token", "the missed sample (a sibling rule's, after `DATABRICKS_TOKEN=`) has a non-hex letter where Databricks tokens are hex, and a digit run: neither the `dapi` layout nor the generic gate takes it"),
    ("slack-user-token", "the missed samples (gitleaks negatives relabelled for the full rule set) are shorter than Slack's documented shape (`xoxp-` + 10 digits, or 4-digit groups)"),
    ("settlemint-personal-access-token", "the missed rows are gitleaks' `nonMatchingToken` negatives relabelled secret for the full rule set: 16 lowercase characters with no prefix or key name, indistinguishable from identifiers"),
    ("settlemint-application-access-token", "as settlemint-personal-access-token"),
    ("curl-auth-user", "user-only (`user:`) and brace-wrapped (`{…}`) samples read as templates, which Warden keeps"),
    ("freemius-secret-key", "label contradiction: one negative is the very text of a positive (gitleaks scopes the rule by file path, a body has none); Warden masks both"),
    ("gcp-api-key", "deliberate: bare `AIza…` keys in prose are kept (browser keys are publishable; docs quote public ones); keys in values, parameters and markup are masked"),
    ("generic-api-key", "value shapes generic gating keeps on purpose (UUID in a function argument, `=`-laced value under `private-key`); one negative is hex under an `api_key` name, which `api-key-hex` masks by design"),
    ("hashicorp-tf-password", "dictionary-word password (`root…`): the password gate keeps words to avoid masking prose"),
    ("kubernetes-secret-yaml", "the data decodes to placeholder credentials (`admin:password`, `opensesame`); real Secret data is masked by the Secret-manifest detector (`k8s-secret`, `redact::manifest`)"),
    ("mailchimp-api-key", "label contradiction: a gitleaks negative (`MailchimpSDK.initialize(token: …-us18)`) is a real key shape, masked as a secret"),
    ("nuget-config-password", "label contradictions: `ClearTextPassword` values are gitleaks negatives but are passwords; a `…Password1` sample reads as a placeholder"),
    ("stripe-access-token", "label contradiction: a gitleaks negative is a high-entropy value under a `Token` key name, which Warden masks by design"),
    ("np.age.1", "an age *recipient* (`age1…`) is a public key: not masked by design; `AGE-SECRET-KEY-1…` identities are (`age-secret-key`)"),
    ("np.auth0.1", "label contradiction: the negative is a full Auth0 application credential (client id, 64-character client secret, tenant) in `export` lines; Warden masks it by design"),
    ("np.generic.1", "label contradiction: the negative is a quoted Azure AD client secret (the `…Q~…` layout) under `client_credential`; Warden masks it by design"),
    ("np.generic.3", "the password is a mask (`######`, already redacted): the user name next to it is not a secret on its own, and placeholders stay readable by design"),
    ("np.generic.4", "as np.generic.3"),
    ("np.generic.5", "label contradiction: one negative is the single-quoted spelling of a password that six positives hold double-quoted (noseyparker's regex wants double quotes); Warden masks both spellings"),
    ("np.generic.9", "label contradiction: noseyparker's match covers the key *name* (`…Password`), which is not masked; the password value itself is (`dotnet-config-password`)"),
    ("np.gitalk.1", "label contradiction: a noseyparker negative example that is a real OAuth client secret (40 hex) under `clientSecret`; Warden masks it and its client id by design"),
    ("np.google.3", "the missed sample is one repeated letter (an explicit filler), kept by design"),
    ("np.linkedin.1", "label contradiction: the sample holds no secret (a form's field labels)"),
    ("np.newrelic.2", "label contradiction: a noseyparker negative example that is a real secret shape under a secret key name; Warden masks it by design (`license_key: …NRAL`)"),
    ("np.odbc.1", "one sample's credentials are template expressions (`#{datastore['DBUID']}`), kept by design"),
    ("np.okta.1", "placeholder: the remaining misses are `00` + one repeated letter (`00aaaa…`, a near-constant filler), which placeholders-are-kept keeps by design; fixed-format Okta tokens are masked even with alphabet runs"),
    ("np.slack.2", "the missed sample is a `xoxb-` layout of zeros and `xxxx`: an explicit placeholder marker, kept by design (strict formats keep only explicit markers)"),
    ("np.tavily.1", "the missed sample is `tvly-` + `xxxx…`: an explicit placeholder marker, kept by design"),
    ("np.twitch.1", "label contradiction: the negative is a stream key without its `live_` prefix under a `STREAM_KEY` name (a live-looking secret); Warden masks it by design"),
    ("np.gradle.1", "the captured value is an upper-case variable name (`SOME_USERNAME`-like), not a credential"),
    ("np.salesforce.1", "the token in the `sf org display` table is the documentation example (`…EXAMPLE…`): an explicit placeholder marker, kept by design; other tokens of that layout are masked (`salesforce-access-token`, strict)"),
];

#[derive(Default)]
struct RuleCoverage {
    /// Warden rule id → how many of the source rule's positives it masked.
    warden: BTreeMap<String, usize>,
    tally: Tally,
}

/// The corpus file's rows; panics when the corpus is missing: a skipped accuracy check reads
/// as a passing one.
fn load_rows(file: &str) -> Vec<Row> {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{file}: cannot read the labelled corpus at {} ({e}); it lives outside the repo \
             (third-party data): check out ../shared/corpus next to the workspace",
            path.display()
        )
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("corpus row parses"))
        .collect()
}

/// Per source rule: which Warden rules masked its positives, and its recall / keep tallies
/// (labelled as in [`score`]).
fn coverage(file: &str, r: &Redactor) -> BTreeMap<String, RuleCoverage> {
    let rows = load_rows(file);
    let positive_texts: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|r| r.expect == "redact")
        .map(|r| r.text.as_str())
        .collect();
    let mut out: BTreeMap<String, RuleCoverage> = BTreeMap::new();
    for row in &rows {
        let label = match &row.expect_full_ruleset {
            Some(l) => l.as_str(),
            None if row.expect == "keep" && positive_texts.contains(row.text.as_str()) => "redact",
            None => row.expect.as_str(),
        };
        let masked = r.redact(row.text.as_bytes(), ContentKind::Text, Direction::Response);
        let c = out.entry(row.rule.clone()).or_default();
        if label == "redact" {
            c.tally.pos += 1;
            let body = String::from_utf8_lossy(&masked.body);
            let ok = match &row.secret {
                Some(s) => !body.contains(s.as_str()),
                None => masked.body != row.text.as_bytes(),
            };
            if !ok {
                continue;
            }
            c.tally.pos_ok += 1;
            // Attribute the row to the findings that cover the secret (all of them when the
            // row has no secret of its own).
            let spans: Vec<(u64, u64)> = match &row.secret {
                Some(s) => row
                    .text
                    .match_indices(s.as_str())
                    .map(|(i, m)| (i as u64, (i + m.len()) as u64))
                    .collect(),
                None => vec![(0, row.text.len() as u64)],
            };
            let mut ids: Vec<&str> = masked
                .findings
                .iter()
                .filter(|f| {
                    spans
                        .iter()
                        .any(|&(a, b)| f.offset < b && a < f.offset + f.len)
                })
                .map(|f| &*f.rule_id)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                *c.warden.entry(id.to_string()).or_default() += 1;
            }
        } else {
            c.tally.neg += 1;
            if masked.body == row.text.as_bytes() {
                c.tally.neg_ok += 1;
            }
        }
    }
    out
}

fn frac(ok: usize, n: usize) -> String {
    if n == 0 {
        "–".to_string()
    } else {
        format!("{ok}/{n}")
    }
}

/// Renders one source's table; records rules that need a note but have none.
fn coverage_table(
    title: &str,
    cov: &BTreeMap<String, RuleCoverage>,
    extra: &[(&str, &str, &str)],
    notes: &BTreeMap<&str, &str>,
    problems: &mut Vec<String>,
) -> String {
    let mut s = String::new();
    let (mut rules, mut full, mut pos, mut pos_ok, mut neg, mut neg_ok) = (0, 0, 0, 0, 0, 0);
    let mut body = String::new();
    let mut rows: Vec<(&str, String, String, String, String)> = Vec::new();
    for (rule, c) in cov {
        let t = &c.tally;
        rules += 1;
        pos += t.pos;
        pos_ok += t.pos_ok;
        neg += t.neg;
        neg_ok += t.neg_ok;
        let perfect = t.pos_ok == t.pos && t.neg_ok == t.neg;
        if perfect {
            full += 1;
        }
        let mut warden: Vec<(&String, &usize)> = c.warden.iter().collect();
        warden.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let warden = if warden.is_empty() {
            "–".to_string()
        } else {
            warden
                .iter()
                .map(|(id, _)| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let note = match (notes.get(rule.as_str()), perfect) {
            (Some(n), false) => n.to_string(),
            (None, false) => {
                problems.push(format!(
                    "{rule}: recall {} keep {} needs a note in COVERAGE_NOTES (why not covered)",
                    frac(t.pos_ok, t.pos),
                    frac(t.neg_ok, t.neg)
                ));
                "**no note**".to_string()
            }
            (Some(_), true) => {
                problems.push(format!(
                    "{rule}: scores perfectly now; remove its COVERAGE_NOTES entry"
                ));
                String::new()
            }
            (None, true) => String::new(),
        };
        rows.push((
            rule.as_str(),
            warden,
            frac(t.pos_ok, t.pos),
            frac(t.neg_ok, t.neg),
            note,
        ));
    }
    for (rule, warden, note) in extra {
        rules += 1;
        let warden = if *warden == "-" {
            "–".to_string()
        } else {
            format!("`{warden}`")
        };
        rows.push((
            rule,
            warden,
            "no samples".into(),
            "–".into(),
            note.to_string(),
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(b.0));
    for (rule, warden, masked, kept, note) in rows {
        body.push_str(&format!(
            "| `{rule}` | {warden} | {masked} | {kept} | {note} |\n"
        ));
    }
    s.push_str(&format!("### {title}\n\n"));
    s.push_str(&format!(
        "{rules} rules; {full} of the {} with samples fully matched (every positive masked, \
         every negative kept); positives masked {pos_ok}/{pos}, negatives kept {neg_ok}/{neg}.\n\n",
        cov.len()
    ));
    s.push_str("| source rule | Warden rule(s) | positives masked | negatives kept | why not (when not) |\n");
    s.push_str("|---|---|---|---|---|\n");
    s.push_str(&body);
    s
}

#[test]
fn coverage_table_is_current() {
    let r = secrets_only();
    let pack = RulePack::default_pack().expect("default pack");
    let notes: BTreeMap<&str, &str> = COVERAGE_NOTES.iter().copied().collect();
    let mut problems = Vec::new();
    for (rule, warden, _) in GITLEAKS_NOT_IN_CORPUS {
        let known = pack.rules.iter().any(|s| s.id == warden)
            || pack.context_rules.iter().any(|s| s.id == warden);
        if warden != "-" && !known {
            problems.push(format!("{rule}: Warden rule {warden} is not in the pack"));
        }
    }
    let gitleaks = coverage("gitleaks_samples.jsonl", &r);
    let noseyparker = coverage("noseyparker_examples.jsonl", &r);
    for (rule, _) in COVERAGE_NOTES {
        if !gitleaks.contains_key(*rule) && !noseyparker.contains_key(*rule) {
            problems.push(format!(
                "COVERAGE_NOTES names {rule}, which no corpus rule has"
            ));
        }
    }
    let mut generated = String::new();
    generated.push_str(&coverage_table(
        "gitleaks (config/gitleaks.toml, v8.30: 222 rules, 219 with corpus samples)",
        &gitleaks,
        &GITLEAKS_NOT_IN_CORPUS,
        &notes,
        &mut problems,
    ));
    generated.push('\n');
    generated.push_str(&coverage_table(
        "noseyparker (built-in rules, v0.24+: 189 rules)",
        &noseyparker,
        &[],
        &notes,
        &mut problems,
    ));

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/coverage.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (head, rest) = doc
        .split_once(COVERAGE_BEGIN)
        .unwrap_or_else(|| panic!("{} lacks the line {COVERAGE_BEGIN}", path.display()));
    let (current, tail) = rest
        .split_once(COVERAGE_END)
        .unwrap_or_else(|| panic!("{} lacks the line {COVERAGE_END}", path.display()));
    let wanted = format!("\n{generated}");
    if current != wanted {
        if std::env::var_os("REDACT_COVERAGE_UPDATE").is_some() {
            std::fs::write(
                &path,
                format!("{head}{COVERAGE_BEGIN}{wanted}{COVERAGE_END}{tail}"),
            )
            .expect("write docs/coverage.md");
            println!("rewrote {}", path.display());
        } else {
            problems.push(format!(
                "{} is stale (the pack or the corpus changed): regenerate it with \
                 REDACT_COVERAGE_UPDATE=1 cargo test -p warden --test redact_corpus \
                 coverage_table, review the diff and commit it",
                path.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Shapes the coverage work added, on text written here (not corpus rows): each positive's
/// secret is gone, each negative is unchanged.
#[test]
fn documented_shapes_from_coverage_work() {
    let r = Redactor::with_defaults().expect("compiles");
    let positives: &[(&str, &str)] = &[
        // Quoted values under a key that ends in a secret word may hold any symbol,
        // including the other quote character.
        (
            "auth:\n  jwtSecret: \"Q7`x'p]2;Lr&v>9{Zk^w%Tn\" # rotated monthly\n",
            "Q7`x'p]2;Lr&v>9{Zk^w%Tn",
        ),
        (
            "DB_PASSWORD='k3\"Vq ;m8)Rz!pW'\n",
            "k3\"Vq ;m8)Rz!pW",
        ),
        (
            "session:\n  secret: \"staging#blue-lantern\"\n",
            "staging#blue-lantern",
        ),
        // Terraform: the secret-like name is on the `variable` line.
        (
            "variable \"pagerduty_api_token\" {\n  type    = string\n  default = \"u+Zx3Qe7_WpK9mLs-Hd2\"\n}\n",
            "u+Zx3Qe7_WpK9mLs-Hd2",
        ),
        // A Salesforce access token (`00D` org id, `!`, session) in `sf org display` output.
        (
            "=== Org Description\nKEY               VALUE\n────────────────  ──────────\nAccess Token      00D5g000004XkQz!AR8AQU89K1D5a0HECbLMQsNcCGctd76LCNUH1lS_2wLfKkaVE.tNMO66iv9b4.b8p6k_csDZVefZO9jDOmlpFbYfogYtGEwb\nClient Id         PlatformCLI\n",
            "00D5g000004XkQz!AR8AQU89K1D5a0HECbLMQsNcCGctd76LCNUH1lS_2wLfKkaVE.tNMO66iv9b4.b8p6k_csDZVefZO9jDOmlpFbYfogYtGEwb",
        ),
        // A hex API key under an API-key name.
        (
            "api_key: 8f3a61c2d94e07b5a1c6e2f0947d3b58",
            "8f3a61c2d94e07b5a1c6e2f0947d3b58",
        ),
        // Strict provider formats are masked even when they look typed-in (alphabet runs,
        // low entropy): only explicit placeholder markers keep them.
        ("aws_access_key_id = AKIAABCDEFGHIJKLMNOP\n", "AKIAABCDEFGHIJKLMNOP"),
        ("ASIACAFEBABECAFEBABE", "ASIACAFEBABECAFEBABE"),
        ("NR_KEY=NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ2\n", "NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ2"),
        (
            "okta_token: 00abcdefghijklmnopqrstuvwxyz0123456789ABCD\n",
            "00abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        ),
        // An Azure DevOps PAT by its layout (`JQQJ9` at 52, `AZDO` at 76), low entropy or not.
        (
            "pat: AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKKKllllMMMMJQQJ99AAAAAAAAAAAAAAAAAAAZDOAAAA\n",
            "AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKKKllllMMMMJQQJ99AAAAAAAAAAAAAAAAAAAZDOAAAA",
        ),
        // kubeadm's bootstrap token is `<id>.<secret>`: the id half goes too.
        ("token-id: 9x2kq7\ntoken-secret: 0123456789abcdef\n", "9x2kq7"),
    ];
    let negatives = [
        "secret_path: \"kv/data/payments/App1\"\n",
        "secretName: \"db-credentials\"\n",
        "password: \"${DB_PASSWORD}\"\n",
        "password: \"<your-password>\"\n",
        "declare -x PWD=\"/home/runner/work/app\"\n",
        "variable \"token_ttl\" {\n  default = \"3600s-Ab\"\n}\n",
        "variable \"api_token\" {\n  default = \"${var.vault_token}\"\n}\n",
        "api_key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "api_key: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        // Strict formats with an explicit placeholder marker stay.
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
        "aws_access_key_id = AKIAXXXXXXXXXXXXXXXX\n",
        "NR_KEY=NRAK-XXXXXXXXXXXXXXXXXXXXXXXXXXX\n",
        "okta_token: 000000000000000000000000000000000000000000\n",
        "okta_token: 00000000000000000000000000000000000TUVWXYZ\n",
    ];
    let mut bad = Vec::new();
    for (text, secret) in positives {
        let out = r.redact(text.as_bytes(), ContentKind::Text, Direction::Response);
        if String::from_utf8_lossy(&out.body).contains(secret) {
            bad.push(format!("survived: {text:?}"));
        }
    }
    for text in negatives {
        let out = r.redact(text.as_bytes(), ContentKind::Text, Direction::Response);
        if out.body != text.as_bytes() {
            bad.push(format!(
                "changed: {text:?} -> {:?}",
                String::from_utf8_lossy(&out.body)
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
