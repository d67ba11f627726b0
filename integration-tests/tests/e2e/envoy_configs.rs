//! Every Envoy config in the repo passes `envoy --mode validate`.
//!
//! Configs are found by walking `envoy/` and `compose/` for YAML files whose top level has
//! `static_resources` (other YAML there, e.g. Warden's own configs, is skipped).

use std::path::{Path, PathBuf};
use std::process::Command;

use warden_integration_tests::paths;

/// Directories (relative to the repo root) that hold Envoy configs.
const CONFIG_DIRS: &[&str] = &["envoy", "compose"];

/// Whether `path` is YAML with a top-level `static_resources` key (an Envoy bootstrap).
fn is_envoy_bootstrap(path: &Path) -> Result<bool, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // Multi-document files (`---`) are not Envoy bootstraps; only the first document counts.
    let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&text) {
        Ok(value) => value,
        Err(e) if text.contains("static_resources") => {
            return Err(format!("{} is not valid YAML: {e}", path.display()))
        }
        Err(_) => return Ok(false),
    };
    Ok(value
        .as_mapping()
        .is_some_and(|map| map.contains_key("static_resources")))
}

/// Every Envoy bootstrap config in the repo.
fn envoy_configs() -> Result<Vec<PathBuf>, String> {
    let root = paths::repo_root();
    let mut configs = Vec::new();
    for dir in CONFIG_DIRS {
        for file in paths::yaml_files(&root.join(dir)) {
            if is_envoy_bootstrap(&file)? {
                configs.push(file);
            }
        }
    }
    Ok(configs)
}

/// Runs `envoy --mode validate -c config`; on failure returns Envoy's own output.
fn validate(envoy: &Path, config: &Path) -> Result<(), String> {
    let output = Command::new(envoy)
        .args(["--mode", "validate", "--log-level", "warn", "-c"])
        .arg(config)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", envoy.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} ({})\n{}{}",
            config.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[test]
fn every_envoy_config_in_the_repo_validates() {
    let envoy = paths::envoy_bin().unwrap_or_else(|e| panic!("{e}"));
    let configs = envoy_configs().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !configs.is_empty(),
        "no Envoy configs (YAML with top-level `static_resources`) found under {:?} in {}",
        CONFIG_DIRS,
        paths::repo_root().display()
    );
    let failures: Vec<String> = configs
        .iter()
        .filter_map(|config| validate(&envoy, config).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} Envoy configs failed `envoy --mode validate`:\n\n{}",
        failures.len(),
        configs.len(),
        failures.join("\n")
    );
}

#[test]
fn the_shipped_configs_are_found() {
    let configs = envoy_configs().unwrap_or_else(|e| panic!("{e}"));
    let root = paths::repo_root();
    for expected in [
        "envoy/local-demo.yaml",
        "envoy/ext-authz.yaml",
        "envoy/front-proxy.yaml",
        "envoy/sidecar.yaml",
    ] {
        assert!(
            configs.contains(&root.join(expected)),
            "{expected} was not picked up as an Envoy config; found {configs:?}"
        );
    }
    assert!(
        !configs.contains(&root.join("compose/local-warden.yaml")),
        "Warden's own config was taken for an Envoy config"
    );
}

/// The check can fail: a config with an unknown field is rejected, with Envoy's reason.
#[test]
fn a_broken_config_fails_validation() {
    let envoy = paths::envoy_bin().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "static_resources:\n  clusters:\n    - name: x\n      no_such_field: 1\n",
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", bad.display()));
    let err = validate(&envoy, &bad).expect_err("Envoy accepted a config with an unknown field");
    assert!(err.contains("no_such_field"), "unexpected error: {err}");
}

/// Validation passes for configs whose Unix sockets do not exist yet (Warden starts later).
#[test]
fn missing_unix_sockets_do_not_fail_validation() {
    let envoy = paths::envoy_bin().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let config = dir.path().join("pipe.yaml");
    let socket = dir.path().join("does-not-exist.sock");
    std::fs::write(
        &config,
        format!(
            "static_resources:\n  clusters:\n    - name: warden\n      type: STATIC\n      \
             load_assignment:\n        cluster_name: warden\n        endpoints:\n          \
             - lb_endpoints:\n              - endpoint:\n                  address:\n                    \
             pipe: {{ path: {} }}\n",
            socket.display()
        ),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
    validate(&envoy, &config).unwrap_or_else(|e| panic!("{e}"));
}
