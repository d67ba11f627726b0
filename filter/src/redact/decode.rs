//! Decompression of bodies that arrive compressed despite Warden stripping `accept-encoding`
//! (a body is never passed unread). Output is capped so a zip bomb cannot exhaust memory.

use std::io::Read;

/// Default cap on a decoded body: 64 MiB.
pub const DEFAULT_MAX_DECODED: usize = 64 * 1024 * 1024;

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The `content-encoding` is not one Warden can read; the caller must not pass the body.
    #[error("unsupported content-encoding {0:?}")]
    Unsupported(String),
    /// The decoded body would exceed the cap.
    #[error("decoded body exceeds {limit} bytes")]
    TooLarge {
        /// The cap that was hit.
        limit: usize,
    },
    /// The compressed stream is corrupt.
    #[error("corrupt {encoding} body: {reason}")]
    Corrupt {
        /// The encoding being decoded.
        encoding: &'static str,
        /// Decoder message.
        reason: String,
    },
}

/// Decodes `bytes` per a `content-encoding` header value. Handles `gzip`/`x-gzip`, `deflate`
/// (zlib-wrapped, or raw as some servers send), `br`, `zstd` and `identity`, and lists such
/// as `gzip, br` (applied in order, so decoded in reverse). Output longer than `max` fails
/// with [`DecodeError::TooLarge`].
pub fn decode_body(encoding: &str, bytes: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let codings: Vec<String> = encoding
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "identity")
        .collect();
    let mut data = bytes.to_vec();
    for coding in codings.iter().rev() {
        data = decode_one(coding, &data, max)?;
    }
    if data.len() > max {
        return Err(DecodeError::TooLarge { limit: max });
    }
    Ok(data)
}

fn decode_one(coding: &str, bytes: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    match coding {
        "gzip" | "x-gzip" => read_capped("gzip", flate2::read::MultiGzDecoder::new(bytes), max),
        "deflate" => {
            // RFC 9110 says zlib-wrapped; some servers send raw deflate. A zlib stream starts
            // with a header whose 16-bit value is a multiple of 31 and method 8.
            let zlib = bytes.len() >= 2
                && bytes[0] & 0x0f == 8
                && (u16::from(bytes[0]) << 8 | u16::from(bytes[1])) % 31 == 0;
            if zlib {
                read_capped("deflate", flate2::read::ZlibDecoder::new(bytes), max)
            } else {
                read_capped("deflate", flate2::read::DeflateDecoder::new(bytes), max)
            }
        }
        "br" => read_capped(
            "br",
            brotli_decompressor::Decompressor::new(bytes, 64 * 1024),
            max,
        ),
        "zstd" => {
            let dec = ruzstd::decoding::StreamingDecoder::new(bytes).map_err(|e| {
                DecodeError::Corrupt {
                    encoding: "zstd",
                    reason: e.to_string(),
                }
            })?;
            read_capped("zstd", dec, max)
        }
        other => Err(DecodeError::Unsupported(other.to_string())),
    }
}

fn read_capped(encoding: &'static str, r: impl Read, max: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    // Read one byte past the cap to tell "exactly max" from "more than max".
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt {
            encoding,
            reason: e.to_string(),
        })?;
    if out.len() > max {
        return Err(DecodeError::TooLarge { limit: max });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"{\"token\":\"ghp_abc\"} hello hello hello hello";

    #[test]
    fn gzip_and_deflate_roundtrip() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(TEXT).expect("write");
        let gz = gz.finish().expect("finish");
        assert_eq!(decode_body("gzip", &gz, 1 << 20).expect("gzip"), TEXT);

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(TEXT).expect("write");
        let z = z.finish().expect("finish");
        assert_eq!(decode_body("deflate", &z, 1 << 20).expect("zlib"), TEXT);

        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(TEXT).expect("write");
        let raw = raw.finish().expect("finish");
        assert_eq!(
            decode_body("deflate", &raw, 1 << 20).expect("raw deflate"),
            TEXT
        );
    }

    // Fixtures made with Python's `brotli` and `zstandard` packages from `TEXT`.
    const BR: &str =
        "1b2a00f88dd462cd19eea437bc5eed7e8464c78a5fe9f4d52453d501b0787400189e47161a5b5a";
    const ZSTD: &str =
        "28b52ffd202bfd0000c87b22746f6b656e223a226768705f616263227d2068656c6c6f0100c52b63";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect()
    }

    #[test]
    fn brotli_and_zstd() {
        assert_eq!(decode_body("br", &unhex(BR), 1 << 20).expect("br"), TEXT);
        assert_eq!(
            decode_body("zstd", &unhex(ZSTD), 1 << 20).expect("zstd"),
            TEXT
        );
    }

    #[test]
    fn bombs_are_capped() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).expect("write");
        let gz = gz.finish().expect("finish");
        assert!(gz.len() < 64 * 1024);
        assert!(matches!(
            decode_body("gzip", &gz, 1024 * 1024),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn layered_and_unknown() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(TEXT).expect("write");
        let gz = gz.finish().expect("finish");
        assert_eq!(
            decode_body("identity, gzip", &gz, 1 << 20).expect("list"),
            TEXT
        );
        assert!(matches!(
            decode_body("compress", TEXT, 1 << 20),
            Err(DecodeError::Unsupported(_))
        ));
        assert!(decode_body("gzip", b"not gzip", 1 << 20).is_err());
    }
}
