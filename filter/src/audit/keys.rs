//! The checkpoint signing key: loading it, creating it (`warden audit keygen`), and
//! reading public keys for verification. PKCS#8 / SPKI PEM files. Where the key may live
//! and which keys a verifier trusts is [`super::trust`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::chain::KeyRing;

/// The demo key's file name in `audit.log_dir` (`audit.demo_key_in_log_dir`).
pub const DEFAULT_KEY_FILE: &str = "checkpoint-key.pem";

/// The public key's file name next to it.
pub const DEFAULT_PUBLIC_KEY_FILE: &str = "checkpoint-key.pub.pem";

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file holds no Ed25519 key of the expected kind.
    #[error("{path} is not an Ed25519 {kind} key in PEM form ({message}); create one with `warden audit keygen --out FILE`")]
    Parse {
        /// The file.
        path: PathBuf,
        /// `private (PKCS#8)` or `public`.
        kind: &'static str,
        /// The parser's message.
        message: String,
    },
    /// The file could not be written.
    #[error("cannot write key file {path}: {source} (check the directory exists and is writable)")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key file exists already (keygen never overwrites).
    #[error("{0} exists already; keygen does not overwrite a key (choose another --out or move it away)")]
    Exists(PathBuf),
}

/// Reads a PKCS#8 PEM Ed25519 private key.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::Parse {
        path: path.to_path_buf(),
        kind: "private (PKCS#8)",
        message: e.to_string(),
    })
}

/// Reads a public key (SPKI PEM). A private key file is accepted too (its public half
/// is used), so `--public-key` may name either.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if let Ok(key) = VerifyingKey::from_public_key_pem(&pem) {
        return Ok(key);
    }
    match SigningKey::from_pkcs8_pem(&pem) {
        Ok(key) => Ok(key.verifying_key()),
        Err(e) => Err(KeyError::Parse {
            path: path.to_path_buf(),
            kind: "public",
            message: e.to_string(),
        }),
    }
}

/// A key ring of the public keys in `paths`.
pub fn load_key_ring(paths: &[PathBuf]) -> Result<KeyRing, KeyError> {
    let mut ring = KeyRing::new();
    for path in paths {
        ring.add(load_verifying_key(path)?);
    }
    Ok(ring)
}

/// The public key file next to a private key file: `x.pem` → `x.pub.pem`.
pub fn public_key_path(private: &Path) -> PathBuf {
    let name = private
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".pem").unwrap_or(&name);
    private.with_file_name(format!("{stem}.pub.pem"))
}

/// Creates a new key pair: the private key at `path` (mode 0600, never overwriting)
/// and the public key at [`public_key_path`].
pub fn generate_key_pair(path: &Path) -> Result<SigningKey, KeyError> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Write { path, source }
    };
    let private = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| KeyError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let public = key
        .verifying_key()
        .to_public_key_pem(Default::default())
        .map_err(|e| KeyError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists(path.to_path_buf())
        } else {
            KeyError::Write {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    file.write_all(private.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_err(path))?;
    let public_path = public_key_path(path);
    std::fs::write(&public_path, public.as_bytes()).map_err(write_err(&public_path))?;
    Ok(key)
}

/// The demo-only key in the log directory (`audit.demo_key_in_log_dir`):
/// `<log_dir>/checkpoint-key.pem`, created (with its public key) when missing. Whoever
/// can write the log directory can also replace this key, so a log signed with it proves
/// nothing to an auditor; see [`super::trust`].
pub fn load_or_create_demo_key(log_dir: &Path) -> Result<SigningKey, KeyError> {
    let path = log_dir.join(DEFAULT_KEY_FILE);
    if path.exists() {
        return load_signing_key(&path);
    }
    let key = generate_key_pair(&path)?;
    tracing::warn!(
        key = %path.display(),
        public_key = %public_key_path(&path).display(),
        key_id = %super::chain::key_id(&key.verifying_key()),
        "created a DEMO audit checkpoint key inside the log directory"
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_loads_back_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let key = generate_key_pair(&path).unwrap();
        assert_eq!(load_signing_key(&path).unwrap(), key);
        let public = load_verifying_key(&dir.path().join("k.pub.pem")).unwrap();
        assert_eq!(public, key.verifying_key());
        assert_eq!(load_verifying_key(&path).unwrap(), key.verifying_key());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(generate_key_pair(&path), Err(KeyError::Exists(_))));
    }

    #[test]
    fn the_demo_key_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_demo_key(dir.path()).unwrap();
        let second = load_or_create_demo_key(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(dir.path().join(DEFAULT_PUBLIC_KEY_FILE).is_file());
    }
}
