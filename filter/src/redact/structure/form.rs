//! Percent-decoding of forms and query strings before scanning.
//!
//! `%XX` is decoded into the byte a server reads, so `token=sk%5Flive%5F...` is scanned as
//! `sk_live_...`. Escapes of the bytes that give a form its shape (`&`, `=`, `;`, `#`,
//! `%`, `+`), of whitespace and of control bytes stay escaped: the engine must still see
//! where a pair ends, and a value must not end early at a decoded space. `+` stays `+`
//! for the same reason.

use super::stream::{NText, Piece, PieceOut};

/// The form normaliser of one body.
#[derive(Debug, Default)]
pub(crate) struct FormNormalizer {
    pend: [u8; 3],
    pend_len: usize,
    pend_raw: u64,
    raw_pos: u64,
}

/// Bytes whose escape is kept as it is.
fn keep_escaped(b: u8) -> bool {
    b <= 0x20 || b == 0x7f || matches!(b, b'&' | b'=' | b';' | b'#' | b'%' | b'+')
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

impl FormNormalizer {
    pub(crate) fn push(&mut self, raw: &[u8], out: &mut NText) {
        let mut i = 0;
        while i < raw.len() {
            if self.pend_len > 0 {
                let b = raw[i];
                if !b.is_ascii_hexdigit() {
                    self.flush(out);
                    continue;
                }
                self.pend[self.pend_len] = b;
                self.pend_len += 1;
                i += 1;
                self.raw_pos += 1;
                if self.pend_len == 3 {
                    self.resolve(out);
                }
                continue;
            }
            let rest = &raw[i..];
            let stop = memchr::memchr(b'%', rest).unwrap_or(rest.len());
            out.n.extend_from_slice(&rest[..stop]);
            i += stop;
            self.raw_pos += stop as u64;
            if stop < rest.len() {
                self.pend[0] = b'%';
                self.pend_len = 1;
                self.pend_raw = self.raw_pos;
                i += 1;
                self.raw_pos += 1;
            }
        }
    }

    pub(crate) fn finish(&mut self, out: &mut NText) {
        self.flush(out);
    }

    fn flush(&mut self, out: &mut NText) {
        out.n.extend_from_slice(&self.pend[..self.pend_len]);
        self.pend_len = 0;
    }

    fn resolve(&mut self, out: &mut NText) {
        let v = hex_val(self.pend[1]) << 4 | hex_val(self.pend[2]);
        self.pend_len = 0;
        if keep_escaped(v) {
            out.n.extend_from_slice(&self.pend);
            return;
        }
        let n_start = out.pos();
        out.n.push(v);
        out.pieces.push_back(Piece {
            n_start,
            n_end: n_start + 1,
            raw_start: self.pend_raw,
            raw_end: self.pend_raw + 3,
            out: PieceOut::inline(&self.pend),
            finding: None,
        });
    }
}
