//! Who may sign the audit log, and whom a verifier trusts.
//!
//! Two rules keep a log from being re-forged by whoever can write its directory:
//!
//! - **Where the signing key lives.** `audit.signing_key` must be outside
//!   `audit.log_dir` ([`signing_key_path`]): compared after resolving symlinks and `..`,
//!   and by directory identity (device and inode), so a bind mount or a symlinked alias
//!   of the log directory counts as inside. Only `audit.demo_key_in_log_dir` (a demo
//!   flag, warned about loudly) lets Warden keep a key in the log directory.
//! - **Whom a verifier trusts.** A verifier is told which keys to trust
//!   ([`TrustAnchors`]): public key files (`--public-key`) and pinned key ids
//!   (`--key-id ed25519:<sha256 hex>`). A key file inside the directory being verified
//!   is never trusted on its own: its id must be pinned.

use std::path::{Component, Path, PathBuf};

use super::chain::{key_id, KeyRing};
use super::keys::{load_verifying_key, KeyError, DEFAULT_KEY_FILE};

/// Why the configured signing key cannot be used where it is.
#[derive(Debug, thiserror::Error)]
pub enum KeyPlacementError {
    /// No key is configured and the demo flag is off.
    #[error(
        "audit.signing_key is not set. The key that signs audit checkpoints must live outside \
         audit.log_dir ({log_dir}), out of reach of whoever can write the log: create one with \
         `warden audit keygen --out /etc/warden/audit-key.pem`, set `audit.signing_key: \
         /etc/warden/audit-key.pem`, and give /etc/warden/audit-key.pub.pem (or the key id \
         keygen prints) to your auditors. For a throwaway demo only, `audit.demo_key_in_log_dir: \
         true` keeps a key inside the log directory"
    )]
    NotSet {
        /// `audit.log_dir`.
        log_dir: PathBuf,
    },
    /// The key is inside the log directory.
    #[error(
        "audit.signing_key {key} is inside audit.log_dir {log_dir}: anyone who can write the log \
         could re-sign a rewritten history with it. Create a key elsewhere with `warden audit \
         keygen --out /etc/warden/audit-key.pem` and set `audit.signing_key: \
         /etc/warden/audit-key.pem` (a Kubernetes Secret or another volume, not the log's)"
    )]
    InsideLogDir {
        /// `audit.signing_key`.
        key: PathBuf,
        /// `audit.log_dir`.
        log_dir: PathBuf,
    },
    /// A path could not be resolved to compare them.
    #[error(
        "cannot tell whether audit.signing_key {key} is outside audit.log_dir {log_dir}: \
         {source} (check both paths and their permissions)"
    )]
    Resolve {
        /// `audit.signing_key`.
        key: PathBuf,
        /// `audit.log_dir`.
        log_dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The signing key file `config` asks for, once it is known to be outside the log
/// directory (or the demo flag allows the default one inside it). The file itself is
/// not read here (`warden check-config` runs this before keys are provisioned).
pub fn signing_key_path(config: &crate::config::AuditConfig) -> Result<PathBuf, KeyPlacementError> {
    let log_dir = &config.log_dir;
    match &config.signing_key {
        None if config.demo_key_in_log_dir => Ok(log_dir.join(DEFAULT_KEY_FILE)),
        None => Err(KeyPlacementError::NotSet {
            log_dir: log_dir.clone(),
        }),
        Some(key) if config.demo_key_in_log_dir => Ok(key.clone()),
        Some(key) => match is_inside(key, log_dir) {
            Ok(false) => Ok(key.clone()),
            Ok(true) => Err(KeyPlacementError::InsideLogDir {
                key: key.clone(),
                log_dir: log_dir.clone(),
            }),
            Err(source) => Err(KeyPlacementError::Resolve {
                key: key.clone(),
                log_dir: log_dir.clone(),
                source,
            }),
        },
    }
}

/// `path` with symlinks and `..` resolved as far as it exists; the part that does not
/// exist yet (it holds no symlink) is appended with `.` and `..` applied lexically.
pub fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut existing = absolute.as_path();
    let mut rest: Vec<Component<'_>> = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(mut resolved) => {
                for component in rest.iter().rev() {
                    match component {
                        Component::ParentDir => {
                            resolved.pop();
                        }
                        Component::CurDir => {}
                        other => resolved.push(other.as_os_str()),
                    }
                }
                return Ok(resolved);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(last)) =
                    (existing.parent(), existing.components().next_back())
                else {
                    return Err(e);
                };
                rest.push(last);
                existing = parent;
            }
            Err(e) => return Err(e),
        }
    }
}

/// True when `path` is `dir` or lies inside it: by the resolved paths, by directory
/// identity (a directory on `path`'s way up that is `dir` under another name, such as a
/// second mount of the same volume), and by file identity (`path` is a hard link of a
/// file directly in `dir`).
pub fn is_inside(path: &Path, dir: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let path = resolve(path)?;
    let dir = resolve(dir)?;
    if path.starts_with(&dir) {
        return Ok(true);
    }
    let Ok(dir_meta) = std::fs::metadata(&dir) else {
        // The directory does not exist yet: no other name can reach it.
        return Ok(false);
    };
    if let Ok(file_meta) = std::fs::metadata(&path) {
        if file_meta.is_file() && file_meta.nlink() > 1 {
            for entry in std::fs::read_dir(&dir)?.flatten() {
                if let Ok(meta) = entry.metadata() {
                    if meta.dev() == file_meta.dev() && meta.ino() == file_meta.ino() {
                        return Ok(true);
                    }
                }
            }
        }
    }
    let mut current = Some(path.as_path());
    while let Some(candidate) = current {
        if let Ok(meta) = std::fs::metadata(candidate) {
            if meta.is_dir() && meta.dev() == dir_meta.dev() && meta.ino() == dir_meta.ino() {
                return Ok(true);
            }
        }
        current = candidate.parent();
    }
    Ok(false)
}

/// Why a verifier has no key it may trust.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Neither a key file nor a key id was given.
    #[error(
        "no trusted key: say which key signs this log with --public-key FILE (the public key \
         next to the Warden's audit.signing_key, e.g. /etc/warden/audit-key.pub.pem, as the \
         operator gave it to you) or --key-id ed25519:<sha256 hex> (printed by `warden audit \
         keygen`). Keys found inside the log directory are never trusted on their own: \
         whoever rewrote the log could have replaced them"
    )]
    NoAnchor,
    /// A `--key-id` is not `ed25519:<64 hex digits>`.
    #[error("--key-id {0:?} is not a key id: it looks like ed25519:<64 lowercase hex digits> (`warden audit keygen` prints it)")]
    BadKeyId(String),
    /// A key file could not be read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A `--public-key` file is inside a directory being verified, and its id is not
    /// pinned.
    #[error(
        "--public-key {file} is inside {dir}, the directory being verified: anyone who can \
         write the log could have replaced it (its key id is {key_id}). Use the public key \
         as the operator gave it to you, from outside the log, or pin the id you were given \
         with --key-id"
    )]
    InsideLog {
        /// The key file.
        file: PathBuf,
        /// The directory being verified.
        dir: PathBuf,
        /// The id of the key in the file.
        key_id: String,
    },
    /// No key with a pinned id was found.
    #[error(
        "no public key with the pinned id {key_id} was found ({searched}); pass the key \
         file with --public-key FILE too"
    )]
    PinnedKeyNotFound {
        /// The pinned id.
        key_id: String,
        /// Where it was looked for.
        searched: String,
    },
    /// A path could not be resolved.
    #[error("cannot resolve {path}: {source}")]
    Resolve {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The keys a verifier was told to trust.
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    /// Public (or private) key files (`--public-key`).
    pub public_keys: Vec<PathBuf>,
    /// Pinned key ids (`--key-id`).
    pub key_ids: Vec<String>,
}

/// The key ring a verification uses, and why each key is in it.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    /// The keys.
    pub ring: KeyRing,
    /// One line per key: its id and where its trust comes from.
    pub reasons: Vec<String>,
}

/// True for `ed25519:` and 64 lowercase hex digits.
pub fn is_key_id(text: &str) -> bool {
    text.strip_prefix("ed25519:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl TrustAnchors {
    /// True when nothing was given.
    pub fn is_empty(&self) -> bool {
        self.public_keys.is_empty() && self.key_ids.is_empty()
    }

    /// The trusted keys. With pinned ids: exactly the keys with those ids, found among
    /// the `--public-key` files or the `*.pem` files directly in `search_dirs` (a file
    /// with another key, such as a swapped key file, is not trusted). Without: every
    /// `--public-key`, each of which must be outside all of `untrusted_dirs` (one inside
    /// is an error, not a silent skip).
    pub fn key_ring(
        &self,
        untrusted_dirs: &[PathBuf],
        search_dirs: &[PathBuf],
    ) -> Result<TrustedKeys, TrustError> {
        if self.is_empty() {
            return Err(TrustError::NoAnchor);
        }
        let mut pinned = Vec::new();
        for id in &self.key_ids {
            let id = id.trim().to_ascii_lowercase();
            if !is_key_id(&id) {
                return Err(TrustError::BadKeyId(id));
            }
            pinned.push(id);
        }
        let mut trusted = TrustedKeys::default();
        for file in &self.public_keys {
            let key = load_verifying_key(file)?;
            let id = key_id(&key);
            if pinned.contains(&id) {
                trusted.ring.add(key);
                trusted.reasons.push(format!(
                    "{id}: pinned (--key-id), read from {}",
                    file.display()
                ));
                continue;
            }
            if !pinned.is_empty() {
                // Ids were pinned: a file only supplies key material, and this one's key
                // is not among them (a swapped key file, or another key).
                continue;
            }
            for dir in untrusted_dirs {
                let inside = is_inside(file, dir).map_err(|source| TrustError::Resolve {
                    path: file.clone(),
                    source,
                })?;
                if inside {
                    return Err(TrustError::InsideLog {
                        file: file.clone(),
                        dir: dir.clone(),
                        key_id: id,
                    });
                }
            }
            trusted.ring.add(key);
            trusted
                .reasons
                .push(format!("{id}: --public-key {}", file.display()));
        }
        for id in &pinned {
            if trusted.ring.get(id).is_some() {
                continue;
            }
            match find_key(id, search_dirs) {
                Some((key, file)) => {
                    trusted.ring.add(key);
                    trusted.reasons.push(format!(
                        "{id}: pinned (--key-id), read from {}",
                        file.display()
                    ));
                }
                None => {
                    let mut places: Vec<String> = self
                        .public_keys
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    places.extend(search_dirs.iter().map(|d| format!("{}/*.pem", d.display())));
                    let searched = if places.is_empty() {
                        "no key file given".to_string()
                    } else {
                        format!("looked in {}", places.join(", "))
                    };
                    return Err(TrustError::PinnedKeyNotFound {
                        key_id: id.clone(),
                        searched,
                    });
                }
            }
        }
        Ok(trusted)
    }
}

/// A key with id `id` among the `*.pem` files directly in `dirs`.
fn find_key(id: &str, dirs: &[PathBuf]) -> Option<(ed25519_dalek::VerifyingKey, PathBuf)> {
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pem") && p.is_file())
            .collect();
        files.sort();
        for file in files {
            if let Ok(key) = load_verifying_key(&file) {
                if key_id(&key) == id {
                    return Some((key, file));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::keys::{generate_key_pair, public_key_path};
    use crate::config::AuditConfig;

    fn config(log_dir: &Path, key: Option<&Path>, demo: bool) -> AuditConfig {
        AuditConfig {
            log_dir: log_dir.to_path_buf(),
            signing_key: key.map(Path::to_path_buf),
            demo_key_in_log_dir: demo,
            ..AuditConfig::default()
        }
    }

    #[test]
    fn a_key_outside_the_log_dir_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("audit");
        std::fs::create_dir(&log_dir).unwrap();
        let key = dir.path().join("keys/audit-key.pem");
        let path = signing_key_path(&config(&log_dir, Some(&key), false)).unwrap();
        assert_eq!(path, key);
    }

    #[test]
    fn no_key_is_refused_unless_the_demo_flag_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let error = signing_key_path(&config(dir.path(), None, false)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("warden audit keygen --out"), "{message}");
        assert!(message.contains("audit.signing_key"), "{message}");
        let demo = signing_key_path(&config(dir.path(), None, true)).unwrap();
        assert_eq!(demo, dir.path().join(DEFAULT_KEY_FILE));
    }

    #[test]
    fn a_key_inside_the_log_dir_is_refused_under_any_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("audit");
        std::fs::create_dir_all(log_dir.join("sub")).unwrap();
        std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(&log_dir, dir.path().join("alias")).unwrap();
        let spellings = [
            log_dir.join("key.pem"),
            log_dir.join("sub/key.pem"),
            log_dir.join("sub/../key.pem"),
            dir.path().join("elsewhere/../audit/key.pem"),
            dir.path().join("alias/key.pem"),
            // Not there yet: still inside.
            log_dir.join("new/dir/key.pem"),
        ];
        for key in spellings {
            let error = signing_key_path(&config(&log_dir, Some(&key), false))
                .expect_err(&key.display().to_string());
            assert!(
                matches!(error, KeyPlacementError::InsideLogDir { .. }),
                "{}: {error}",
                key.display()
            );
        }
        // The log dir named through the alias, the key through the real path.
        let error = signing_key_path(&config(
            &dir.path().join("alias"),
            Some(&log_dir.join("key.pem")),
            false,
        ))
        .unwrap_err();
        assert!(matches!(error, KeyPlacementError::InsideLogDir { .. }));
        // A hard link of a file in the log directory is that file.
        std::fs::write(log_dir.join("linked.pem"), b"key").unwrap();
        let linked = dir.path().join("elsewhere/linked.pem");
        std::fs::hard_link(log_dir.join("linked.pem"), &linked).unwrap();
        let error = signing_key_path(&config(&log_dir, Some(&linked), false)).unwrap_err();
        assert!(matches!(error, KeyPlacementError::InsideLogDir { .. }));
        // The demo flag allows it.
        assert!(signing_key_path(&config(&log_dir, Some(&log_dir.join("k.pem")), true)).is_ok());
        // A sibling whose name starts like the log dir is outside.
        let sibling = dir.path().join("audit-keys/key.pem");
        assert!(signing_key_path(&config(&log_dir, Some(&sibling), false)).is_ok());
    }

    #[test]
    fn a_relative_log_dir_that_does_not_exist_yet_is_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let resolved = resolve(&dir.path().join("a/b/../c")).unwrap();
        assert_eq!(resolved, dir.path().canonicalize().unwrap().join("a/c"));
    }

    #[test]
    fn a_verifier_needs_an_anchor_and_never_trusts_a_key_in_the_log_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("audit");
        std::fs::create_dir(&log_dir).unwrap();
        let inside = generate_key_pair(&log_dir.join("checkpoint-key.pem")).unwrap();
        let outside = generate_key_pair(&dir.path().join("trusted.pem")).unwrap();
        let dirs = [log_dir.clone()];

        let error = TrustAnchors::default().key_ring(&dirs, &dirs).unwrap_err();
        assert!(matches!(error, TrustError::NoAnchor));
        assert!(error.to_string().contains("--key-id"), "{error}");

        let inside_public = public_key_path(&log_dir.join("checkpoint-key.pem"));
        let anchors = TrustAnchors {
            public_keys: vec![inside_public.clone()],
            key_ids: Vec::new(),
        };
        let error = anchors.key_ring(&dirs, &dirs).unwrap_err();
        assert!(matches!(error, TrustError::InsideLog { .. }), "{error}");

        // Pinned: the file inside is fine, its id is the anchor.
        let inside_id = key_id(&inside.verifying_key());
        let anchors = TrustAnchors {
            public_keys: vec![inside_public],
            key_ids: vec![inside_id.clone()],
        };
        let trusted = anchors.key_ring(&dirs, &dirs).unwrap();
        assert!(trusted.ring.get(&inside_id).is_some());

        // A pinned id alone finds the key among the directory's files.
        let anchors = TrustAnchors {
            public_keys: Vec::new(),
            key_ids: vec![inside_id.to_uppercase().replace("ED25519", "ed25519")],
        };
        let trusted = anchors.key_ring(&dirs, &dirs).unwrap();
        assert_eq!(
            trusted.ring.ids().collect::<Vec<_>>(),
            vec![inside_id.as_str()]
        );

        // A pinned id that no file has.
        let anchors = TrustAnchors {
            public_keys: Vec::new(),
            key_ids: vec![key_id(&outside.verifying_key())],
        };
        let error = anchors.key_ring(&dirs, &dirs).unwrap_err();
        assert!(
            matches!(error, TrustError::PinnedKeyNotFound { .. }),
            "{error}"
        );

        // A swapped key file: pinned ids are all that is trusted.
        let anchors = TrustAnchors {
            public_keys: vec![dir.path().join("trusted.pub.pem")],
            key_ids: vec![inside_id.clone()],
        };
        let trusted = anchors.key_ring(&dirs, &dirs).unwrap();
        assert_eq!(
            trusted.ring.ids().collect::<Vec<_>>(),
            vec![inside_id.as_str()]
        );

        // A key file outside the log is trusted; a malformed id is refused.
        let anchors = TrustAnchors {
            public_keys: vec![dir.path().join("trusted.pub.pem")],
            key_ids: Vec::new(),
        };
        let trusted = anchors.key_ring(&dirs, &dirs).unwrap();
        assert!(trusted
            .ring
            .get(&key_id(&outside.verifying_key()))
            .is_some());
        let anchors = TrustAnchors {
            public_keys: Vec::new(),
            key_ids: vec!["ed25519:abc".into()],
        };
        assert!(matches!(
            anchors.key_ring(&dirs, &dirs).unwrap_err(),
            TrustError::BadKeyId(_)
        ));
    }
}
