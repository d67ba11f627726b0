//! git over HTTP: is a request a fetch or a push, and which refs does a push change.
//!
//! **Requests** ([`classify_git_request`]). Smart HTTP has two services — upload-pack
//! (fetch/clone, a read) and receive-pack (push, a write) — each in two phases:
//! `GET {repo}/info/refs?service=git-{service}` (the ref advertisement) and
//! `POST {repo}/git-{service}` (the RPC). A dumb-HTTP `GET {repo}/info/refs` without a
//! service is an upload-pack advertisement. The service parameter may be repeated or
//! percent-encoded: if any value mentions `receive` (any case), or cannot be decoded,
//! it is receive-pack. Path suffixes are compared case-insensitively and the method is
//! not consulted for them (a server that refuses the wrong method refuses it anyway;
//! one that does not must not see a push classified as a read). Dumb-HTTP *pushes* go
//! through WebDAV (`PUT`/`MKCOL`/`MOVE`/`LOCK`/... under `{repo}.git/`); those are
//! reported as a receive-pack RPC too, whose body ([`parse_receive_pack_commands`])
//! will not parse, so the caller holds them.
//!
//! **Push commands** ([`parse_receive_pack_commands`]). A receive-pack request body is
//! pkt-lines (four hex digits giving the length including themselves; `0000` is a
//! flush): optional `shallow <oid>` lines, then `<old-oid> SP <new-oid> SP <refname>`
//! commands (the first followed by `NUL` and the capability list), then a flush, then
//! the packfile, which is ignored. A signed push instead sends a push certificate
//! (`push-cert NUL caps`, header lines, a blank line, the commands, a signature,
//! `push-cert-end`) and the commands are read from inside it. This follows git's own
//! `receive-pack` (`read_head_info`, `queue_command`, `queue_commands_from_cert`).
//! Object ids are 40 (SHA-1) or 64 (SHA-256) hex digits, the same length throughout.
//!
//! Anything git would reject, or that another server might read differently, is
//! [`GitParseError::Malformed`] so the caller denies or holds it: a delimiter packet
//! in the command list, a second push certificate, a signature marker inside the
//! certificate header, a refname git's `check_refname_format` refuses (a server that
//! "repaired" `refs/heads//main` would update `refs/heads/main`), a refname that is not
//! UTF-8. A body that ends before the command list's flush is
//! [`GitParseError::Incomplete`]. The body must already be decoded from any
//! `Content-Encoding`: a gzip body is `Malformed`.

use serde::{Deserialize, Serialize};

/// Which git service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GitService {
    /// `git-upload-pack`: fetch or clone (a read).
    UploadPack,
    /// `git-receive-pack`: push (a write).
    ReceivePack,
}

/// Which step of the smart HTTP exchange a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GitPhase {
    /// `GET {repo}/info/refs[?service=...]`: the server lists its refs.
    Advertisement,
    /// `POST {repo}/git-{service}` (or a WebDAV write of a dumb push): the operation.
    Rpc,
    /// A git hosting REST API call that moves refs (see [`git_api`](super::git_api)).
    Api,
}

/// A git HTTP request line, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitRequest {
    /// The repository: the path before `/info/refs` or `/git-...-pack`, e.g.
    /// `/git/project.git`; `/` when the repository is served at the root.
    pub repository: String,
    /// Read (upload-pack) or write (receive-pack).
    pub service: GitService,
    /// Advertisement or RPC.
    pub phase: GitPhase,
}

/// What a push command does to a ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefAction {
    /// The old id is all zeros: the ref is created.
    Create,
    /// Neither id is all zeros: the ref is moved (possibly a force-push).
    Update,
    /// The new id is all zeros: the ref is deleted.
    Delete,
}

/// One ref update a push asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefUpdate {
    /// The full ref name, e.g. `refs/heads/main`.
    pub ref_name: String,
    /// The id the client believes the ref has now, lowercase hex (zeros: none).
    pub old_id: String,
    /// The id the ref is to have, lowercase hex (zeros: delete).
    pub new_id: String,
    /// Create, update or delete.
    pub action: RefAction,
}

/// Why a receive-pack body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitParseError {
    /// The body ends before the command list does; more bytes may complete it.
    #[error("the receive-pack body ends before its command list does")]
    Incomplete,
    /// The body is not a command list git would accept, or could be read two ways.
    #[error("malformed receive-pack command list: {0}")]
    Malformed(String),
}

/// Classifies a git HTTP request from its method, path and raw query, or `None` when
/// it is not one (see the module docs).
pub fn classify_git_request(method: &str, path: &str, query: &str) -> Option<GitRequest> {
    let segments = super::path::segments(path);
    let dav_write = DAV_WRITE_METHODS.contains(&method.trim().to_ascii_uppercase().as_str());
    let repository_of = |count: usize| -> String {
        let kept = segments.get(..count).unwrap_or(&[]);
        format!("/{}", kept.join("/"))
    };

    match segments.as_slice() {
        [.., info, refs]
            if info.eq_ignore_ascii_case("info") && refs.eq_ignore_ascii_case("refs") =>
        {
            // `git http-push` rewrites `info/refs` over WebDAV after a dumb push.
            let (service, phase) = if dav_write {
                (GitService::ReceivePack, GitPhase::Rpc)
            } else if asks_for_receive_pack(query) {
                (GitService::ReceivePack, GitPhase::Advertisement)
            } else {
                (GitService::UploadPack, GitPhase::Advertisement)
            };
            return Some(GitRequest {
                repository: repository_of(segments.len() - 2),
                service,
                phase,
            });
        }
        [.., last] => {
            let service = if last.eq_ignore_ascii_case("git-receive-pack") {
                Some(GitService::ReceivePack)
            } else if last.eq_ignore_ascii_case("git-upload-pack") {
                Some(GitService::UploadPack)
            } else {
                None
            };
            if let Some(service) = service {
                return Some(GitRequest {
                    repository: repository_of(segments.len() - 1),
                    service,
                    phase: GitPhase::Rpc,
                });
            }
        }
        [] => return None,
    }

    if dav_write {
        dumb_push(&segments)
    } else {
        None
    }
}

/// WebDAV methods `git http-push` uses to write a repository over dumb HTTP.
const DAV_WRITE_METHODS: [&str; 8] = [
    "PUT",
    "DELETE",
    "MKCOL",
    "MOVE",
    "COPY",
    "LOCK",
    "UNLOCK",
    "PROPPATCH",
];

/// A WebDAV write inside (or of) a `*.git` directory: a dumb-HTTP push.
fn dumb_push(segments: &[&str]) -> Option<GitRequest> {
    let repo_end = segments.iter().position(|segment| {
        segment.len() > 4
            && segment
                .get(segment.len() - 4..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(".git"))
    })?;
    let kept = segments.get(..=repo_end)?;
    Some(GitRequest {
        repository: format!("/{}", kept.join("/")),
        service: GitService::ReceivePack,
        phase: GitPhase::Rpc,
    })
}

/// Whether any `service` parameter names receive-pack, or cannot be decoded (and so
/// might).
fn asks_for_receive_pack(query: &str) -> bool {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .any(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(name) = super::path::decode_component(name) else {
                return true;
            };
            if !name.eq_ignore_ascii_case(b"service") {
                return false;
            }
            match super::path::decode_component(value) {
                Some(value) => value
                    .to_ascii_lowercase()
                    .windows(7)
                    .any(|w| w == b"receive"),
                None => true,
            }
        })
}

/// The largest pkt-line git reads (`LARGE_PACKET_MAX`), length prefix included.
const MAX_PKT_LEN: usize = 65520;

/// Lines that start the signature of a push certificate (git's `parse_signed_buffer`).
const SIGNATURE_MARKERS: [&[u8]; 4] = [
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN PGP MESSAGE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
    b"-----BEGIN SSH SIGNATURE-----",
];

/// Reads the ref updates of a receive-pack request body (see the module docs). Only
/// the command list is read; whatever follows its flush (push options, the packfile)
/// is ignored.
pub fn parse_receive_pack_commands(body: &[u8]) -> Result<Vec<RefUpdate>, GitParseError> {
    let mut reader = PktReader { rest: body };
    let mut ids = IdLength::default();
    let mut updates = Vec::new();
    let mut seen_certificate = false;

    loop {
        let payload = match reader.next_packet()? {
            Packet::Flush => return Ok(updates),
            Packet::Special(kind) => {
                return Err(malformed(format!(
                    "unexpected {kind} packet in the command list"
                )))
            }
            Packet::Data(payload) => payload,
        };
        let line = payload.strip_suffix(b"\n").unwrap_or(payload);
        if let Some(id) = line.strip_prefix(b"shallow ") {
            ids.check(id, "shallow id")?;
            continue;
        }
        // Capabilities follow a NUL (on the first line; git accepts them on any).
        let command = until_nul(line);
        if command == b"push-cert" {
            if seen_certificate {
                return Err(malformed("more than one push certificate"));
            }
            seen_certificate = true;
            let (certificate, ended_by_flush) = read_certificate(&mut reader)?;
            for line in certificate_commands(&certificate)? {
                updates.push(parse_command(line, &mut ids)?);
            }
            if ended_by_flush {
                return Ok(updates);
            }
            continue;
        }
        updates.push(parse_command(command, &mut ids)?);
    }
}

/// The capabilities a receive-pack request asks for: the space-separated words after
/// the `NUL` of its first command line (or of its `push-cert` line), e.g.
/// `report-status`, `side-band-64k`, `agent=git/2.47.3`. `shallow` lines before it are
/// skipped. Empty when the body has no such line or cannot be read that far: a reply
/// then assumes the client asked for nothing.
pub fn receive_pack_capabilities(body: &[u8]) -> Vec<String> {
    let mut reader = PktReader { rest: body };
    loop {
        let Ok(Packet::Data(payload)) = reader.next_packet() else {
            return Vec::new();
        };
        let line = payload.strip_suffix(b"\n").unwrap_or(payload);
        if line.starts_with(b"shallow ") {
            continue;
        }
        let Some(nul) = memchr_byte(0, line) else {
            return Vec::new();
        };
        let caps = line.get(nul + 1..).unwrap_or(&[]);
        return String::from_utf8_lossy(caps)
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect();
    }
}

fn malformed(reason: impl Into<String>) -> GitParseError {
    GitParseError::Malformed(reason.into())
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    match memchr_byte(0, bytes) {
        Some(at) => bytes.get(..at).unwrap_or(bytes),
        None => bytes,
    }
}

fn memchr_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// One pkt-line.
enum Packet<'a> {
    /// `0000`.
    Flush,
    /// `0001` (delimiter) or `0002` (response end): protocol v2 only.
    Special(&'static str),
    /// A data packet's payload.
    Data(&'a [u8]),
}

struct PktReader<'a> {
    rest: &'a [u8],
}

impl<'a> PktReader<'a> {
    fn next_packet(&mut self) -> Result<Packet<'a>, GitParseError> {
        let mut length = 0usize;
        for i in 0..4 {
            let Some(&digit) = self.rest.get(i) else {
                return Err(GitParseError::Incomplete);
            };
            let Some(value) = super::path::hex(digit) else {
                return Err(malformed(format!("bad pkt-line length byte 0x{digit:02x}")));
            };
            length = length << 4 | usize::from(value);
        }
        let packet = match length {
            0 => Packet::Flush,
            1 => Packet::Special("delimiter"),
            2 => Packet::Special("response-end"),
            3 => return Err(malformed("pkt-line length 3")),
            _ if length > MAX_PKT_LEN => {
                return Err(malformed(format!("pkt-line length {length} is too long")))
            }
            _ => {
                let Some(payload) = self.rest.get(4..length) else {
                    return Err(GitParseError::Incomplete);
                };
                self.rest = self.rest.get(length..).unwrap_or(&[]);
                return Ok(Packet::Data(payload));
            }
        };
        self.rest = self.rest.get(4..).unwrap_or(&[]);
        Ok(packet)
    }
}

/// Reads a push certificate's packets up to `push-cert-end` (or a flush, which git
/// also accepts and which then ends the command list). Returns the certificate text
/// and whether a flush ended it.
fn read_certificate(reader: &mut PktReader<'_>) -> Result<(Vec<u8>, bool), GitParseError> {
    let mut certificate = Vec::new();
    loop {
        match reader.next_packet()? {
            Packet::Flush => return Ok((certificate, true)),
            Packet::Special(kind) => {
                return Err(malformed(format!(
                    "unexpected {kind} packet in a push certificate"
                )))
            }
            Packet::Data(payload) => {
                // git keeps the newlines here and reads each packet as a C string.
                let text = until_nul(payload);
                if text == b"push-cert-end\n" {
                    return Ok((certificate, false));
                }
                certificate.extend_from_slice(text);
            }
        }
    }
}

/// The command lines of a push certificate: after the header's blank line, before the
/// last line that starts a signature.
fn certificate_commands(certificate: &[u8]) -> Result<Vec<&[u8]>, GitParseError> {
    let header_end = certificate
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .ok_or_else(|| malformed("push certificate without a blank line after its header"))?;
    let commands_start = header_end + 2;

    let mut signature_start = certificate.len();
    let mut line_start = 0;
    while line_start < certificate.len() {
        let line = certificate.get(line_start..).unwrap_or(&[]);
        if SIGNATURE_MARKERS
            .iter()
            .any(|marker| line.starts_with(marker))
        {
            signature_start = line_start;
        }
        line_start = match memchr_byte(b'\n', line) {
            Some(at) => line_start + at + 1,
            None => certificate.len(),
        };
    }
    if signature_start < commands_start {
        return Err(malformed(
            "push certificate signature starts inside its header",
        ));
    }

    let region = certificate
        .get(commands_start..signature_start)
        .unwrap_or(&[]);
    let region = region.strip_suffix(b"\n").unwrap_or(region);
    if region.is_empty() {
        return Ok(Vec::new());
    }
    Ok(region.split(|&b| b == b'\n').collect())
}

/// The object-id length (40 or 64) of the body, fixed by the first id seen.
#[derive(Default)]
struct IdLength(Option<usize>);

impl IdLength {
    /// Checks that `id` is exactly one object id; returns it in lowercase.
    fn check(&mut self, id: &[u8], what: &str) -> Result<String, GitParseError> {
        if !(id.len() == 40 || id.len() == 64) || !id.iter().all(u8::is_ascii_hexdigit) {
            return Err(malformed(format!(
                "{what} is not a 40- or 64-digit hex object id"
            )));
        }
        match self.0 {
            Some(expected) if expected != id.len() => {
                return Err(malformed("object ids of different lengths in one push"))
            }
            _ => self.0 = Some(id.len()),
        }
        Ok(String::from_utf8_lossy(id).to_ascii_lowercase())
    }
}

/// Parses `<old-id> SP <new-id> SP <refname>`.
fn parse_command(line: &[u8], ids: &mut IdLength) -> Result<RefUpdate, GitParseError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed(format!(
            "expected `<old-id> <new-id> <refname>`, got {:?}",
            String::from_utf8_lossy(line.get(..line.len().min(120)).unwrap_or(line))
        )));
    };
    let old_id = ids.check(old, "old id")?;
    let new_id = ids.check(new, "new id")?;
    let ref_name = checked_ref_name(name)?;
    let is_zero = |id: &str| id.bytes().all(|b| b == b'0');
    let action = if is_zero(&new_id) {
        RefAction::Delete
    } else if is_zero(&old_id) {
        RefAction::Create
    } else {
        RefAction::Update
    };
    Ok(RefUpdate {
        ref_name,
        old_id,
        new_id,
        action,
    })
}

/// A refname as git's `check_refname_format` (and receive-pack's `refs/` rule) would
/// accept it; anything else is refused, since a server that normalised it could act on
/// a different ref than the one a policy saw.
fn checked_ref_name(name: &[u8]) -> Result<String, GitParseError> {
    let text = std::str::from_utf8(name).map_err(|_| malformed("refname is not UTF-8"))?;
    let refuse = |why: &str| {
        malformed(format!(
            "refname {:?} {why}",
            text.chars().take(120).collect::<String>()
        ))
    };
    if !text.starts_with("refs/") {
        return Err(refuse("is not under refs/"));
    }
    if let Some(bad) = text
        .chars()
        .find(|&c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err(refuse(&format!("contains {bad:?}")));
    }
    if text.contains("..") || text.contains("@{") {
        return Err(refuse("contains `..` or `@{`"));
    }
    if text.ends_with('.') || text == "@" {
        return Err(refuse("ends with `.`"));
    }
    for component in text.split('/') {
        if component.is_empty() {
            return Err(refuse("has an empty component"));
        }
        if component.starts_with('.') {
            return Err(refuse("has a component starting with `.`"));
        }
        if component.ends_with(".lock") {
            return Err(refuse("has a component ending with `.lock`"));
        }
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "1111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222";
    const ZERO: &str = "0000000000000000000000000000000000000000";

    /// One pkt-line with `payload`.
    fn pkt(payload: &[u8]) -> Vec<u8> {
        let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
        out.extend_from_slice(payload);
        out
    }

    /// A body from pkt-line payloads (`None` is a flush), then `tail` (the packfile).
    fn body(lines: &[Option<&[u8]>], tail: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            match line {
                Some(payload) => out.extend(pkt(payload)),
                None => out.extend_from_slice(b"0000"),
            }
        }
        out.extend_from_slice(tail);
        out
    }

    fn update(name: &str, old: &str, new: &str, action: RefAction) -> RefUpdate {
        RefUpdate {
            ref_name: name.into(),
            old_id: old.into(),
            new_id: new.into(),
            action,
        }
    }

    fn first_command(old: &str, new: &str, name: &str) -> Vec<u8> {
        format!("{old} {new} {name}\0 report-status side-band-64k agent=git/2.47.3\n").into_bytes()
    }

    #[test]
    fn classifies_smart_and_dumb_http_requests() {
        use GitPhase::*;
        use GitService::*;
        /// (method, path, query, expected (repository, service, phase) or None)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Option<(&'a str, GitService, GitPhase)>,
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("GET", "/git/project.git/info/refs", "service=git-upload-pack", Some(("/git/project.git", UploadPack, Advertisement))),
            ("GET", "/git/project.git/info/refs", "service=git-receive-pack", Some(("/git/project.git", ReceivePack, Advertisement))),
            ("GET", "/git/project.git/info/refs", "", Some(("/git/project.git", UploadPack, Advertisement))),
            ("POST", "/git/project.git/git-upload-pack", "", Some(("/git/project.git", UploadPack, Rpc))),
            ("POST", "/git/project.git/git-receive-pack", "", Some(("/git/project.git", ReceivePack, Rpc))),
            ("POST", "/org/repo/git-receive-pack/", "", Some(("/org/repo", ReceivePack, Rpc))),
            ("GET", "/org/repo/info/refs/", "service=git-receive-pack", Some(("/org/repo", ReceivePack, Advertisement))),
            ("GET", "/info/refs", "service=git-upload-pack", Some(("/", UploadPack, Advertisement))),
            ("POST", "//org//repo.git//git-receive-pack", "", Some(("/org/repo.git", ReceivePack, Rpc))),
            // Hostile service parameters.
            ("GET", "/r.git/info/refs", "service=git-upload-pack&service=git-receive-pack", Some(("/r.git", ReceivePack, Advertisement))),
            ("GET", "/r.git/info/refs", "service=git-receive-pack&service=git-upload-pack", Some(("/r.git", ReceivePack, Advertisement))),
            ("GET", "/r.git/info/refs", "service=git-%72eceive-pack", Some(("/r.git", ReceivePack, Advertisement))),
            ("GET", "/r.git/info/refs", "%73ervice=git-receive-pack", Some(("/r.git", ReceivePack, Advertisement))),
            ("GET", "/r.git/info/refs", "SERVICE=GIT-RECEIVE-PACK", Some(("/r.git", ReceivePack, Advertisement))),
            ("GET", "/r.git/info/refs", "service=git-upload-pack&service=%zz", Some(("/r.git", ReceivePack, Advertisement))),
            ("GET", "/r.git/info/refs", "service=git-upload-pack&x=1", Some(("/r.git", UploadPack, Advertisement))),
            ("GET", "/r.git/info/refs", "other=receive", Some(("/r.git", UploadPack, Advertisement))),
            // A `?` in the path (a decoded `%3F`) is no query; the segment ends there.
            ("GET", "/r.git/info/refs?service=git-receive-pack", "", Some(("/r.git", UploadPack, Advertisement))),
            ("POST", "/r.git/git-receive-pack?x", "", Some(("/r.git", ReceivePack, Rpc))),
            ("POST", "/r.git/git-receive-pack;jsessionid=1", "", Some(("/r.git", ReceivePack, Rpc))),
            // Hostile paths.
            ("POST", "/r.git/GIT-RECEIVE-PACK", "", Some(("/r.git", ReceivePack, Rpc))),
            ("POST", "/r.git/git-upload-pack/../git-receive-pack", "", Some(("/r.git", ReceivePack, Rpc))),
            ("POST", "/r.git/./git-receive-pack/.", "", Some(("/r.git", ReceivePack, Rpc))),
            ("GET", "/r.git/Info/Refs", "service=git-receive-pack", Some(("/r.git", ReceivePack, Advertisement))),
            // The method does not turn a push into a read.
            ("GET", "/r.git/git-receive-pack", "", Some(("/r.git", ReceivePack, Rpc))),
            ("PUT", "/r.git/git-receive-pack", "", Some(("/r.git", ReceivePack, Rpc))),
            // Dumb-HTTP pushes (WebDAV).
            ("PUT", "/r.git/refs/heads/main", "", Some(("/r.git", ReceivePack, Rpc))),
            ("MKCOL", "/srv/r.git/objects/ab/", "", Some(("/srv/r.git", ReceivePack, Rpc))),
            ("move", "/srv/r.git/objects/ab/cdef_opaquelocktoken", "", Some(("/srv/r.git", ReceivePack, Rpc))),
            ("LOCK", "/srv/R.GIT/refs/heads/main", "", Some(("/srv/R.GIT", ReceivePack, Rpc))),
            ("DELETE", "/srv/r.git/refs/heads/old", "", Some(("/srv/r.git", ReceivePack, Rpc))),
            ("PUT", "/srv/r.git/info/refs", "", Some(("/srv/r.git", ReceivePack, Rpc))),
            ("PUT", "/srv/r/info/refs", "service=git-upload-pack", Some(("/srv/r", ReceivePack, Rpc))),
            ("GET", "/srv/r.git/refs/heads/main", "", None),
            ("GET", "/srv/r.git/objects/info/packs", "", None),
            ("PROPFIND", "/srv/r.git/", "", None),
            // Not git.
            ("PUT", "/api/refs/42", "", None),
            ("DELETE", "/api/.git", "", None),
            ("GET", "/", "", None),
            ("GET", "", "", None),
            ("POST", "/upload-pack", "", None),
            ("POST", "/r.git/git-receive-packs", "", None),
            ("GET", "/r.git/info/refs-old", "", None),
        ];
        let mut failures = Vec::new();
        for (method, path, query, want) in cases {
            let got = classify_git_request(method, path, query);
            let want = want.map(|(repository, service, phase)| GitRequest {
                repository: repository.into(),
                service,
                phase,
            });
            if got != want {
                failures.push(format!(
                    "{method} {path}?{query}: got {got:?}, want {want:?}"
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn reads_plain_push_commands() {
        let first = first_command(OLD, NEW, "refs/heads/main");
        let create = format!("{ZERO} {NEW} refs/heads/feature\n");
        let delete = format!("{OLD} {ZERO} refs/tags/v1");
        let shallow = format!("shallow {OLD}\n");
        let raw = body(
            &[
                Some(shallow.as_bytes()),
                Some(&first),
                Some(create.as_bytes()),
                Some(delete.as_bytes()),
                None,
            ],
            b"PACK\x00\x00\x00\x02garbage",
        );
        assert_eq!(
            parse_receive_pack_commands(&raw).unwrap(),
            vec![
                update("refs/heads/main", OLD, NEW, RefAction::Update),
                update("refs/heads/feature", ZERO, NEW, RefAction::Create),
                update("refs/tags/v1", OLD, ZERO, RefAction::Delete),
            ]
        );
    }

    /// Command sections captured from `git push` (git 2.47.3) to `git http-backend`:
    /// an update, a create and a tag in one push, and an SSH-signed push.
    const CAPTURED_PUSH: &[u8] = b"00af94f29329734bdbd5b48d4bf46895ea50a7e9450c 36d43e9d3c4f161fc83858ae54c1cc6f4ac22684 refs/heads/main\x00 report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.47.300680000000000000000000000000000000000000000 36d43e9d3c4f161fc83858ae54c1cc6f4ac22684 refs/heads/feature00620000000000000000000000000000000000000000 94f29329734bdbd5b48d4bf46895ea50a7e9450c refs/tags/v10000PACK\x00\x00\x00\x02";
    const CAPTURED_SIGNED_PUSH: &[u8] = b"0057push-cert\x00 report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.47.3001ccertificate version 0.1\n0050pusher SHA256:kIvWUkVn/5AT+WvycspgabHbpmSRAGomue6eD36Oizw  1796006593 +0000\n0029pushee http://127.0.0.1:18777/r.git/\n003enonce 1796006593-5fbc8282f054d391b0f7fa0c1e0a5e1657fd3b8e\n0005\n00680000000000000000000000000000000000000000 36d43e9d3c4f161fc83858ae54c1cc6f4ac22684 refs/heads/signed\n0022-----BEGIN SSH SIGNATURE-----\n004bU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgcTm0spZakNnnBLbEv5Ef86Gk+n\n004bsVc2+eaxe+S0+ZyvkAAAADZ2l0AAAAAAAAAAZzaGE1MTIAAABTAAAAC3NzaC1lZDI1NTE5\n004bAAAAQDADBc8hmqT+tlT9zoAaupTUMwI/x0r3mXCRiQQk49NJiCJ+SUMpB4Q4XMnrrGof1o\n001bxiv18a2v/GENN45JXeewc=\n0020-----END SSH SIGNATURE-----\n0012push-cert-end\n0000PACK\x00\x00\x00\x02";

    #[test]
    fn reads_bodies_captured_from_real_git() {
        let a = "94f29329734bdbd5b48d4bf46895ea50a7e9450c";
        let b = "36d43e9d3c4f161fc83858ae54c1cc6f4ac22684";
        assert_eq!(
            parse_receive_pack_commands(CAPTURED_PUSH).unwrap(),
            vec![
                update("refs/heads/main", a, b, RefAction::Update),
                update("refs/heads/feature", ZERO, b, RefAction::Create),
                update("refs/tags/v1", ZERO, a, RefAction::Create),
            ]
        );
        assert_eq!(
            parse_receive_pack_commands(CAPTURED_SIGNED_PUSH).unwrap(),
            vec![update("refs/heads/signed", ZERO, b, RefAction::Create)]
        );
    }

    #[test]
    fn reads_sha256_ids_and_reports_them_lowercase() {
        let old = "AB".repeat(32);
        let new = "cd".repeat(32);
        let raw = body(
            &[Some(&first_command(&old, &new, "refs/heads/main")), None],
            b"",
        );
        assert_eq!(
            parse_receive_pack_commands(&raw).unwrap(),
            vec![update(
                "refs/heads/main",
                &"ab".repeat(32),
                &new,
                RefAction::Update
            )]
        );
    }

    #[test]
    fn an_empty_command_list_is_no_update() {
        assert_eq!(parse_receive_pack_commands(b"0000").unwrap(), Vec::new());
        assert_eq!(
            parse_receive_pack_commands(b"0000PACK").unwrap(),
            Vec::new()
        );
    }

    fn signed_push(commands: &[String], extra_header: &str) -> Vec<u8> {
        let mut lines: Vec<Vec<u8>> = vec![
            b"push-cert\0 report-status push-cert=1700000000-abc agent=git/2.47.3\n".to_vec(),
            b"certificate version 0.1\n".to_vec(),
            b"pusher Agent <agent@example.com> 1700000000 +0000\n".to_vec(),
            b"pushee https://git.example.com/r.git\n".to_vec(),
            b"nonce 1700000000-abc\n".to_vec(),
        ];
        if !extra_header.is_empty() {
            lines.push(extra_header.as_bytes().to_vec());
        }
        lines.push(b"\n".to_vec());
        for command in commands {
            lines.push(format!("{command}\n").into_bytes());
        }
        for signature in [
            "-----BEGIN PGP SIGNATURE-----\n",
            "\n",
            "iQEzBAABCAAdFiEE\n",
            "-----END PGP SIGNATURE-----\n",
            "push-cert-end\n",
        ] {
            lines.push(signature.as_bytes().to_vec());
        }
        let mut out = Vec::new();
        for line in &lines {
            out.extend(pkt(line));
        }
        out.extend_from_slice(b"0000PACK...");
        out
    }

    #[test]
    fn reads_commands_from_a_push_certificate() {
        let raw = signed_push(
            &[
                format!("{OLD} {NEW} refs/heads/main"),
                format!("{OLD} {ZERO} refs/heads/release"),
            ],
            "push-option ci.skip\n",
        );
        assert_eq!(
            parse_receive_pack_commands(&raw).unwrap(),
            vec![
                update("refs/heads/main", OLD, NEW, RefAction::Update),
                update("refs/heads/release", OLD, ZERO, RefAction::Delete),
            ]
        );
    }

    #[test]
    fn commands_outside_a_certificate_are_reported_too() {
        let mut raw = pkt(&first_command(OLD, NEW, "refs/heads/side"));
        let signed = signed_push(&[format!("{OLD} {NEW} refs/heads/main")], "");
        raw.extend(signed);
        assert_eq!(
            parse_receive_pack_commands(&raw).unwrap(),
            vec![
                update("refs/heads/side", OLD, NEW, RefAction::Update),
                update("refs/heads/main", OLD, NEW, RefAction::Update),
            ]
        );
    }

    #[test]
    fn a_certificate_ended_by_a_flush_ends_the_command_list() {
        let mut raw = Vec::new();
        for line in [
            b"push-cert\0 report-status\n".to_vec(),
            b"certificate version 0.1\n\n".to_vec(),
            format!("{ZERO} {NEW} refs/heads/new\n").into_bytes(),
        ] {
            raw.extend(pkt(&line));
        }
        raw.extend_from_slice(b"0000");
        // Not another command: the packfile.
        raw.extend(pkt(b"garbage"));
        assert_eq!(
            parse_receive_pack_commands(&raw).unwrap(),
            vec![update("refs/heads/new", ZERO, NEW, RefAction::Create)]
        );
    }

    #[test]
    fn refuses_what_git_would_refuse_or_could_be_read_two_ways() {
        let good = first_command(OLD, NEW, "refs/heads/main");
        let bad_line = |line: &str| body(&[Some(line.as_bytes()), None], b"");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("non-hex length", b"zz00".to_vec()),
            ("gzip body", b"\x1f\x8b\x08\x00\x00\x00".to_vec()),
            ("length 3", b"0003".to_vec()),
            ("length too long", b"fff1".to_vec()),
            ("delimiter", body(&[Some(&good)], b"0001")),
            ("response end", b"0002".to_vec()),
            (
                "short old id",
                bad_line(&format!("{} {NEW} refs/heads/main", &OLD[1..])),
            ),
            (
                "non-hex id",
                bad_line(&format!("{} {NEW} refs/heads/main", "g".repeat(40))),
            ),
            (
                "mixed id lengths",
                bad_line(&format!("{OLD} {} refs/heads/main", "2".repeat(64))),
            ),
            (
                "mixed lengths across commands",
                body(
                    &[
                        Some(&good),
                        Some(
                            format!("{} {} refs/heads/x", "1".repeat(64), "2".repeat(64))
                                .as_bytes(),
                        ),
                        None,
                    ],
                    b"",
                ),
            ),
            (
                "two spaces",
                bad_line(&format!("{OLD}  {NEW} refs/heads/main")),
            ),
            ("no refname", bad_line(&format!("{OLD} {NEW}"))),
            ("empty refname", bad_line(&format!("{OLD} {NEW} "))),
            ("empty line", bad_line("")),
            ("free text", bad_line("hello world")),
            ("bad shallow", bad_line("shallow 1234")),
            (
                "not under refs/",
                bad_line(&format!("{OLD} {NEW} heads/main")),
            ),
            ("HEAD", bad_line(&format!("{OLD} {NEW} HEAD"))),
            (
                "double slash",
                bad_line(&format!("{OLD} {NEW} refs/heads//main")),
            ),
            (
                "trailing slash",
                bad_line(&format!("{OLD} {NEW} refs/heads/main/")),
            ),
            (
                "dot dot",
                bad_line(&format!("{OLD} {NEW} refs/heads/../main")),
            ),
            (
                "dot component",
                bad_line(&format!("{OLD} {NEW} refs/heads/.main")),
            ),
            (
                "lock",
                bad_line(&format!("{OLD} {NEW} refs/heads/main.lock")),
            ),
            (
                "trailing dot",
                bad_line(&format!("{OLD} {NEW} refs/heads/main.")),
            ),
            (
                "reflog syntax",
                bad_line(&format!("{OLD} {NEW} refs/heads/main@{{1}}")),
            ),
            ("space", bad_line(&format!("{OLD} {NEW} refs/heads/ma in"))),
            ("tab", bad_line(&format!("{OLD} {NEW} refs/heads/main\t"))),
            ("CR", bad_line(&format!("{OLD} {NEW} refs/heads/main\r"))),
            (
                "two newlines",
                bad_line(&format!("{OLD} {NEW} refs/heads/main\n\n")),
            ),
            (
                "backslash",
                bad_line(&format!("{OLD} {NEW} refs\\heads\\main")),
            ),
            ("glob", bad_line(&format!("{OLD} {NEW} refs/heads/*"))),
            ("colon", bad_line(&format!("{OLD} {NEW} refs/heads/a:b"))),
            (
                "not UTF-8",
                body(
                    &[
                        Some(&[OLD.as_bytes(), b" ", NEW.as_bytes(), b" refs/heads/\xff"].concat()),
                        None,
                    ],
                    b"",
                ),
            ),
            ("two certificates", {
                let mut raw = signed_push(&[format!("{OLD} {NEW} refs/heads/a")], "");
                raw.truncate(raw.len() - b"0000PACK...".len());
                let again = signed_push(&[format!("{OLD} {NEW} refs/heads/b")], "");
                raw.extend(again);
                raw
            }),
            (
                "certificate without blank line",
                body(
                    &[
                        Some(b"push-cert\0caps\n"),
                        Some(b"certificate version 0.1\n"),
                        Some(b"push-cert-end\n"),
                        None,
                    ],
                    b"",
                ),
            ),
            (
                "signature in the header",
                body(
                    &[
                        Some(b"push-cert\0caps\n"),
                        Some(b"-----BEGIN PGP SIGNATURE-----\n"),
                        Some(b"\n"),
                        Some(format!("{OLD} {NEW} refs/heads/main\n").as_bytes()),
                        Some(b"push-cert-end\n"),
                        None,
                    ],
                    b"",
                ),
            ),
            (
                "blank line among certificate commands",
                signed_push(
                    &[
                        format!("{OLD} {NEW} refs/heads/a"),
                        String::new(),
                        format!("{OLD} {NEW} refs/heads/b"),
                    ],
                    "",
                ),
            ),
            (
                "junk among certificate commands",
                signed_push(&[format!("{OLD} {NEW} refs/heads/a"), "junk".into()], ""),
            ),
            (
                "delimiter in certificate",
                body(&[Some(b"push-cert\0caps\n")], b"0001"),
            ),
        ];
        for (what, raw) in cases {
            match parse_receive_pack_commands(&raw) {
                Err(GitParseError::Malformed(_)) => {}
                other => panic!("{what}: expected Malformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn accepts_refnames_git_accepts() {
        for name in [
            "refs/heads/main",
            "refs/heads/feature/x-1_2",
            "refs/tags/v1.2.3",
            "refs/heads/ünïcode",
            "refs/for/main%topic=x",
            "refs/heads/a.b",
            "refs/heads/@",
        ] {
            let raw = body(&[Some(&first_command(OLD, NEW, name)), None], b"");
            let updates =
                parse_receive_pack_commands(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(updates.len(), 1);
            assert_eq!(updates[0].ref_name, name);
        }
    }

    fn valid_body() -> Vec<u8> {
        let first = first_command(OLD, NEW, "refs/heads/main");
        let create = format!("{ZERO} {NEW} refs/heads/feature\n");
        body(
            &[
                Some(format!("shallow {OLD}\n").as_bytes()),
                Some(&first),
                Some(create.as_bytes()),
                None,
            ],
            b"PACK",
        )
    }

    #[test]
    fn every_truncation_before_the_flush_is_incomplete() {
        let signed = signed_push(&[format!("{OLD} {NEW} refs/heads/main")], "");
        for (raw, packfile) in [(valid_body(), "PACK"), (signed, "PACK...")] {
            assert!(raw.ends_with(packfile.as_bytes()));
            let flush_end = raw.len() - packfile.len();
            assert!(parse_receive_pack_commands(&raw[..flush_end]).is_ok());
            for cut in 0..flush_end {
                assert_eq!(
                    parse_receive_pack_commands(&raw[..cut]),
                    Err(GitParseError::Incomplete),
                    "cut at {cut}"
                );
            }
        }
    }

    /// xorshift64: a dependency-free source of reproducible noise.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn never_panics_on_random_or_mutated_bodies() {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let seeds = [
            valid_body(),
            signed_push(&[format!("{OLD} {NEW} refs/heads/main")], "push-option x\n"),
        ];
        let mut outcomes = [0usize; 3];
        for round in 0..20_000 {
            let input: Vec<u8> = if round % 4 == 0 {
                // Pure noise, biased towards hex digits so lengths often parse.
                let len = (next(&mut state) % 200) as usize;
                (0..len)
                    .map(|_| {
                        let r = next(&mut state);
                        if r & 3 == 0 {
                            (r >> 8) as u8
                        } else {
                            b"0123456789abcdef\n \0"[(r >> 8) as usize % 19]
                        }
                    })
                    .collect()
            } else {
                // A valid body with a few bytes changed, then cut somewhere.
                let mut input = seeds[round % 2].clone();
                for _ in 0..(next(&mut state) % 4) {
                    let at = (next(&mut state) as usize) % input.len();
                    input[at] = next(&mut state) as u8;
                }
                let cut = (next(&mut state) as usize) % (input.len() + 1);
                input.truncate(cut);
                input
            };
            match parse_receive_pack_commands(&input) {
                Ok(_) => outcomes[0] += 1,
                Err(GitParseError::Incomplete) => outcomes[1] += 1,
                Err(GitParseError::Malformed(_)) => outcomes[2] += 1,
            }
        }
        // The generator must exercise every outcome, or it is not testing much.
        assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
    }

    #[test]
    fn receive_pack_capabilities_come_from_the_first_command_line() {
        let shallow = format!("shallow {OLD}");
        let first = first_command(OLD, NEW, "refs/heads/main");
        let second = format!("{OLD} {NEW} refs/heads/topic\0 ignored");
        let with_shallow = body(
            &[
                Some(shallow.as_bytes()),
                Some(&first),
                Some(second.as_bytes()),
                None,
            ],
            b"PACK",
        );
        assert_eq!(
            receive_pack_capabilities(&with_shallow),
            ["report-status", "side-band-64k", "agent=git/2.47.3"]
        );
        // A signed push carries them on its `push-cert` line.
        let cert = body(
            &[Some(b"push-cert\0 report-status-v2 side-band"), None],
            b"",
        );
        assert_eq!(
            receive_pack_capabilities(&cert),
            ["report-status-v2", "side-band"]
        );
        // No NUL, an empty body, a flush first, a truncated or malformed line: none.
        let bare = format!("{OLD} {NEW} refs/heads/main\n");
        for input in [
            body(&[Some(bare.as_bytes()), None], b""),
            Vec::new(),
            b"0000".to_vec(),
            b"00ff0000".to_vec(),
            b"zzzz".to_vec(),
        ] {
            assert!(receive_pack_capabilities(&input).is_empty(), "{input:?}");
        }
    }

    #[test]
    fn facts_serialise_as_snake_case_json() {
        let request = classify_git_request("POST", "/r.git/git-receive-pack", "").unwrap();
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"repository": "/r.git", "service": "receive_pack", "phase": "rpc"})
        );
        let update = update("refs/heads/main", ZERO, NEW, RefAction::Create);
        assert_eq!(serde_json::to_value(&update).unwrap()["action"], "create");
    }
}
