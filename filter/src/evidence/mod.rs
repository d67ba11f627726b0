//! Evidence bundles for auditors: `warden evidence export` and `warden evidence verify`.
//!
//! A bundle is a directory an auditor can check offline:
//!
//! ```text
//! manifest.json        every file with its SHA-256; the period; the signing key's id
//! manifest.sig         Ed25519 signature over manifest.json (the checkpoint key)
//! summary.md           what the records show, per SOC 2 criterion (CC6.1, CC6.3, CC7.2, CC8.1)
//! summary.json         the same, structured (re-computed and compared by `verify`)
//! records.jsonl        the period's records, as chained (seq, hash, record)
//! log/                 the audit log segments that hold them, up to the signed
//!                      checkpoint that covers the last one (and the head file)
//! verification.json    the chain check at export time
//! store-checkpoints.json the newest checkpoint the approvals store held for each
//!                      chain at export (compared with log/: a log cut back to an
//!                      earlier checkpoint ends before it)
//! policies/<hash>.json every policy version that decided a record: the files' text
//! approvals.json       every approval a record names, with who approved or denied, when, why
//! keys/                the public key(s) the checkpoints name (compare the key id with
//!                      the one the operator gave you: a key inside the bundle proves nothing)
//! ```
//!
//! `verify` needs a trust anchor (a public key from outside the bundle, or a pinned key
//! id) and re-checks everything from the files alone: manifest hashes and signature,
//! the chain over `log/` (anchored by signed checkpoints) against the store's
//! checkpoints, every record in
//! `records.jsonl` against the verified chain, every policy's content against its
//! hash, every approval a record names, and the summary against the records.

mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};
use serde::{Deserialize, Serialize};

pub use summary::{ApprovalLine, ChainStatus, PolicyUse, Summary};

use crate::approval::{Approval, ApprovalId, Timestamp};
use crate::audit::{
    key_id, sha256_hex, verify_paths, ChainedRecord, Checkpoint, ExpectedPosition, KeyRing,
    LogLine, PolicyVersion, Report, TrustAnchors, VerifyOptions,
};
use crate::store::ApprovalStore;

/// Layout version of a bundle.
pub const BUNDLE_VERSION: u32 = 1;

const MANIFEST: &str = "manifest.json";
const MANIFEST_SIG: &str = "manifest.sig";
const RECORDS: &str = "records.jsonl";
const SUMMARY_MD: &str = "summary.md";
const SUMMARY_JSON: &str = "summary.json";
const VERIFICATION: &str = "verification.json";
const APPROVALS: &str = "approvals.json";
const LOG_DIR: &str = "log";
const POLICY_DIR: &str = "policies";
const KEY_DIR: &str = "keys";
const STORE_CHECKPOINTS: &str = "store-checkpoints.json";

/// Why a bundle could not be exported or read.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The output directory exists and is not empty.
    #[error("{0} exists and is not empty; choose a new --out directory (a bundle is never written over another)")]
    OutNotEmpty(PathBuf),
    /// No audit segment was found.
    #[error("no audit log segment (*.jsonl) in {0}; pass the audit.log_dir of the Warden whose records you want (--log-dir)")]
    NoLog(PathBuf),
    /// The approvals store failed.
    #[error("approvals store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The chain could not be verified at all.
    #[error("audit log: {0}")]
    Verify(#[from] crate::audit::VerifyError),
    /// JSON could not be read or written.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No trusted key was given, or a key could not be trusted.
    #[error(transparent)]
    Trust(#[from] crate::audit::TrustError),
    /// The period is empty or reversed.
    #[error("--since {since} is not before --until {until}")]
    Period {
        /// Start.
        since: String,
        /// End.
        until: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EvidenceError + '_ {
    move |source| EvidenceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path inside the bundle (`/`-separated).
    pub path: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BUNDLE_VERSION`].
    pub version: u32,
    /// Period start (RFC 3339).
    pub since: String,
    /// Period end (exclusive).
    pub until: String,
    /// When the bundle was made.
    pub created_at: String,
    /// Instances whose chains are included.
    pub instances: Vec<String>,
    /// Id of the key that signed `manifest.sig` (none: unsigned).
    pub signed_by: Option<String>,
    /// Ids of the checkpoint keys the exporting operator names (its public keys are in
    /// `keys/`): an auditor pins these (`--key-id`) or brings the keys themselves.
    #[serde(default)]
    pub key_ids: Vec<String>,
    /// Every other file of the bundle.
    pub files: Vec<ManifestFile>,
}

/// What an export needs.
#[derive(Debug)]
pub struct ExportRequest {
    /// Period start.
    pub since: Timestamp,
    /// Period end (exclusive).
    pub until: Timestamp,
    /// The audit log directory.
    pub log_dir: PathBuf,
    /// Where approvals live (for the approvals records name); `None` leaves them out
    /// (the summary says so).
    pub store: Option<ApprovalStore>,
    /// Key that signs the manifest (the checkpoint key), if available.
    pub signing_key: Option<SigningKey>,
    /// Public keys that sign checkpoints (copied into `keys/`).
    pub public_key_files: Vec<PathBuf>,
    /// The new bundle directory.
    pub out: PathBuf,
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    /// The manifest.
    pub manifest: Manifest,
    /// The summary.
    pub summary: Summary,
}

/// One parsed segment file.
struct Segment {
    path: PathBuf,
    instance: String,
    number: u64,
    lines: Vec<LogLine>,
}

fn read_segments(log_dir: &Path) -> Result<Vec<Segment>, EvidenceError> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(log_dir).map_err(io_err(log_dir))? {
        let path = entry.map_err(io_err(log_dir))?.path();
        if !path.is_file() || path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        // Unparsable lines are left to the chain check, which names them.
        let lines: Vec<LogLine> = text
            .lines()
            .filter_map(|line| LogLine::parse(line).ok())
            .collect();
        let Some(LogLine::Segment(header)) = lines.first() else {
            continue;
        };
        segments.push(Segment {
            instance: header.instance.clone(),
            number: header.segment,
            path,
            lines,
        });
    }
    if segments.is_empty() {
        return Err(EvidenceError::NoLog(log_dir.to_path_buf()));
    }
    segments.sort_by(|a, b| (&a.instance, a.number).cmp(&(&b.instance, b.number)));
    Ok(segments)
}

fn in_period(started_at: &str, since: Timestamp, until: Timestamp) -> bool {
    Timestamp::parse_rfc3339(started_at).is_some_and(|t| t >= since && t < until)
}

fn write_file(out: &Path, relative: &str, bytes: &[u8]) -> Result<(), EvidenceError> {
    let path = out.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::write(&path, bytes).map_err(io_err(&path))
}

fn to_json<T: Serialize>(value: &T, path: &str) -> Result<Vec<u8>, EvidenceError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| EvidenceError::Json {
        path: PathBuf::from(path),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The file name a policy version is kept under.
fn policy_file(hash: &str) -> String {
    format!("{POLICY_DIR}/{}.json", hash.trim_start_matches("sha256:"))
}

/// The chain status the summary quotes, from a verification report.
fn chain_status(report: &Report) -> ChainStatus {
    let mut key_ids = BTreeSet::new();
    let mut checkpoints = 0;
    let mut unsigned = 0;
    for chain in &report.chains {
        checkpoints += chain.checkpoints;
        unsigned += chain.unsigned;
        if let Some(cp) = &chain.last_signed {
            key_ids.insert(cp.key_id.clone());
        }
    }
    let message = match report.first_broken() {
        Some(broken) => format!("first broken line: {broken}"),
        None => {
            let records: u64 = report.chains.iter().map(|c| c.records).sum();
            let mut text = format!(
                "{records} chained records in {} chain(s), every hash, link and checkpoint signature verified",
                report.chains.len()
            );
            if unsigned > 0 {
                text.push_str(&format!(
                    "; {unsigned} line(s) after the last signed checkpoint are linked but not yet signed"
                ));
            }
            text
        }
    };
    ChainStatus {
        intact: report.intact(),
        message,
        checkpoints,
        key_ids: key_ids.into_iter().collect(),
    }
}

/// Writes an evidence bundle for the records of `request.since..request.until`.
pub async fn export(request: ExportRequest) -> Result<Exported, EvidenceError> {
    if request.since >= request.until {
        return Err(EvidenceError::Period {
            since: request.since.rfc3339(),
            until: request.until.rfc3339(),
        });
    }
    let out = &request.out;
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(io_err(out))?
            .next()
            .is_some()
    {
        return Err(EvidenceError::OutNotEmpty(out.clone()));
    }
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    // The store first: Warden writes a checkpoint to the log before the store, so a
    // store read before the log never holds a checkpoint the log has not.
    let stored = match &request.store {
        Some(store) => store.checkpoints(None).await?,
        None => Vec::new(),
    };
    let segments = read_segments(&request.log_dir)?;

    let mut selected: Vec<ChainedRecord> = Vec::new();
    let mut instances = BTreeSet::new();
    let mut policies: BTreeMap<String, PolicyVersion> = BTreeMap::new();
    let mut copied: Vec<&Segment> = Vec::new();
    let by_instance: BTreeMap<&str, Vec<&Segment>> =
        segments.iter().fold(BTreeMap::new(), |mut map, s| {
            map.entry(s.instance.as_str()).or_default().push(s);
            map
        });
    for (instance, chain) in &by_instance {
        let mut first_segment = None;
        let mut last_selected_seq = None;
        for (index, segment) in chain.iter().enumerate() {
            for line in &segment.lines {
                match line {
                    LogLine::Record(r)
                        if in_period(&r.record.started_at, request.since, request.until) =>
                    {
                        first_segment.get_or_insert(index);
                        last_selected_seq = Some(r.seq);
                        selected.push(r.clone());
                    }
                    LogLine::Policy(p) => {
                        policies.insert(p.policy.policy_hash.clone(), p.policy.clone());
                    }
                    _ => {}
                }
            }
        }
        let (Some(first), Some(last_seq)) = (first_segment, last_selected_seq) else {
            continue;
        };
        instances.insert(instance.to_string());
        // Up to the segment whose checkpoint covers the last selected record, so the
        // bundle's tail is anchored by a signature.
        let mut end = chain.len() - 1;
        'find: for (index, segment) in chain.iter().enumerate().skip(first) {
            for line in &segment.lines {
                if let LogLine::Checkpoint(cp) = line {
                    if cp.seq >= last_seq {
                        end = index;
                        break 'find;
                    }
                }
            }
        }
        copied.extend(&chain[first..=end]);
    }

    // The log segments, and the head files of chains whose newest segment is included.
    for segment in &copied {
        let name = segment
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(&segment.path).map_err(io_err(&segment.path))?;
        write_file(out, &format!("{LOG_DIR}/{name}"), &bytes)?;
    }
    for (instance, chain) in &by_instance {
        let newest_included = chain
            .last()
            .is_some_and(|s| copied.iter().any(|c| c.path == s.path));
        let head = request.log_dir.join(crate::audit::head_file_name(instance));
        if newest_included && head.is_file() {
            let bytes = std::fs::read(&head).map_err(io_err(&head))?;
            write_file(
                out,
                &format!("{LOG_DIR}/{}", crate::audit::head_file_name(instance)),
                &bytes,
            )?;
        }
    }
    let mut keys = KeyRing::new();
    let mut key_ids = BTreeSet::new();
    if let Some(key) = &request.signing_key {
        key_ids.insert(key_id(&key.verifying_key()));
    }
    for file in &request.public_key_files {
        let bytes = std::fs::read(file).map_err(io_err(file))?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "checkpoint-key.pub.pem".into());
        write_file(out, &format!("{KEY_DIR}/{name}"), &bytes)?;
        if let Ok(key) = crate::audit::load_verifying_key(file) {
            key_ids.insert(keys.add(key));
        }
    }
    // The store's newest checkpoint of each chain in the bundle.
    let mut latest: BTreeMap<&str, &Checkpoint> = BTreeMap::new();
    for checkpoint in &stored {
        if !instances.contains(&checkpoint.instance) {
            continue;
        }
        let entry = latest
            .entry(checkpoint.instance.as_str())
            .or_insert(checkpoint);
        if checkpoint.seq > entry.seq {
            *entry = checkpoint;
        }
    }
    let store_checkpoints: Vec<Checkpoint> = latest.into_values().cloned().collect();
    if request.store.is_some() {
        write_file(
            out,
            STORE_CHECKPOINTS,
            &to_json(&store_checkpoints, STORE_CHECKPOINTS)?,
        )?;
    }

    // records.jsonl
    let mut records = Vec::new();
    for record in &selected {
        let line = serde_json::to_string(record).map_err(|e| EvidenceError::Json {
            path: PathBuf::from(RECORDS),
            message: e.to_string(),
        })?;
        records.extend_from_slice(line.as_bytes());
        records.push(b'\n');
    }
    write_file(out, RECORDS, &records)?;

    // Policy versions the records name.
    let referenced: BTreeSet<String> = selected
        .iter()
        .map(|r| r.record.decision.policy_hash.clone())
        .filter(|h| !h.is_empty())
        .collect();
    let mut included_policies = BTreeSet::new();
    for hash in &referenced {
        if let Some(version) = policies.get(hash) {
            write_file(out, &policy_file(hash), &to_json(version, POLICY_DIR)?)?;
            included_policies.insert(hash.clone());
        }
    }

    // Approvals the records name.
    let approval_ids: BTreeSet<String> = selected
        .iter()
        .filter_map(|r| r.record.approval.as_ref().map(|a| a.id.clone()))
        .collect();
    let mut approvals: Vec<Approval> = Vec::new();
    if let Some(store) = &request.store {
        for id in &approval_ids {
            if let Some(approval) = store.get(&ApprovalId(id.clone())).await? {
                approvals.push(approval);
            }
        }
    }
    write_file(out, APPROVALS, &to_json(&approvals, APPROVALS)?)?;

    // The chain check over what the bundle holds.
    let options = VerifyOptions {
        allow_partial_start: true,
        expected: expected_positions(out, &store_checkpoints),
        ..VerifyOptions::default()
    };
    let report = verify_paths(&[out.join(LOG_DIR)], &keys, &options)?;
    write_file(out, VERIFICATION, &to_json(&report, VERIFICATION)?)?;

    let since = request.since.rfc3339();
    let until = request.until.rfc3339();
    let instances: Vec<String> = instances.into_iter().collect();
    let plain: Vec<_> = selected.iter().map(|r| r.record.clone()).collect();
    let summary = Summary::build(
        &since,
        &until,
        &plain,
        &instances,
        &approvals,
        &included_policies,
        chain_status(&report),
    );
    write_file(out, SUMMARY_JSON, &to_json(&summary, SUMMARY_JSON)?)?;
    write_file(out, SUMMARY_MD, summary.to_markdown().as_bytes())?;

    let manifest = Manifest {
        version: BUNDLE_VERSION,
        since,
        until,
        created_at: Timestamp::now().rfc3339(),
        instances,
        signed_by: request
            .signing_key
            .as_ref()
            .map(|k| key_id(&k.verifying_key())),
        key_ids: key_ids.into_iter().collect(),
        files: list_files(out)?,
    };
    let manifest_bytes = to_json(&manifest, MANIFEST)?;
    write_file(out, MANIFEST, &manifest_bytes)?;
    if let Some(key) = &request.signing_key {
        let signature = key.sign(&manifest_bytes);
        let text = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
        write_file(out, MANIFEST_SIG, format!("{text}\n").as_bytes())?;
    }
    Ok(Exported { manifest, summary })
}

/// The store's checkpoints as positions the bundle's log must agree with: a chain
/// whose head file is in the bundle (its newest segment is included) must reach its
/// checkpoint; another is compared where its lines reach.
fn expected_positions(bundle: &Path, checkpoints: &[Checkpoint]) -> Vec<ExpectedPosition> {
    checkpoints
        .iter()
        .map(|checkpoint| {
            let head = bundle
                .join(LOG_DIR)
                .join(crate::audit::head_file_name(&checkpoint.instance));
            let mut position = ExpectedPosition::of_checkpoint(
                checkpoint,
                format!(
                    "the store's newest checkpoint at export ({STORE_CHECKPOINTS}: instance {}, \
                     seq {})",
                    checkpoint.instance, checkpoint.seq
                ),
            );
            position.may_be_past_end = !head.is_file();
            position
        })
        .collect()
}

/// Every file under `dir` except the manifest and its signature, sorted.
fn list_files(dir: &Path) -> Result<Vec<ManifestFile>, EvidenceError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).map_err(io_err(&current))? {
            let path = entry.map_err(io_err(&current))?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if relative == MANIFEST || relative == MANIFEST_SIG {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            files.push(ManifestFile {
                path: relative,
                sha256: sha256_hex(&bytes),
                bytes: bytes.len() as u64,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// One check `verify` made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// Details (what failed, or what was counted).
    pub detail: String,
}

/// What `verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct BundleReport {
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl BundleReport {
    /// True when every check held.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    fn push(&mut self, name: &str, result: Result<String, String>) {
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.checks.push(Check {
            name: name.to_string(),
            ok,
            detail,
        });
    }
}

impl std::fmt::Display for BundleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for check in &self.checks {
            writeln!(
                f,
                "{} {}: {}",
                if check.ok { "ok  " } else { "FAIL" },
                check.name,
                check.detail
            )?;
        }
        Ok(())
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<T, String> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Re-checks a bundle offline with the keys the auditor trusts: public key files from
/// outside the bundle, or pinned key ids (whose keys may come from the bundle's
/// `keys/`). A key inside the bundle is never trusted on its own.
pub fn verify(dir: &Path, anchors: &TrustAnchors) -> Result<BundleReport, EvidenceError> {
    let trusted = anchors.key_ring(&[dir.to_path_buf()], &[dir.join(KEY_DIR)])?;
    let mut report = BundleReport { checks: Vec::new() };
    let manifest_bytes = std::fs::read(dir.join(MANIFEST)).map_err(io_err(&dir.join(MANIFEST)))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| EvidenceError::Json {
            path: dir.join(MANIFEST),
            message: e.to_string(),
        })?;

    let keys = trusted.ring;
    let untrusted: Vec<&str> = manifest
        .key_ids
        .iter()
        .filter(|id| keys.get(id).is_none())
        .map(String::as_str)
        .collect();
    report.push(
        "keys",
        if untrusted.is_empty() {
            Ok(format!("trusting {}", trusted.reasons.join("; ")))
        } else {
            Err(format!(
                "the manifest names checkpoint key(s) {} that you did not pin or pass: compare \
                 them with the ids the operator gave you, then pass --key-id ID or \
                 --public-key FILE",
                untrusted.join(", ")
            ))
        },
    );

    // Manifest: every file present with its hash, nothing added.
    let listed = list_files(dir)?;
    let manifest_check = {
        let mut problems = Vec::new();
        let actual: BTreeMap<&str, &ManifestFile> =
            listed.iter().map(|f| (f.path.as_str(), f)).collect();
        let expected: BTreeMap<&str, &ManifestFile> = manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f))
            .collect();
        for (path, file) in &expected {
            match actual.get(path) {
                None => problems.push(format!("{path} is missing")),
                Some(found) if found.sha256 != file.sha256 => {
                    problems.push(format!("{path} was changed (SHA-256 differs)"))
                }
                Some(_) => {}
            }
        }
        for path in actual.keys() {
            if !expected.contains_key(path) {
                problems.push(format!("{path} is not in the manifest"));
            }
        }
        if problems.is_empty() {
            Ok(format!("{} files, every SHA-256 matches", expected.len()))
        } else {
            Err(problems.join("; "))
        }
    };
    report.push("manifest", manifest_check);

    // Manifest signature.
    let signature_check = match &manifest.signed_by {
        None => Err("the bundle is not signed (no signing key at export)".to_string()),
        Some(id) => match (
            keys.get(id),
            std::fs::read_to_string(dir.join(MANIFEST_SIG)),
        ) {
            (None, _) => Err(format!("signed by {id}, which is not a key given")),
            (_, Err(e)) => Err(format!("{MANIFEST_SIG}: {e}")),
            (Some(key), Ok(text)) => base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .and_then(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
                .map_or_else(
                    || Err(format!("{MANIFEST_SIG} is not an Ed25519 signature")),
                    |sig| {
                        key.verify(&manifest_bytes, &sig)
                            .map(|()| format!("signed by {id}"))
                            .map_err(|_| {
                                format!("the signature by {id} does not match manifest.json")
                            })
                    },
                ),
        },
    };
    report.push("manifest signature", signature_check);

    // The chain, against the store's checkpoints the bundle carries.
    let stored: Option<Vec<Checkpoint>> = if dir.join(STORE_CHECKPOINTS).is_file() {
        match read_json(dir, STORE_CHECKPOINTS) {
            Ok(stored) => Some(stored),
            Err(e) => {
                report.push("store checkpoints", Err(e));
                Some(Vec::new())
            }
        }
    } else {
        None
    };
    let options = VerifyOptions {
        allow_partial_start: true,
        expected: expected_positions(dir, stored.as_deref().unwrap_or_default()),
        ..VerifyOptions::default()
    };
    let chain = verify_paths(&[dir.join(LOG_DIR)], &keys, &options);
    let mut chained: BTreeMap<(String, u64), ChainedRecord> = BTreeMap::new();
    match &chain {
        Ok(chain_report) => {
            let status = chain_status(chain_report);
            report.push(
                "audit chain",
                if status.intact {
                    Ok(status.message)
                } else {
                    Err(status.message)
                },
            );
            let agreed: Vec<&str> = chain_report
                .chains
                .iter()
                .flat_map(|c| c.agrees_with.iter().map(String::as_str))
                .collect();
            let missing: Vec<&str> = stored
                .iter()
                .flatten()
                .filter(|c| !chain_report.chains.iter().any(|r| r.instance == c.instance))
                .map(|c| c.instance.as_str())
                .collect();
            report.push(
                "store checkpoints",
                match &stored {
                    None => Ok(format!(
                        "not compared: the bundle holds no {STORE_CHECKPOINTS} (exported \
                         without the approvals store)"
                    )),
                    Some(_) if !missing.is_empty() => Err(format!(
                        "the store held checkpoints of {}, whose log is not in the bundle",
                        missing.join(", ")
                    )),
                    Some(_) if !status.intact => Err("see the audit chain check".to_string()),
                    Some(stored) => Ok(format!(
                        "{} checkpoint(s) from the store; the log agrees with {}",
                        stored.len(),
                        if agreed.is_empty() {
                            "none in its range".to_string()
                        } else {
                            agreed.join("; ")
                        }
                    )),
                },
            );
            if let Ok(segments) = read_segments(&dir.join(LOG_DIR)) {
                for segment in segments {
                    for line in segment.lines {
                        if let LogLine::Record(r) = line {
                            chained.insert((r.instance.clone(), r.seq), r);
                        }
                    }
                }
            }
        }
        Err(e) => report.push("audit chain", Err(e.to_string())),
    }

    // records.jsonl against the verified chain and the period.
    let since = Timestamp::parse_rfc3339(&manifest.since);
    let until = Timestamp::parse_rfc3339(&manifest.until);
    let mut records = Vec::new();
    let records_check = match std::fs::read_to_string(dir.join(RECORDS)) {
        Err(e) => Err(format!("{RECORDS}: {e}")),
        Ok(text) => {
            let mut problems = Vec::new();
            for (n, line) in text.lines().enumerate() {
                match serde_json::from_str::<ChainedRecord>(line) {
                    Err(e) => problems.push(format!("line {}: {e}", n + 1)),
                    Ok(record) => {
                        match chained.get(&(record.instance.clone(), record.seq)) {
                            Some(in_chain) if *in_chain == record => {}
                            Some(_) => problems.push(format!(
                                "line {}: seq {} differs from the chained record",
                                n + 1,
                                record.seq
                            )),
                            None => problems.push(format!(
                                "line {}: seq {} is not in the log",
                                n + 1,
                                record.seq
                            )),
                        }
                        let inside = match (since, until) {
                            (Some(s), Some(u)) => in_period(&record.record.started_at, s, u),
                            _ => false,
                        };
                        if !inside {
                            problems.push(format!(
                                "line {}: {} is outside the period",
                                n + 1,
                                record.record.started_at
                            ));
                        }
                        records.push(record);
                    }
                }
            }
            if problems.is_empty() {
                Ok(format!(
                    "{} records, each identical to its verified chain line",
                    records.len()
                ))
            } else {
                Err(problems.join("; "))
            }
        }
    };
    report.push("records", records_check);

    // Policies: content hashes to its name; every referenced one present.
    let referenced: BTreeSet<String> = records
        .iter()
        .map(|r| r.record.decision.policy_hash.clone())
        .filter(|h| !h.is_empty())
        .collect();
    let mut included = BTreeSet::new();
    let mut policy_problems = Vec::new();
    for hash in &referenced {
        let name = policy_file(hash);
        match read_json::<PolicyVersion>(dir, &name) {
            Err(e) => policy_problems.push(format!("{hash}: {e}")),
            Ok(version) => {
                if version.policy_hash != *hash || version.recomputed_hash() != *hash {
                    policy_problems.push(format!("{name}: its files do not hash to {hash}"));
                } else {
                    included.insert(hash.clone());
                }
            }
        }
    }
    report.push(
        "policies",
        if policy_problems.is_empty() {
            Ok(format!(
                "{} version(s), each file set hashes to the policy_hash records name",
                included.len()
            ))
        } else {
            Err(policy_problems.join("; "))
        },
    );

    // Approvals every record names.
    let approvals: Vec<Approval> = match read_json(dir, APPROVALS) {
        Ok(a) => a,
        Err(e) => {
            report.push("approvals", Err(e));
            Vec::new()
        }
    };
    let present: BTreeSet<String> = approvals.iter().map(|a| a.id.to_string()).collect();
    let missing: Vec<String> = records
        .iter()
        .filter_map(|r| r.record.approval.as_ref().map(|a| a.id.clone()))
        .filter(|id| !present.contains(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    report.push(
        "approvals",
        if missing.is_empty() {
            Ok(format!(
                "{} approval(s), every one a record names is present",
                approvals.len()
            ))
        } else {
            Err(format!("missing: {}", missing.join(", ")))
        },
    );

    // The summary, recomputed.
    let summary_check = match read_json::<Summary>(dir, SUMMARY_JSON) {
        Err(e) => Err(e),
        Ok(written) => {
            let plain: Vec<_> = records.iter().map(|r| r.record.clone()).collect();
            let recomputed = Summary::build(
                &manifest.since,
                &manifest.until,
                &plain,
                &manifest.instances,
                &approvals,
                &included,
                written.chain.clone(),
            );
            if recomputed == written {
                Ok("summary.json matches the records".to_string())
            } else {
                Err("summary.json does not match what the records show".to_string())
            }
        }
    };
    report.push("summary", summary_check);
    Ok(report)
}

/// Parses a `--since`/`--until` value: RFC 3339, or a duration before now (`2h`, `7d`).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    let seconds = crate::approval::parse_duration(text).map_err(|e| {
        format!("{text:?} is neither an RFC 3339 time (2026-11-30T08:00:00Z) nor a duration before now ({e})")
    })?;
    let millis = i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    Ok(Timestamp(Timestamp::now().0.saturating_sub(millis)))
}
