//! The session capture of one exchange: masked headers and bodies, for the replay.
//!
//! Nothing unmasked goes in: bodies are captured after masking, header values pass
//! through the redactor, and credential headers are never kept.

use serde::{Deserialize, Serialize};

/// How much of an exchange a session keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSettings {
    /// Bytes of each (masked) body kept; the rest is counted, not kept.
    pub max_body_bytes: usize,
}

/// Masked headers and bodies of one exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeCapture {
    /// Request headers, masked.
    #[serde(default)]
    pub request_headers: Vec<(String, String)>,
    /// Response headers, masked.
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
}
