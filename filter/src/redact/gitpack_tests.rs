//! Tests of the pack inspector: packs built by real `git pack-objects` and by hand
//! (deltas whose secret only exists once applied), streamed at every split.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use flate2::write::ZlibEncoder;
use flate2::Compression;
use sha1::{Digest, Sha1};

use super::*;

/// An AWS-shaped access key id made for these tests (not a real key).
const AWS_KEY: &str = "AKIAQ3EGRTXW7YHJ5KLB";

/// The default rules, compiled once for all tests (compiling is the slow part).
fn redactor() -> &'static Redactor {
    static REDACTOR: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
    REDACTOR.get_or_init(|| Redactor::with_defaults().expect("default rules compile"))
}

fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Jane Doe")
        .env("GIT_AUTHOR_EMAIL", "jane.doe@example.org")
        .env("GIT_COMMITTER_NAME", "Jane Doe")
        .env("GIT_COMMITTER_EMAIL", "jane.doe@example.org")
        .output()
        .expect("git must be installed to run these tests (apt-get install git)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A repository with a few commits of ordinary source (deltas between versions).
fn repo(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    let base: String = (0..200)
        .map(|i| format!("fn line_{i}() -> u32 {{ {i} }}\n"))
        .collect();
    for round in 0..3 {
        std::fs::write(
            dir.path().join("lib.rs"),
            format!("{base}// round {round}\n"),
        )
        .expect("write");
        git(dir.path(), &["add", "."]);
        git(
            dir.path(),
            &["commit", "-q", "-m", &format!("round {round}")],
        );
    }
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write");
    }
    if !files.is_empty() {
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "more files"]);
    }
    dir
}

/// `git pack-objects` of everything reachable from HEAD.
fn pack_of(dir: &Path, ofs_delta: bool) -> Vec<u8> {
    let mut args = vec!["pack-objects", "--revs", "--stdout", "-q"];
    if ofs_delta {
        args.push("--delta-base-offset");
    }
    let mut child = Command::new("git")
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git must be installed to run these tests");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"HEAD\n")
        .expect("write revs");
    let out = child.wait_with_output().expect("pack-objects");
    assert!(out.status.success());
    out.stdout
}

fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A protocol v0 fetch response: NAK, progress, the pack in band-1 packets of
/// `packet` bytes, flush.
fn sideband(pack: &[u8], packet: usize) -> Vec<u8> {
    let mut out = pkt(b"NAK\n");
    out.extend(pkt(b"\x02Enumerating objects: 12, done.\n"));
    for piece in pack.chunks(packet) {
        let mut payload = vec![1u8];
        payload.extend_from_slice(piece);
        out.extend(pkt(&payload));
    }
    out.extend(pkt(b"\x02Total 12 (delta 3), reused 0 (delta 0)\n"));
    out.extend_from_slice(b"0000");
    out
}

/// Feeds `input` in chunks of `size`; the released bytes, or the error.
fn run_chunks(input: &[u8], size: usize) -> (Vec<u8>, Result<(), GitPackError>) {
    let r = redactor();
    let mut inspector = GitPackInspector::new(Direction::Response);
    let mut out = Vec::new();
    for chunk in input.chunks(size.max(1)) {
        match inspector.push(r, chunk, None) {
            Ok(bytes) => out.extend(bytes),
            Err(err) => {
                out.extend(inspector.take_clean_prefix());
                return (out, Err(err));
            }
        }
    }
    match inspector.finish(r, None) {
        Ok(bytes) => {
            out.extend(bytes);
            (out, Ok(()))
        }
        Err(err) => {
            out.extend(inspector.take_clean_prefix());
            (out, Err(err))
        }
    }
}

fn run_split(input: &[u8], at: usize) -> (Vec<u8>, Result<(), GitPackError>) {
    let r = redactor();
    let mut inspector = GitPackInspector::new(Direction::Response);
    let mut out = Vec::new();
    for chunk in [&input[..at], &input[at..]] {
        match inspector.push(r, chunk, None) {
            Ok(bytes) => out.extend(bytes),
            Err(err) => return (out, Err(err)),
        }
    }
    match inspector.finish(r, None) {
        Ok(bytes) => {
            out.extend(bytes);
            (out, Ok(()))
        }
        Err(err) => (out, Err(err)),
    }
}

#[test]
fn a_clean_fetch_passes_byte_identical_at_every_split() {
    let dir = repo(&[("README.md", "Contact: jane.doe@example.org\n".into())]);
    for ofs in [true, false] {
        let pack = pack_of(dir.path(), ofs);
        let stream = sideband(&pack, 1000);
        for at in 0..=stream.len() {
            let (out, result) = run_split(&stream, at);
            assert_eq!(result, Ok(()), "split at {at}");
            assert!(out == stream, "split at {at}: output differs");
        }
        for size in [1, 2, 3, 7, 64, 4096] {
            let (out, result) = run_chunks(&stream, size);
            assert_eq!(result, Ok(()), "chunks of {size}");
            assert!(out == stream, "chunks of {size}: output differs");
        }
    }
}

#[test]
fn a_raw_pack_without_side_band_is_read_too() {
    let dir = repo(&[]);
    let pack = pack_of(dir.path(), true);
    let mut stream = pkt(b"NAK\n");
    stream.extend_from_slice(&pack);
    let (out, result) = run_chunks(&stream, 5);
    assert_eq!(result, Ok(()));
    assert!(out == stream);

    let secret = repo(&[("creds", format!("aws_access_key_id = {AWS_KEY}\n"))]);
    let mut stream = pkt(b"NAK\n");
    stream.extend_from_slice(&pack_of(secret.path(), true));
    let (_, result) = run_chunks(&stream, 5);
    assert!(
        matches!(result, Err(GitPackError::Secret { .. })),
        "{result:?}"
    );
}

/// Where git put the blob with `content` in `pack` (from `git verify-pack`).
fn blob_offset(dir: &Path, pack: &[u8], content: &str) -> usize {
    let id = {
        let mut h = Sha1::new();
        h.update(format!("blob {}\0", content.len()).as_bytes());
        h.update(content.as_bytes());
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let packs = tempfile::tempdir().expect("tempdir");
    let file = packs.path().join("p.pack");
    std::fs::write(&file, pack).expect("write pack");
    let file = file.to_string_lossy().into_owned();
    git(dir, &["index-pack", &file]);
    let idx = file.replace(".pack", ".idx");
    let listing = String::from_utf8(git(dir, &["verify-pack", "-v", &idx])).expect("utf8");
    let line = listing
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("blob in pack");
    line.split_whitespace()
        .nth(4)
        .and_then(|o| o.parse().ok())
        .expect("offset column")
}

#[test]
fn a_committed_secret_refuses_the_fetch_before_its_object_goes() {
    let content = format!("[default]\naws_access_key_id = {AWS_KEY}\nregion = eu-west-1\n");
    let dir = repo(&[("credentials", content.clone())]);
    let pack = pack_of(dir.path(), true);
    let offset = blob_offset(dir.path(), &pack, &content);
    // Packets of 7 bytes: the secret's zlib stream spans many side-band packets.
    let stream = sideband(&pack, 7);
    for size in [1, 13, 500, stream.len()] {
        let (out, result) = run_chunks(&stream, size);
        match &result {
            Err(GitPackError::Secret { object, rules }) => {
                assert_eq!(*object, ObjectKind::Blob);
                assert!(rules.iter().any(|r| r.contains("aws")), "{rules:?}");
            }
            other => panic!("chunks of {size}: {other:?}"),
        }
        // Released: whole packets only, and none past the start of the secret's entry
        // (each 7-byte pack piece costs 5 bytes of framing; NAK and progress before).
        let pack_bytes_released = out.len().saturating_sub(
            pkt(b"NAK\n").len() + pkt(b"\x02Enumerating objects: 12, done.\n").len(),
        ) / 12
            * 7;
        assert!(
            pack_bytes_released <= offset,
            "{pack_bytes_released} pack bytes released, secret entry at {offset}"
        );
        assert!(stream.starts_with(&out));
    }
}

#[test]
fn a_kubernetes_secret_manifest_refuses_the_fetch() {
    let manifest = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n\
                    data:\n  STRIPE: c2tfbGl2ZV81MXFhejJ3c3gzZWRjNHJmdjV0Z2I2eWhuN3VqbQ==\n";
    let dir = repo(&[("secret.yaml", manifest.into())]);
    let (_, result) = run_chunks(&sideband(&pack_of(dir.path(), true), 65515), 8192);
    assert!(
        matches!(
            &result,
            Err(GitPackError::Secret {
                object: ObjectKind::Blob,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn a_secret_in_a_commit_message_refuses_the_fetch() {
    let dir = repo(&[]);
    git(
        dir.path(),
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            &format!("rotate key\n\naws_access_key_id={AWS_KEY}"),
        ],
    );
    let (_, result) = run_chunks(&sideband(&pack_of(dir.path(), true), 1000), 333);
    assert!(
        matches!(
            &result,
            Err(GitPackError::Secret {
                object: ObjectKind::Commit,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn a_secret_in_a_progress_message_refuses_the_fetch() {
    let dir = repo(&[]);
    let pack = pack_of(dir.path(), true);
    let mut stream = pkt(b"NAK\n");
    // Split over two progress packets.
    stream.extend(pkt(format!("\x02remote: key {}", &AWS_KEY[..9]).as_bytes()));
    stream.extend(pkt(format!("\x02{}\n", &AWS_KEY[9..]).as_bytes()));
    let mut body = vec![1u8];
    body.extend_from_slice(&pack);
    stream.extend(pkt(&body));
    stream.extend_from_slice(b"0000");
    let (_, result) = run_chunks(&stream, 4096);
    assert!(
        matches!(&result, Err(GitPackError::SecretInMessage { .. })),
        "{result:?}"
    );
}

// --- Packs built by hand: deltas whose secret exists only once applied. ---

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}

fn entry_header(type_code: u8, size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut byte = (type_code << 4) | (size as u8 & 0x0f);
    let mut rest = size >> 4;
    while rest > 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
    out
}

fn ofs_encode(mut back: u64) -> Vec<u8> {
    let mut bytes = vec![(back & 0x7f) as u8];
    back >>= 7;
    while back > 0 {
        back -= 1;
        bytes.push(0x80 | (back & 0x7f) as u8);
        back >>= 7;
    }
    bytes.reverse();
    bytes
}

fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// A delta: copy `base[..copy]`, then insert `insert`.
fn delta(base_len: usize, copy: usize, insert: &[u8]) -> Vec<u8> {
    let mut d = varint(base_len);
    d.extend(varint(copy + insert.len()));
    // Copy: offset 0 (no offset bytes), size in one or two bytes.
    d.push(0x80 | 0x10 | 0x20);
    d.push((copy & 0xff) as u8);
    d.push(((copy >> 8) & 0xff) as u8);
    for piece in insert.chunks(127) {
        d.push(piece.len() as u8);
        d.extend_from_slice(piece);
    }
    d
}

enum Hand<'a> {
    Blob(&'a [u8]),
    /// OFS_DELTA on the entry `index` entries earlier.
    Ofs(usize, Vec<u8>),
    /// REF_DELTA on an object id.
    Ref([u8; 20], Vec<u8>),
}

fn hand_pack(entries: &[Hand<'_>]) -> Vec<u8> {
    let mut pack = b"PACK".to_vec();
    pack.extend(2u32.to_be_bytes());
    pack.extend((entries.len() as u32).to_be_bytes());
    let mut offsets = Vec::new();
    for entry in entries {
        let start = pack.len();
        match entry {
            Hand::Blob(data) => {
                pack.extend(entry_header(3, data.len()));
                pack.extend(zlib(data));
            }
            Hand::Ofs(back, d) => {
                let base: usize = offsets[offsets.len() - back];
                pack.extend(entry_header(6, d.len()));
                pack.extend(ofs_encode((start - base) as u64));
                pack.extend(zlib(d));
            }
            Hand::Ref(id, d) => {
                pack.extend(entry_header(7, d.len()));
                pack.extend_from_slice(id);
                pack.extend(zlib(d));
            }
        }
        offsets.push(start);
    }
    let sum = Sha1::digest(&pack);
    pack.extend_from_slice(&sum);
    pack
}

fn blob_id(data: &[u8]) -> [u8; 20] {
    object_id(ObjectKind::Blob, data)
}

#[test]
fn a_secret_assembled_by_an_ofs_delta_is_found() {
    // The base ends with the key's first half; the delta appends the second half.
    let base = format!(
        "{}aws_access_key_id = {}",
        "x\n".repeat(300),
        &AWS_KEY[..10]
    );
    let d = delta(
        base.len(),
        base.len(),
        format!("{}\n", &AWS_KEY[10..]).as_bytes(),
    );
    let pack = hand_pack(&[Hand::Blob(base.as_bytes()), Hand::Ofs(1, d)]);
    for size in [1, 9, pack.len()] {
        let (out, result) = run_chunks(&pack, size);
        assert!(
            matches!(
                &result,
                Err(GitPackError::Secret {
                    object: ObjectKind::Blob,
                    ..
                })
            ),
            "{result:?}"
        );
        // The base was clean and went; nothing of the delta did.
        assert!(out.len() < pack.len() - 20);
    }
}

#[test]
fn a_secret_assembled_by_a_ref_delta_on_an_object_in_the_pack_is_found() {
    let base = format!(
        "{}aws_access_key_id = {}",
        "y\n".repeat(300),
        &AWS_KEY[..10]
    );
    let d = delta(
        base.len(),
        base.len(),
        format!("{}\n", &AWS_KEY[10..]).as_bytes(),
    );
    let pack = hand_pack(&[
        Hand::Blob(base.as_bytes()),
        Hand::Ref(blob_id(base.as_bytes()), d),
    ]);
    let (_, result) = run_chunks(&pack, 4);
    assert!(
        matches!(
            &result,
            Err(GitPackError::Secret {
                object: ObjectKind::Blob,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn a_thin_pack_delta_is_read_by_what_it_inserts() {
    let missing = [7u8; 20];
    let d = delta(
        100,
        50,
        format!("\naws_access_key_id = {AWS_KEY}\n").as_bytes(),
    );
    let pack = hand_pack(&[Hand::Ref(missing, d)]);
    let (_, result) = run_chunks(&pack, 3);
    assert!(
        matches!(
            &result,
            Err(GitPackError::Secret {
                object: ObjectKind::Delta,
                ..
            })
        ),
        "{result:?}"
    );
    // And a clean thin delta passes.
    let d = delta(100, 50, b"\nfn main() {}\n");
    let pack = hand_pack(&[Hand::Ref(missing, d)]);
    let (out, result) = run_chunks(&pack, 3);
    assert_eq!(result, Ok(()));
    assert!(out == pack);
}

#[test]
fn a_clean_hand_built_delta_passes() {
    let base = "z\n".repeat(400);
    let d = delta(base.len(), 300, b"tail of the file\n");
    let pack = hand_pack(&[Hand::Blob(base.as_bytes()), Hand::Ofs(1, d)]);
    let (out, result) = run_chunks(&pack, 11);
    assert_eq!(result, Ok(()));
    assert!(out == pack);
}

// --- Fail closed. ---

#[test]
fn corrupt_truncated_and_oversized_packs_are_refused() {
    let dir = repo(&[]);
    let pack = pack_of(dir.path(), true);

    // Every single flipped byte past the header is refused, or (if it only hits
    // checksummed data zlib cannot tell) caught by the pack checksum.
    for at in (12..pack.len()).step_by(7) {
        let mut bad = pack.clone();
        bad[at] ^= 0x5a;
        let (_, result) = run_chunks(&bad, 4096);
        assert!(result.is_err(), "flipped byte {at} passed");
    }
    // Truncated anywhere: refused at the end (and never released whole).
    for cut in [1, 5, 12, 13, pack.len() / 2, pack.len() - 1] {
        let (out, result) = run_chunks(&pack[..cut], 100);
        assert!(result.is_err(), "cut at {cut} passed");
        assert!(out.len() < cut || cut <= 12);
    }
    // Truncated inside a pkt-line.
    let stream = sideband(&pack, 1000);
    let (_, result) = run_chunks(&stream[..stream.len() - 3], 100);
    assert!(
        matches!(result, Err(GitPackError::Truncated(_))),
        "{result:?}"
    );
    // Not a pkt-line.
    let (_, result) = run_chunks(b"zzzz", 100);
    assert!(
        matches!(result, Err(GitPackError::Malformed(_))),
        "{result:?}"
    );
    // Data after the pack.
    let mut extra = pack.clone();
    extra.extend_from_slice(b"more");
    let (_, result) = run_chunks(&extra, 100);
    assert!(result.is_err());

    // An object that says it inflates past the limit.
    let mut big = b"PACK".to_vec();
    big.extend(2u32.to_be_bytes());
    big.extend(1u32.to_be_bytes());
    big.extend(entry_header(3, MAX_OBJECT_BYTES + 1));
    let (_, result) = run_chunks(&big, 100);
    assert_eq!(result, Err(GitPackError::ObjectTooLarge));

    // A zlib stream that inflates past its declared size.
    let mut lying = b"PACK".to_vec();
    lying.extend(2u32.to_be_bytes());
    lying.extend(1u32.to_be_bytes());
    lying.extend(entry_header(3, 10));
    lying.extend(zlib(&[b'a'; 5000]));
    let (_, result) = run_chunks(&lying, 100);
    assert!(
        matches!(result, Err(GitPackError::Malformed(_))),
        "{result:?}"
    );
}

#[test]
fn an_expired_deadline_stops_inspection() {
    let dir = repo(&[]);
    let pack = pack_of(dir.path(), true);
    let r = redactor();
    let mut inspector = GitPackInspector::new(Direction::Response);
    let past = Instant::now()
        .checked_sub(std::time::Duration::from_secs(1))
        .expect("clock");
    let result = inspector.push(r, &sideband(&pack, 1000), Some(past));
    assert_eq!(result, Err(GitPackError::DeadlinePassed));
    // And it stays stopped.
    assert!(inspector.push(r, b"0000", None).is_err());
}

#[test]
fn the_refusal_is_a_side_band_error_git_prints() {
    let message = GitPackError::Secret {
        object: ObjectKind::Blob,
        rules: vec!["aws-access-token".into()],
    }
    .message(Direction::Response);
    assert!(message.contains("Warden refused this fetch"));
    assert!(message.contains("aws-access-token"));
    let packet = refusal_packet(&message);
    let len =
        usize::from_str_radix(std::str::from_utf8(&packet[..4]).expect("hex"), 16).expect("length");
    assert_eq!(packet[4], 3);
    assert_eq!(len, packet.len() - 4);
    assert!(packet.ends_with(b"\n0000"));
}

#[test]
fn git_pack_media_types() {
    assert!(is_git_pack_media("application/x-git-upload-pack-result"));
    assert!(is_git_pack_media(
        "Application/X-Git-Receive-Pack-Request; x=y"
    ));
    assert!(!is_git_pack_media(
        "application/x-git-upload-pack-advertisement"
    ));
    assert!(!is_git_pack_media("application/octet-stream"));
}

#[test]
fn a_protocol_v2_refusal_keeps_the_packfile_header_ahead_of_the_error() {
    let secret = repo(&[("creds", format!("aws_access_key_id = {AWS_KEY}\n"))]);
    let pack = pack_of(secret.path(), true);
    let mut stream = pkt(b"packfile\n");
    for piece in pack.chunks(65000) {
        let mut payload = vec![1u8];
        payload.extend_from_slice(piece);
        stream.extend(pkt(&payload));
    }
    stream.extend_from_slice(b"0000");
    // One chunk, as a buffered body arrives: the header was inspected and still goes.
    let (out, result) = run_chunks(&stream, stream.len());
    assert!(
        matches!(result, Err(GitPackError::Secret { .. })),
        "{result:?}"
    );
    assert!(
        out == pkt(b"packfile\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}
