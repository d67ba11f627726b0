//! The hash chain: each chained line numbered and hashed over the previous line's hash,
//! with signed checkpoints. Pure: no clock reads outside [`Checkpoint::sign`]'s
//! convenience wrapper, no I/O.
//!
//! # Lines
//!
//! A log is a sequence of [`LogLine`]s, one JSON object per line, told apart by their
//! `type` field:
//!
//! - `segment` ([`SegmentHeader`]): first line of every segment file; states where the
//!   chain stands when the segment begins (and any recorded break).
//! - `record` ([`ChainedRecord`]): one exchange; **chained**.
//! - `policy` ([`ChainedPolicy`]): a policy version put in force (at start and on each
//!   reload), with its files' text; **chained**, in the same `seq` space as records.
//! - `checkpoint` ([`Checkpoint`]): a signed statement that the chain reached
//!   `(seq, hash)`.
//!
//! # Hash encoding (version 1)
//!
//! The hash of a chained line is the lowercase hex SHA-256 of:
//!
//! ```text
//! "warden-audit-chain-v1" 0x00
//! u64be(len(instance))  instance            (UTF-8)
//! u64be(seq)
//! u64be(len(prev_hash)) prev_hash           (ASCII hex)
//! u64be(len(kind))      kind                ("record" or "policy")
//! u64be(len(body))      body                (canonical JSON of the record / policy)
//! ```
//!
//! The body is `serde_json`'s compact serialisation of the parsed struct (fields in
//! declaration order, no whitespace, defaults omitted as the struct says). A verifier
//! recomputes it from the *parsed* line, so the hash does not depend on the key order
//! or spacing of the text it read. Because parsing forgets things (an added unknown
//! field, a duplicate key, a re-spelt escape), the verifier also requires every line to
//! be byte-for-byte the canonical serialisation of what it parsed: an edit that keeps
//! the JSON parseable either changes the parsed value (the hash no longer
//! recomputes) or leaves a non-canonical line (reported as such). Either way it is
//! caught.
//!
//! The length prefixes make the encoding unambiguous (no field can run into the next).
//! The first chained line has `prev_hash` = [`GENESIS_HASH`] (64 zeros).
//!
//! # Checkpoints
//!
//! A checkpoint signs (Ed25519) the bytes of [`checkpoint_message`]: the instance,
//! seq, hash, signed_at, reason and key_id, length-prefixed after the domain
//! `"warden-audit-checkpoint-v1"`. `key_id` is `ed25519:<hex SHA-256 of the 32-byte
//! public key>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::AuditRecord;

/// `prev_hash` of the first chained line of an instance.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation of chained-line hashes (the encoding's version).
const CHAIN_DOMAIN: &[u8] = b"warden-audit-chain-v1";

/// Domain separation of checkpoint signatures.
const CHECKPOINT_DOMAIN: &[u8] = b"warden-audit-checkpoint-v1";

/// A record in the chain of one Warden instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainedRecord {
    /// The instance whose chain this is.
    pub instance: String,
    /// 1, 2, 3… with no gaps, per instance (shared with policy lines).
    pub seq: u64,
    /// The previous chained line's `hash` ([`GENESIS_HASH`] for seq 1).
    pub prev_hash: String,
    /// SHA-256 over this record's instance, seq, prev_hash and content (see the
    /// module docs for the encoding).
    pub hash: String,
    /// The record.
    pub record: AuditRecord,
}

/// A policy version put in force, in the chain (same seq space as records).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedPolicy {
    /// The instance whose chain this is.
    pub instance: String,
    /// Position in the chain.
    pub seq: u64,
    /// The previous chained line's `hash`.
    pub prev_hash: String,
    /// SHA-256 over this line's instance, seq, prev_hash and policy.
    pub hash: String,
    /// The policy.
    pub policy: PolicyVersion,
}

/// A policy version: its content hash and the text of every file, so the exact rules
/// behind a record's `decision.policy_hash` can be shown later (evidence export).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// `sha256:…` over the files' names and text ([`crate::policy::hash_sources`]);
    /// records name it in `decision.policy_hash`.
    pub policy_hash: String,
    /// Where the files were read from (paths, comma separated).
    pub source: String,
    /// When it was put in force (RFC 3339).
    pub loaded_at: String,
    /// Every file, in load order.
    pub files: Vec<PolicyFile>,
}

/// One policy file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFile {
    /// The file name (as the policy hash covers it).
    pub name: String,
    /// SHA-256 of the text, hex (to find a file's text by its hash).
    pub sha256: String,
    /// The text.
    pub content: String,
}

impl PolicyVersion {
    /// The version of a loaded policy, put in force at `loaded_at`.
    pub fn of(policy: &crate::policy::Policy, loaded_at: String) -> PolicyVersion {
        PolicyVersion {
            policy_hash: policy.hash().to_string(),
            source: policy.source().to_string(),
            loaded_at,
            files: policy
                .files()
                .map(|(name, content)| PolicyFile {
                    name: name.to_string(),
                    sha256: sha256_hex(content.as_bytes()),
                    content: content.to_string(),
                })
                .collect(),
        }
    }

    /// Recomputes the policy hash from the files: equal to `policy_hash` unless the
    /// line was forged (a verifier checks it).
    pub fn recomputed_hash(&self) -> String {
        let sources: Vec<(PathBuf, String)> = self
            .files
            .iter()
            .map(|f| (PathBuf::from(&f.name), f.content.clone()))
            .collect();
        crate::policy::hash_sources(&sources)
    }
}

/// The first line of every segment file: where the chain stands as it begins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHeader {
    /// The instance whose chain this is.
    pub instance: String,
    /// 1, 2, 3… per instance, in the order segments were begun.
    pub segment: u64,
    /// The seq the first chained line of this segment will have.
    pub first_seq: u64,
    /// The hash of the chained line before it ([`GENESIS_HASH`] for a new chain).
    pub prev_hash: String,
    /// The key that signs this segment's checkpoints (`ed25519:…`).
    pub key_id: String,
    /// When the segment was begun (RFC 3339).
    pub created_at: String,
    /// Set when the previous segment was not sealed because Warden stopped abruptly
    /// (a torn last line): what was kept and what was left behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_after: Option<ChainBreak>,
}

/// A break a restarted Warden recorded: the previous segment ended in a partial line
/// (a crash mid-write). The file is kept as it is; the chain continues from its last
/// complete line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// File name of the segment that ended torn.
    pub segment_file: String,
    /// Its bytes up to the end of its last complete line (what the chain continues
    /// from).
    pub valid_bytes: u64,
    /// Bytes after that (the partial line), left in the file.
    pub discarded_bytes: u64,
    /// What happened, for people.
    pub reason: String,
}

/// A signed statement that the chain of `instance` reached `seq` with `hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The instance whose chain this is.
    pub instance: String,
    /// The last chained line covered.
    pub seq: u64,
    /// That line's hash.
    pub hash: String,
    /// When it was signed (RFC 3339).
    pub signed_at: String,
    /// Why it was written: `start` (a new chain, at seq 0), `count`, `interval`, `seal`
    /// (segment closed) or `shutdown`.
    pub reason: String,
    /// Fingerprint of the public key that signs (`ed25519:<sha256 of the key, hex>`).
    pub key_id: String,
    /// Ed25519 signature over [`checkpoint_message`], base64 (standard, padded).
    pub signature: String,
}

/// Why a checkpoint is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointReason {
    /// A new chain was begun: seq 0 with the genesis hash, so the chain has a signed
    /// head (and a head file) before its first line.
    Start,
    /// `checkpoint_every_records` records since the last one.
    Count,
    /// `checkpoint_interval_seconds` passed with records added.
    Interval,
    /// The segment is closed; it is its last line.
    Seal,
    /// Warden is stopping gracefully.
    Shutdown,
}

impl CheckpointReason {
    /// The name in [`Checkpoint::reason`].
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointReason::Start => "start",
            CheckpointReason::Count => "count",
            CheckpointReason::Interval => "interval",
            CheckpointReason::Seal => "seal",
            CheckpointReason::Shutdown => "shutdown",
        }
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// Records are nearly every line: boxing them would cost an allocation each, for nothing.
#[allow(clippy::large_enum_variant)]
pub enum LogLine {
    /// A segment's header (its first line).
    Segment(SegmentHeader),
    /// An exchange.
    Record(ChainedRecord),
    /// A policy version.
    Policy(ChainedPolicy),
    /// A signed checkpoint.
    Checkpoint(Checkpoint),
}

/// Why a line could not be made or a checkpoint does not hold.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A value could not be serialised (a bug: our types always serialise).
    #[error("cannot serialise an audit line: {0} (this is a Warden bug; please report it)")]
    Serialise(#[from] serde_json::Error),
    /// The checkpoint was signed by a key not given to the verifier.
    #[error("checkpoint signed by unknown key {0} (pass its public key with --public-key)")]
    UnknownKey(String),
    /// The signature is not valid base64 / not 64 bytes.
    #[error("checkpoint signature is malformed: {0}")]
    MalformedSignature(String),
    /// The signature does not verify.
    #[error("checkpoint signature does not verify with key {0} (forged or edited)")]
    BadSignature(String),
}

/// Where a chain stands: the last chained line's seq and hash (seq 0 and
/// [`GENESIS_HASH`] before the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    instance: String,
    seq: u64,
    hash: String,
}

impl Chain {
    /// A new chain for `instance`, before its first line.
    pub fn new(instance: impl Into<String>) -> Chain {
        Chain {
            instance: instance.into(),
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }

    /// A chain that continues after the line `(seq, hash)`.
    pub fn resume(instance: impl Into<String>, seq: u64, hash: impl Into<String>) -> Chain {
        Chain {
            instance: instance.into(),
            seq,
            hash: hash.into(),
        }
    }

    /// The instance.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The last seq (0 before the first line).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The last hash ([`GENESIS_HASH`] before the first line).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Chains an exchange record.
    pub fn append(&mut self, record: AuditRecord) -> Result<ChainedRecord, ChainError> {
        let seq = self.seq + 1;
        let body = serde_json::to_vec(&record)?;
        let hash = line_hash(&self.instance, seq, &self.hash, "record", &body);
        let chained = ChainedRecord {
            instance: self.instance.clone(),
            seq,
            prev_hash: std::mem::replace(&mut self.hash, hash.clone()),
            hash,
            record,
        };
        self.seq = seq;
        Ok(chained)
    }

    /// Chains a policy version.
    pub fn append_policy(&mut self, policy: PolicyVersion) -> Result<ChainedPolicy, ChainError> {
        let seq = self.seq + 1;
        let body = serde_json::to_vec(&policy)?;
        let hash = line_hash(&self.instance, seq, &self.hash, "policy", &body);
        let chained = ChainedPolicy {
            instance: self.instance.clone(),
            seq,
            prev_hash: std::mem::replace(&mut self.hash, hash.clone()),
            hash,
            policy,
        };
        self.seq = seq;
        Ok(chained)
    }
}

impl ChainedRecord {
    /// The hash its content gives (equal to `hash` unless it was edited).
    pub fn recompute_hash(&self) -> Result<String, ChainError> {
        let body = serde_json::to_vec(&self.record)?;
        Ok(line_hash(
            &self.instance,
            self.seq,
            &self.prev_hash,
            "record",
            &body,
        ))
    }
}

impl ChainedPolicy {
    /// The hash its content gives (equal to `hash` unless it was edited).
    pub fn recompute_hash(&self) -> Result<String, ChainError> {
        let body = serde_json::to_vec(&self.policy)?;
        Ok(line_hash(
            &self.instance,
            self.seq,
            &self.prev_hash,
            "policy",
            &body,
        ))
    }
}

/// A chained line's place in the chain, whatever its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link<'a> {
    /// The instance.
    pub instance: &'a str,
    /// Its seq.
    pub seq: u64,
    /// The previous line's hash it names.
    pub prev_hash: &'a str,
    /// Its own hash, as written.
    pub hash: &'a str,
}

impl LogLine {
    /// The line's text: compact JSON, no newline. This is the canonical form a
    /// verifier requires.
    pub fn to_json(&self) -> Result<String, ChainError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Parses one line (without its newline).
    pub fn parse(text: &str) -> Result<LogLine, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// For a chained line (record, policy): its link.
    pub fn link(&self) -> Option<Link<'_>> {
        match self {
            LogLine::Record(r) => Some(Link {
                instance: &r.instance,
                seq: r.seq,
                prev_hash: &r.prev_hash,
                hash: &r.hash,
            }),
            LogLine::Policy(p) => Some(Link {
                instance: &p.instance,
                seq: p.seq,
                prev_hash: &p.prev_hash,
                hash: &p.hash,
            }),
            LogLine::Segment(_) | LogLine::Checkpoint(_) => None,
        }
    }

    /// For a chained line: the hash its content gives.
    pub fn recompute_hash(&self) -> Result<Option<String>, ChainError> {
        match self {
            LogLine::Record(r) => r.recompute_hash().map(Some),
            LogLine::Policy(p) => p.recompute_hash().map(Some),
            LogLine::Segment(_) | LogLine::Checkpoint(_) => Ok(None),
        }
    }

    /// The instance the line belongs to.
    pub fn instance(&self) -> &str {
        match self {
            LogLine::Segment(h) => &h.instance,
            LogLine::Record(r) => &r.instance,
            LogLine::Policy(p) => &p.instance,
            LogLine::Checkpoint(c) => &c.instance,
        }
    }
}

/// The hash of a chained line (see the module docs for the encoding).
pub fn line_hash(instance: &str, seq: u64, prev_hash: &str, kind: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(CHAIN_DOMAIN);
    hasher.update([0u8]);
    put_bytes(&mut hasher, instance.as_bytes());
    hasher.update(seq.to_be_bytes());
    put_bytes(&mut hasher, prev_hash.as_bytes());
    put_bytes(&mut hasher, kind.as_bytes());
    put_bytes(&mut hasher, body);
    hex(&hasher.finalize())
}

/// The bytes a checkpoint's signature covers.
pub fn checkpoint_message(
    instance: &str,
    seq: u64,
    hash: &str,
    signed_at: &str,
    reason: &str,
    key_id: &str,
) -> Vec<u8> {
    let mut message = Vec::with_capacity(256);
    message.extend_from_slice(CHECKPOINT_DOMAIN);
    message.push(0);
    message.extend_from_slice(&(instance.len() as u64).to_be_bytes());
    message.extend_from_slice(instance.as_bytes());
    message.extend_from_slice(&seq.to_be_bytes());
    for field in [hash, signed_at, reason, key_id] {
        message.extend_from_slice(&(field.len() as u64).to_be_bytes());
        message.extend_from_slice(field.as_bytes());
    }
    message
}

/// `ed25519:<hex SHA-256 of the 32 public key bytes>`.
pub fn key_id(key: &VerifyingKey) -> String {
    format!("ed25519:{}", sha256_hex(key.as_bytes()))
}

impl Checkpoint {
    /// Signs where `chain` stands now, stamped `signed_at`.
    pub fn sign_at(
        chain: &Chain,
        reason: CheckpointReason,
        key: &SigningKey,
        signed_at: String,
    ) -> Checkpoint {
        let key_id = key_id(&key.verifying_key());
        let message = checkpoint_message(
            &chain.instance,
            chain.seq,
            &chain.hash,
            &signed_at,
            reason.as_str(),
            &key_id,
        );
        let signature = key.sign(&message);
        Checkpoint {
            instance: chain.instance.clone(),
            seq: chain.seq,
            hash: chain.hash.clone(),
            signed_at,
            reason: reason.as_str().to_string(),
            key_id,
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        }
    }

    /// Signs where `chain` stands now, stamped with the current time.
    pub fn sign(chain: &Chain, reason: CheckpointReason, key: &SigningKey) -> Checkpoint {
        let now = super::rfc3339_micros(&time::OffsetDateTime::now_utc());
        Checkpoint::sign_at(chain, reason, key, now)
    }

    /// Checks the signature with whichever of `keys` has its `key_id`.
    pub fn verify(&self, keys: &KeyRing) -> Result<(), ChainError> {
        let key = keys
            .get(&self.key_id)
            .ok_or_else(|| ChainError::UnknownKey(self.key_id.clone()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .map_err(|e| ChainError::MalformedSignature(e.to_string()))?;
        let signature = ed25519_dalek::Signature::from_slice(&bytes)
            .map_err(|e| ChainError::MalformedSignature(e.to_string()))?;
        let message = checkpoint_message(
            &self.instance,
            self.seq,
            &self.hash,
            &self.signed_at,
            &self.reason,
            &self.key_id,
        );
        key.verify(&message, &signature)
            .map_err(|_| ChainError::BadSignature(self.key_id.clone()))
    }
}

/// The public keys a verifier trusts, by key id.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: BTreeMap<String, VerifyingKey>,
}

impl KeyRing {
    /// An empty ring (no checkpoint verifies).
    pub fn new() -> KeyRing {
        KeyRing::default()
    }

    /// Adds a key; returns its id.
    pub fn add(&mut self, key: VerifyingKey) -> String {
        let id = key_id(&key);
        self.keys.insert(id.clone(), key);
        id
    }

    /// The key with this id.
    pub fn get(&self, key_id: &str) -> Option<&VerifyingKey> {
        self.keys.get(key_id)
    }

    /// True when no key was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids of the keys.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::{DecisionRecord, MaskingRecord, RecordSource, RECORD_VERSION};

    /// A record for tests, told apart by `n`.
    pub(crate) fn sample_record(n: u64) -> AuditRecord {
        AuditRecord {
            version: RECORD_VERSION,
            request_id: format!("req-{n}"),
            session_id: "agent-1/2026-11-30".into(),
            source: RecordSource::ExtProc,
            started_at: "2026-11-30T08:00:00.000000Z".into(),
            duration_us: 1000 + n,
            identity: None,
            request: None,
            decision: DecisionRecord {
                outcome: "allow".into(),
                rule: Some("allow-reads".into()),
                policy_hash: "sha256:abc".into(),
                ..DecisionRecord::default()
            },
            approval: None,
            facts: BTreeMap::from([("http.method".into(), "GET".into())]),
            masking: MaskingRecord::default(),
            response: None,
            trace: None,
            capture_sha256: None,
        }
    }

    /// A fixed key for tests.
    pub(crate) fn test_key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn seqs_count_from_one_and_link_to_the_previous_hash() {
        let mut chain = Chain::new("w1");
        let first = chain.append(sample_record(1)).unwrap();
        let second = chain.append(sample_record(2)).unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(first.prev_hash, GENESIS_HASH);
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(chain.seq(), 2);
        assert_eq!(chain.hash(), second.hash);
        assert_eq!(first.recompute_hash().unwrap(), first.hash);
        assert_ne!(first.hash, second.hash);
        assert_eq!(first.hash.len(), 64);
    }

    #[test]
    fn the_hash_covers_instance_seq_prev_hash_and_content() {
        let mut chain = Chain::new("w1");
        let record = chain.append(sample_record(1)).unwrap();
        let mut other_instance = record.clone();
        other_instance.instance = "w2".into();
        let mut other_seq = record.clone();
        other_seq.seq = 2;
        let mut other_prev = record.clone();
        other_prev.prev_hash = "1".repeat(64);
        let mut other_content = record.clone();
        other_content.record.decision.outcome = "deny".into();
        for edited in [other_instance, other_seq, other_prev, other_content] {
            assert_ne!(edited.recompute_hash().unwrap(), record.hash, "{edited:?}");
        }
    }

    #[test]
    fn policy_lines_share_the_seq_space() {
        let mut chain = Chain::new("w1");
        let policy = PolicyVersion {
            policy_hash: String::new(),
            source: "p/a.yaml".into(),
            loaded_at: "2026-11-30T08:00:00Z".into(),
            files: vec![PolicyFile {
                name: "a.yaml".into(),
                sha256: sha256_hex(b"rules: []\n"),
                content: "rules: []\n".into(),
            }],
        };
        let policy = PolicyVersion {
            policy_hash: policy.recomputed_hash(),
            ..policy
        };
        let p = chain.append_policy(policy).unwrap();
        let r = chain.append(sample_record(1)).unwrap();
        assert_eq!((p.seq, r.seq), (1, 2));
        assert_eq!(r.prev_hash, p.hash);
        assert_eq!(p.recompute_hash().unwrap(), p.hash);
        assert!(p.policy.policy_hash.starts_with("sha256:"));
    }

    #[test]
    fn resume_continues_where_a_chain_stood() {
        let mut chain = Chain::new("w1");
        chain.append(sample_record(1)).unwrap();
        let mut resumed = Chain::resume("w1", chain.seq(), chain.hash());
        assert_eq!(
            chain.append(sample_record(2)).unwrap(),
            resumed.append(sample_record(2)).unwrap()
        );
    }

    #[test]
    fn lines_round_trip_in_canonical_form() {
        let mut chain = Chain::new("w1");
        let line = LogLine::Record(chain.append(sample_record(1)).unwrap());
        let text = line.to_json().unwrap();
        assert!(text.starts_with(r#"{"type":"record","instance":"w1","seq":1,"#));
        let parsed = LogLine::parse(&text).unwrap();
        assert_eq!(parsed, line);
        assert_eq!(parsed.to_json().unwrap(), text);
    }

    #[test]
    fn checkpoints_verify_with_the_signing_key_only() {
        let mut chain = Chain::new("w1");
        chain.append(sample_record(1)).unwrap();
        let key = test_key(7);
        let checkpoint = Checkpoint::sign_at(
            &chain,
            CheckpointReason::Count,
            &key,
            "2026-11-30T08:00:00Z".into(),
        );
        assert_eq!(checkpoint.seq, 1);
        assert_eq!(checkpoint.hash, chain.hash());
        assert_eq!(checkpoint.reason, "count");
        let mut keys = KeyRing::new();
        let id = keys.add(key.verifying_key());
        assert_eq!(id, checkpoint.key_id);
        assert!(id.starts_with("ed25519:") && id.len() == 8 + 64);
        checkpoint.verify(&keys).unwrap();

        let mut moved = checkpoint.clone();
        moved.seq = 2;
        assert!(matches!(
            moved.verify(&keys),
            Err(ChainError::BadSignature(_))
        ));

        // Signed by another key that claims the trusted key's id.
        let mut forged = Checkpoint::sign_at(
            &chain,
            CheckpointReason::Count,
            &test_key(8),
            "2026-11-30T08:00:00Z".into(),
        );
        assert!(matches!(
            forged.verify(&keys),
            Err(ChainError::UnknownKey(_))
        ));
        forged.key_id = checkpoint.key_id.clone();
        assert!(matches!(
            forged.verify(&keys),
            Err(ChainError::BadSignature(_))
        ));
    }
}
