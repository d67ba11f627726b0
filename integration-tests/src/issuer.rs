//! The demo OIDC issuer as a process (`warden dev-issuer`), and tokens minted with
//! `warden dev-token` — what `scripts/demo` does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, ensure};

use crate::paths;
use crate::process::{free_port, poll_until, ChildProcess};
use crate::stack::http1_client;

/// A running `warden dev-issuer`.
pub struct DevIssuer {
    /// The process.
    pub process: ChildProcess,
    /// The issuer URL (`http://127.0.0.1:PORT`).
    pub url: String,
    key_dir: PathBuf,
}

impl DevIssuer {
    /// Starts the issuer with its key in `dir/issuer` and waits for its discovery document.
    pub async fn start(dir: &Path) -> anyhow::Result<DevIssuer> {
        Self::start_with_users(dir, &[]).await
    }

    /// [`DevIssuer::start`] with these sign-in page users (`NAME:GROUP,GROUP`; none:
    /// the issuer's defaults).
    pub async fn start_with_users(dir: &Path, users: &[&str]) -> anyhow::Result<DevIssuer> {
        let port = free_port()?;
        let key_dir = dir.join("issuer");
        let bin = paths::warden_bin().map_err(|e| anyhow!(e))?;
        let mut command = Command::new(bin);
        command
            .arg("dev-issuer")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--key-dir")
            .arg(&key_dir);
        for user in users {
            command.args(["--user", user]);
        }
        let mut process = ChildProcess::spawn("dev-issuer", command, dir)?;
        let url = format!("http://127.0.0.1:{port}");
        let client = http1_client();
        let discovery = format!("{url}/.well-known/openid-configuration");
        let ready = poll_until("dev-issuer discovery", Duration::from_secs(30), || {
            let (client, discovery) = (client.clone(), discovery.clone());
            async move {
                let response = client.get(discovery).send().await.ok()?;
                response.status().is_success().then_some(())
            }
        })
        .await;
        if let Err(e) = ready {
            process.ensure_running()?;
            return Err(e.context(process.log_tail()));
        }
        Ok(DevIssuer {
            process,
            url,
            key_dir,
        })
    }

    /// A token for `sub` in `groups`, minted by `warden dev-token`.
    pub fn token(&self, sub: &str, groups: &[&str]) -> anyhow::Result<String> {
        self.mint(sub, groups, None)
    }

    /// A token for `sub` (an agent) acting for the person `human` (an `act` claim).
    pub fn token_acting_for(
        &self,
        sub: &str,
        groups: &[&str],
        human: &str,
    ) -> anyhow::Result<String> {
        self.mint(sub, groups, Some(human))
    }

    fn mint(&self, sub: &str, groups: &[&str], acting_for: Option<&str>) -> anyhow::Result<String> {
        let bin = paths::warden_bin().map_err(|e| anyhow!(e))?;
        let mut command = Command::new(bin);
        command
            .arg("dev-token")
            .args(["--sub", sub])
            .args(["--issuer", &self.url])
            .arg("--key-dir")
            .arg(&self.key_dir);
        if let Some(human) = acting_for {
            command.args(["--acting-for", human]);
        }
        for group in groups {
            command.args(["--group", group]);
        }
        let output = command.output()?;
        ensure!(
            output.status.success(),
            "warden dev-token failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let token = String::from_utf8(output.stdout)?.trim().to_string();
        ensure!(token.split('.').count() == 3, "not a JWT: {token}");
        Ok(token)
    }

    /// Warden's `identity` section trusting this issuer (tokens required).
    pub fn identity_config(&self) -> String {
        format!(
            "identity:\n  required: true\n  issuers:\n    - issuer: {}\n      audiences: [warden]\n      allow_http: true\n",
            self.url
        )
    }
}
