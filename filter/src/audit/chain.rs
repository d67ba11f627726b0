//! The hash chain: each record numbered and hashed over the previous record's hash,
//! with signed checkpoints.

use serde::{Deserialize, Serialize};

use super::record::AuditRecord;

/// A record in the chain of one Warden instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainedRecord {
    /// The instance whose chain this is.
    pub instance: String,
    /// 1, 2, 3… with no gaps, per instance.
    pub seq: u64,
    /// The previous record's `hash` (the genesis value for seq 1).
    pub prev_hash: String,
    /// SHA-256 over this record's seq, prev_hash and content.
    pub hash: String,
    /// The record.
    pub record: AuditRecord,
}

/// A signed statement that the chain of `instance` reached `seq` with `hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The instance whose chain this is.
    pub instance: String,
    /// The last record covered.
    pub seq: u64,
    /// That record's hash.
    pub hash: String,
    /// When it was signed (RFC 3339).
    pub signed_at: String,
    /// Why it was written: `count`, `interval`, `seal` (segment closed) or `shutdown`.
    pub reason: String,
    /// Fingerprint of the public key that signs (`ed25519:<sha256 of the key, hex>`).
    pub key_id: String,
    /// Ed25519 signature, base64.
    pub signature: String,
}
