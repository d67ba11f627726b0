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
///
/// Every standard decoder reads every gzip member and every zstd frame of a body, so all
/// are decoded here too (zstd skippable frames are skipped, as decoders do). Bytes after
/// the end of a stream that no decoder would read as more of it (garbage after a deflate
/// or brotli stream, after a gzip member, after the last zstd frame) are an error, not
/// silently ignored: decoders disagree on them, and what Warden did not read must not pass.
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
    if bytes.is_empty() && DECODABLE.contains(&coding) {
        // An empty body holds nothing, whatever it is labelled.
        return Ok(Vec::new());
    }
    match coding {
        "gzip" | "x-gzip" => decode_gzip(bytes, max),
        "deflate" => {
            // RFC 9110 says zlib-wrapped; some servers send raw deflate. A zlib stream starts
            // with a header whose 16-bit value is a multiple of 31 and method 8.
            let zlib = bytes.len() >= 2
                && bytes[0] & 0x0f == 8
                && (u16::from(bytes[0]) << 8 | u16::from(bytes[1])) % 31 == 0;
            let mut input = bytes;
            let out = if zlib {
                let mut decoder = flate2::bufread::ZlibDecoder::new(&mut input);
                read_capped("deflate", &mut decoder, max)?
            } else {
                let mut decoder = flate2::bufread::DeflateDecoder::new(&mut input);
                read_capped("deflate", &mut decoder, max)?
            };
            no_trailing("deflate", input)?;
            Ok(out)
        }
        "br" => decode_brotli(bytes, max),
        "zstd" => decode_zstd(bytes, max),
        other => Err(DecodeError::Unsupported(other.to_string())),
    }
}

/// Every gzip member, and nothing after the last.
fn decode_gzip(bytes: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let mut input = bytes;
    loop {
        let mut decoder = flate2::bufread::GzDecoder::new(&mut input);
        let member = read_capped("gzip", &mut decoder, max.saturating_sub(out.len()))?;
        out.extend_from_slice(&member);
        if input.is_empty() {
            return Ok(out);
        }
        if !input.starts_with(&[0x1f, 0x8b]) {
            return Err(trailing("gzip"));
        }
    }
}

/// One brotli stream, and nothing after it.
fn decode_brotli(bytes: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
    let mut state = BrotliState::new(
        StandardAlloc::default(),
        StandardAlloc::default(),
        StandardAlloc::default(),
    );
    let mut out = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let (mut available_in, mut input_offset) = (bytes.len(), 0usize);
    let mut total_out = 0usize;
    loop {
        let (mut available_out, mut output_offset) = (buffer.len(), 0usize);
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            bytes,
            &mut available_out,
            &mut output_offset,
            &mut buffer,
            &mut total_out,
            &mut state,
        );
        out.extend_from_slice(&buffer[..output_offset]);
        if out.len() > max {
            return Err(DecodeError::TooLarge { limit: max });
        }
        match result {
            BrotliResult::NeedsMoreOutput => continue,
            BrotliResult::ResultSuccess => {
                return if input_offset < bytes.len() {
                    Err(trailing("br"))
                } else {
                    Ok(out)
                };
            }
            BrotliResult::NeedsMoreInput => {
                return Err(DecodeError::Corrupt {
                    encoding: "br",
                    reason: "the stream is cut short".into(),
                })
            }
            BrotliResult::ResultFailure => {
                return Err(DecodeError::Corrupt {
                    encoding: "br",
                    reason: "invalid brotli data".into(),
                })
            }
        }
    }
}

/// The content codings Warden decodes.
const DECODABLE: [&str; 5] = ["gzip", "x-gzip", "deflate", "br", "zstd"];

/// First byte of a skippable zstd frame's magic number (`0x184D2A5?`, little-endian).
fn is_skippable_zstd(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[0] & 0xf0 == 0x50 && bytes[1..4] == [0x2a, 0x4d, 0x18]
}

/// Every zstd frame (skippable frames skipped), each checked against its checksum
/// when it has one, and nothing after the last.
fn decode_zstd(bytes: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let corrupt = |reason: String| DecodeError::Corrupt {
        encoding: "zstd",
        reason,
    };
    let mut out = Vec::new();
    let mut input = bytes;
    while !input.is_empty() {
        if is_skippable_zstd(input) {
            let size = input
                .get(4..8)
                .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
                .ok_or_else(|| corrupt("a skippable frame is cut short".into()))?;
            input = input
                .get(8 + size..)
                .ok_or_else(|| corrupt("a skippable frame is cut short".into()))?;
            continue;
        }
        let mut decoder = ruzstd::decoding::StreamingDecoder::new(&mut input).map_err(|e| {
            if out.is_empty() {
                corrupt(e.to_string())
            } else {
                trailing("zstd")
            }
        })?;
        let frame = read_capped("zstd", &mut decoder, max.saturating_sub(out.len()))?;
        let frame_decoder = decoder.into_frame_decoder();
        if let (Some(sent), Some(computed)) = (
            frame_decoder.get_checksum_from_data(),
            frame_decoder.get_calculated_checksum(),
        ) {
            if sent != computed {
                return Err(corrupt(
                    "a frame's checksum does not match its content".into(),
                ));
            }
        }
        out.extend_from_slice(&frame);
    }
    Ok(out)
}

fn trailing(encoding: &'static str) -> DecodeError {
    DecodeError::Corrupt {
        encoding,
        reason: "bytes follow the end of the compressed data".into(),
    }
}

fn no_trailing(encoding: &'static str, rest: &[u8]) -> Result<(), DecodeError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(trailing(encoding))
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

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).expect("write");
        gz.finish().expect("finish")
    }

    /// A zstd frame of raw blocks (single segment, 4-byte content size, optional checksum).
    fn zstd_frame(data: &[u8], checksum: Option<u32>) -> Vec<u8> {
        let mut out = vec![
            0x28,
            0xb5,
            0x2f,
            0xfd,
            0b1010_0000 | (u8::from(checksum.is_some()) << 2),
        ];
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        let header = 1u32 | ((data.len() as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(data);
        if let Some(sum) = checksum {
            out.extend_from_slice(&sum.to_le_bytes());
        }
        out
    }

    #[test]
    fn every_zstd_frame_is_decoded_and_skippable_frames_skipped() {
        let two = [
            zstd_frame(b"SELECT 1;", None),
            zstd_frame(b" DROP TABLE t", None),
        ]
        .concat();
        assert_eq!(
            decode_body("zstd", &two, 1 << 20).unwrap(),
            b"SELECT 1; DROP TABLE t"
        );
        let skippable = [
            zstd_frame(b"a", None),
            vec![0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, b'x', b'y', b'z'],
            zstd_frame(b"b", None),
        ]
        .concat();
        assert_eq!(decode_body("zstd", &skippable, 1 << 20).unwrap(), b"ab");
        // The fixture made by a real encoder, twice.
        let fixture = unhex(ZSTD);
        let twice = [fixture.clone(), fixture].concat();
        assert_eq!(
            decode_body("zstd", &twice, 1 << 20).unwrap(),
            [TEXT, TEXT].concat()
        );
        // Garbage after the last frame, a cut skippable frame, a wrong checksum: refused.
        for bad in [
            [zstd_frame(b"a", None), b"garbage".to_vec()].concat(),
            [
                zstd_frame(b"a", None),
                vec![0x50, 0x2a, 0x4d, 0x18, 9, 0, 0, 0, 1],
            ]
            .concat(),
            zstd_frame(b"a", Some(12345)),
        ] {
            assert!(decode_body("zstd", &bad, 1 << 20).is_err(), "{bad:?}");
        }
        // The cap counts every frame.
        let many = [
            zstd_frame(&[b'a'; 600], None),
            zstd_frame(&[b'b'; 600], None),
        ]
        .concat();
        assert!(matches!(
            decode_body("zstd", &many, 1000),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn every_gzip_member_is_decoded_and_trailing_bytes_refused() {
        let two = [gz(b"SELECT 1;"), gz(b" DROP TABLE t")].concat();
        assert_eq!(
            decode_body("gzip", &two, 1 << 20).unwrap(),
            b"SELECT 1; DROP TABLE t"
        );
        let garbage = [gz(b"SELECT 1;"), b" DROP TABLE t".to_vec()].concat();
        assert!(decode_body("gzip", &garbage, 1 << 20).is_err());
        let zeros = [gz(b"SELECT 1;"), vec![0; 8]].concat();
        assert!(decode_body("gzip", &zeros, 1 << 20).is_err());
    }

    #[test]
    fn bytes_after_a_deflate_or_brotli_stream_are_refused() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(TEXT).expect("write");
        let z = z.finish().expect("finish");
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(TEXT).expect("write");
        let raw = raw.finish().expect("finish");
        for stream in [z, raw] {
            assert_eq!(decode_body("deflate", &stream, 1 << 20).unwrap(), TEXT);
            let extra = [stream, b" DROP TABLE t".to_vec()].concat();
            assert!(decode_body("deflate", &extra, 1 << 20).is_err());
        }
        let br = unhex(BR);
        let extra = [br.clone(), b" DROP TABLE t".to_vec()].concat();
        assert!(decode_body("br", &extra, 1 << 20).is_err());
        assert!(
            decode_body("br", &br[..br.len() - 3], 1 << 20).is_err(),
            "cut short"
        );
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
