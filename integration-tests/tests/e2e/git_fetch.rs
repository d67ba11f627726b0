//! `git clone` through a real Envoy and Warden from a real git server
//! (`git http-backend`): a clean repository clones byte-identical; one whose objects
//! carry a secret is refused with a reason git prints, and no byte of the secret
//! reaches the client (the clone directory, or a raw capture of the fetch with curl).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{anyhow, ensure, Context};
use flate2::{Decompress, FlushDecompress, Status};
use warden_integration_tests::git_http::GitHttpServer;
use warden_integration_tests::stack::{Envoy, Flavor, Warden, WardenAddress};

/// An AWS-shaped access key id generated for this test (not a real key).
fn aws_key() -> String {
    // Base32 alphabet as AWS uses; fixed seed so a failure is reproducible, varied per
    // run of the suite by nothing.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let tail: String = (0..16)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % 32) as usize] as char
        })
        .collect();
    format!("AKIA{tail}")
}

/// The Stripe key inside the Kubernetes Secret below, base64-encoded in `data`.
const STRIPE_B64: &str = "c2tfbGl2ZV81MXFhejJ3c3gzZWRjNHJmdjV0Z2I2eWhuN3VqbQ==";
const STRIPE: &str = "sk_live_51qaz2wsx3edc4rfv5tgb6yhn7ujm";

fn manifest() -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments\n  namespace: prod\n\
         type: Opaque\ndata:\n  STRIPE_KEY: {STRIPE_B64}\n"
    )
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Output> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Jane Doe")
        .env("GIT_AUTHOR_EMAIL", "jane.doe@example.org")
        .env("GIT_COMMITTER_NAME", "Jane Doe")
        .env("GIT_COMMITTER_EMAIL", "jane.doe@example.org")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_PROTOCOL")
        .output()
        .context("git must be installed (apt-get install git)")?;
    Ok(output)
}

fn git_ok(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = git(dir, args)?;
    ensure!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A bare repository `name.git` under `root` holding `files` (plus ordinary source
/// in earlier commits, so the pack has deltas) and the work tree it was pushed from.
fn make_repo(root: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> anyhow::Result<PathBuf> {
    let work = root.join(format!("{name}-work"));
    std::fs::create_dir_all(&work)?;
    git_ok(&work, &["init", "-q", "-b", "main"])?;
    let source: String = (0..400)
        .map(|i| format!("pub fn f{i}(x: u64) -> u64 {{ x * {i} + 1 }}\n"))
        .collect();
    for round in 0..3 {
        std::fs::write(work.join("lib.rs"), format!("{source}// v{round}\n"))?;
        git_ok(&work, &["add", "."])?;
        git_ok(&work, &["commit", "-q", "-m", &format!("v{round}")])?;
    }
    for (path, content) in files {
        if let Some(parent) = Path::new(path).parent() {
            std::fs::create_dir_all(work.join(parent))?;
        }
        std::fs::write(work.join(path), content)?;
    }
    git_ok(&work, &["add", "."])?;
    git_ok(&work, &["commit", "-q", "-m", "add files"])?;
    let bare = format!("{name}.git");
    git_ok(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            &work.to_string_lossy(),
            bare.as_str(),
        ],
    )?;
    // The same request must get the same pack and bands (compared after demultiplexing):
    // one thread builds the same pack, and no keepalive packets (sent when building takes
    // over 5 s) depend on timing.
    git_ok(&root.join(&bare), &["config", "pack.threads", "1"])?;
    git_ok(&root.join(&bare), &["config", "uploadpack.keepAlive", "0"])?;
    Ok(work)
}

struct Harness {
    envoy: Envoy,
    warden: Warden,
    _server: GitHttpServer,
    server_addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    repos: tempfile::TempDir,
}

impl Harness {
    async fn start() -> anyhow::Result<Harness> {
        let repos = tempfile::tempdir()?;
        let server = GitHttpServer::start(repos.path()).await?;
        let dir = tempfile::Builder::new().prefix("warden-e2e-").tempdir()?;
        // Masking on its defaults (responses masked); policy out of the way.
        let warden = Warden::start(dir.path(), "policy:\n  enabled: false\n").await?;
        let envoy = Envoy::start(
            dir.path(),
            Flavor::ExtProc,
            WardenAddress::Tcp(warden.port),
            server.addr(),
        )
        .await?;
        Ok(Harness {
            envoy,
            warden,
            server_addr: server.addr(),
            _server: server,
            dir,
            repos,
        })
    }

    fn logs(&self) -> String {
        format!(
            "{}\n{}",
            self.warden.process.log_tail(),
            self.envoy.process.log_tail()
        )
    }

    /// `git clone` through Envoy into a new directory (protocol v2, as git speaks by
    /// default).
    fn clone(&self, name: &str) -> anyhow::Result<(Output, PathBuf)> {
        let target = self.dir.path().join(format!("clone-{name}"));
        let url = self.envoy.url(&format!("/{name}.git"));
        let out = git(
            self.dir.path(),
            &["clone", "--progress", &url, &target.to_string_lossy()],
        )?;
        Ok((out, target))
    }

    /// The raw bytes of a protocol v0 fetch of `main` through Envoy, fetched with curl.
    fn raw_fetch(&self, name: &str, work: &Path) -> anyhow::Result<Vec<u8>> {
        self.raw_fetch_from(&self.envoy.url(""), name, work)
    }

    /// The same fetch from `base` (Envoy, or the git server itself).
    fn raw_fetch_from(&self, base: &str, name: &str, work: &Path) -> anyhow::Result<Vec<u8>> {
        let head = git_ok(work, &["rev-parse", "HEAD"])?;
        // No progress: its text depends on timing, and the answers are compared.
        let want = format!("want {} side-band-64k ofs-delta no-progress\n", head.trim());
        let mut body = format!("{:04x}{want}", want.len() + 4).into_bytes();
        body.extend_from_slice(b"00000009done\n");
        let request = self.dir.path().join(format!("{name}-request"));
        std::fs::write(&request, body)?;
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                "-H",
                "content-type: application/x-git-upload-pack-request",
                "-H",
                "accept: application/x-git-upload-pack-result",
                "--data-binary",
            ])
            .arg(format!("@{}", request.display()))
            .arg(format!("{base}/{name}.git/git-upload-pack"))
            .output()
            .context("curl must be installed (apt-get install curl)")?;
        ensure!(
            out.status.success(),
            "curl: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        Ok(out.stdout)
    }
}

/// Every file under `dir`, recursively (the clone's `.git` included).
fn all_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// Everything any zlib stream starting anywhere in `bytes` inflates to (as far as it
/// goes before an error): what a client could read out of compressed pack data.
fn inflate_everywhere(bytes: &[u8]) -> Vec<u8> {
    let mut all = Vec::new();
    for start in 0..bytes.len() {
        let mut z = Decompress::new(true);
        let mut out = vec![0u8; 1 << 16];
        if let Ok(status) = z.decompress(&bytes[start..], &mut out, FlushDecompress::None) {
            let n = z.total_out() as usize;
            if n > 0 && matches!(status, Status::Ok | Status::StreamEnd | Status::BufError) {
                all.extend_from_slice(&out[..n]);
                all.push(b'\n');
            }
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts nothing a client got holds `secret`: not in plain bytes, not inside any
/// zlib stream.
fn assert_absent(what: &str, bytes: &[u8], secret: &str) -> anyhow::Result<()> {
    ensure!(
        !contains(bytes, secret.as_bytes()),
        "{what} holds the secret in plain bytes"
    );
    ensure!(
        !contains(&inflate_everywhere(bytes), secret.as_bytes()),
        "{what} holds the secret inside compressed data"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_repository_clones_byte_identical() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let files = [
        (
            "README.md",
            b"# Demo\n\nMaintainer: jane.doe@example.org\n".to_vec(),
        ),
        ("assets/blob.bin", binary),
        (
            "deploy/config.yaml",
            b"apiVersion: v1\nkind: ConfigMap\ndata:\n  LOG_LEVEL: info\n".to_vec(),
        ),
    ];
    let work = make_repo(h.repos.path(), "clean", &files)?;
    let (out, target) = h.clone("clean")?;
    ensure!(
        out.status.success(),
        "clean clone failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        h.logs()
    );
    for name in [
        "lib.rs",
        "README.md",
        "assets/blob.bin",
        "deploy/config.yaml",
    ] {
        let want = std::fs::read(work.join(name))?;
        let got = std::fs::read(target.join(name)).with_context(|| name.to_string())?;
        ensure!(got == want, "{name} differs after the clone");
    }
    ensure!(
        git_ok(&target, &["rev-parse", "HEAD"])? == git_ok(&work, &["rev-parse", "HEAD"])?,
        "HEAD differs"
    );
    git_ok(&target, &["fsck", "--strict"])?;
    // The raw v0 fetch carries the server's own answer unchanged.
    let through = h.raw_fetch("clean", &work)?;
    let direct = h.raw_fetch_from(&format!("http://{}", h.server_addr), "clean", &work)?;
    ensure!(contains(&direct, b"PACK"), "no pack in the server's answer");
    // Compared as git reads it: upload-pack cuts the pack into side-band packets as
    // pack-objects' output reaches it, so the packet boundaries (5 bytes of framing each)
    // differ between two answers of the same server; the protocol lines and the bytes of
    // each band do not.
    let through_read = demultiplex(&through)?;
    let direct_read = demultiplex(&direct)?;
    ensure!(
        through_read == direct_read,
        "the fetch through Warden differs from the server's answer ({} vs {} bytes; pack \
         {} vs {} bytes)",
        through.len(),
        direct.len(),
        through_read.bands[0].len(),
        direct_read.bands[0].len()
    );
    Ok(())
}

/// A fetch response as git reads it.
#[derive(Debug, PartialEq, Eq)]
struct Demultiplexed {
    /// Protocol lines (flushes as empty).
    lines: Vec<Vec<u8>>,
    /// The bytes of side-bands 1 (pack), 2 (progress) and 3 (error), each joined.
    bands: [Vec<u8>; 3],
}

fn demultiplex(bytes: &[u8]) -> anyhow::Result<Demultiplexed> {
    let mut lines = Vec::new();
    let mut bands: [Vec<u8>; 3] = Default::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        ensure!(rest.len() >= 4, "a truncated pkt-line length");
        let len = usize::from_str_radix(std::str::from_utf8(&rest[..4])?, 16)?;
        if len < 4 {
            lines.push(Vec::new());
            rest = &rest[4..];
            continue;
        }
        ensure!(rest.len() >= len, "a truncated pkt-line");
        let payload = &rest[4..len];
        match payload.first() {
            Some(&band @ 1..=3) => bands[usize::from(band - 1)].extend_from_slice(&payload[1..]),
            _ => lines.push(payload.to_vec()),
        }
        rest = &rest[len..];
    }
    Ok(Demultiplexed { lines, bands })
}

async fn refused(
    name: &str,
    files: &[(&str, Vec<u8>)],
    secrets: &[&str],
    rule: &str,
) -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let work = make_repo(h.repos.path(), name, files)?;
    let (out, target) = h.clone(name)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success(),
        "the clone of a repository with a secret succeeded\n{stderr}\n{}",
        h.logs()
    );
    ensure!(
        // git shows a side-band error as `remote: …` (older versions `remote error: …`).
        stderr.contains("remote: Warden refused this fetch")
            || stderr.contains("remote error: Warden refused this fetch"),
        "git did not print Warden's reason:\n{stderr}\n{}",
        h.logs()
    );
    ensure!(
        stderr.contains(rule),
        "the reason does not name {rule}:\n{stderr}"
    );
    for file in all_files(&target)? {
        let bytes = std::fs::read(&file)?;
        for secret in secrets {
            assert_absent(&file.display().to_string(), &bytes, secret)?;
        }
    }
    let raw = h.raw_fetch(name, &work)?;
    ensure!(
        contains(&raw, b"Warden refused this fetch"),
        "the raw fetch does not end with Warden's reason:\n{}",
        String::from_utf8_lossy(&raw)
    );
    for secret in secrets {
        assert_absent("the raw fetch", &raw, secret)?;
    }
    // The audit record names the rule, never the value.
    let mut audit = Vec::new();
    for file in all_files(&h.dir.path().join("audit"))? {
        audit.extend(std::fs::read(&file)?);
    }
    ensure!(
        contains(&audit, rule.as_bytes()),
        "the audit log does not record the rule {rule}"
    );
    for secret in secrets {
        ensure!(
            !contains(&audit, secret.as_bytes()),
            "the audit log holds the secret"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_aws_key_refuses_the_clone() -> anyhow::Result<()> {
    let key = aws_key();
    let files = [(
        "config/credentials",
        format!("[default]\naws_access_key_id = {key}\nregion = eu-west-1\n").into_bytes(),
    )];
    refused("aws", &files, &[key.as_str()], "aws-access-token").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_kubernetes_secret_refuses_the_clone() -> anyhow::Result<()> {
    let files = [("deploy/secret.yaml", manifest().into_bytes())];
    refused("k8s", &files, &[STRIPE_B64, STRIPE], "k8s-secret")
        .await
        .map_err(|e| anyhow!("{e:#}"))
}

/// A push whose objects carry a secret is refused in git's own reply shape (git prints
/// the reason and the ref as rejected), and the server never receives the objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_carrying_a_secret_is_refused_with_a_reason_git_prints() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let readme = [("README.md", b"# Pushed\n".to_vec())];
    let work = make_repo(h.repos.path(), "pushed", &readme)?;
    let before = git_ok(&h.repos.path().join("pushed.git"), &["rev-parse", "main"])?;
    let key = aws_key();
    std::fs::write(
        work.join("credentials"),
        format!("[default]\naws_access_key_id = {key}\n"),
    )?;
    git_ok(&work, &["add", "."])?;
    git_ok(&work, &["commit", "-q", "-m", "add credentials"])?;
    let url = h.envoy.url("/pushed.git");
    let out = git(&work, &["push", &url, "main"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- git push stderr ---\n{stderr}");
    ensure!(
        !out.status.success(),
        "the push of a secret succeeded\n{}",
        h.logs()
    );
    ensure!(
        stderr.contains("Warden refused") && stderr.contains("aws-access-token"),
        "git did not print Warden's reason naming the rule:\n{stderr}\n{}",
        h.logs()
    );
    ensure!(
        stderr.contains("[remote rejected]"),
        "git did not report the ref as rejected by the remote:\n{stderr}"
    );
    ensure!(
        git_ok(&h.repos.path().join("pushed.git"), &["rev-parse", "main"])? == before,
        "the server's main moved"
    );
    for file in all_files(&h.repos.path().join("pushed.git"))? {
        let bytes = inflate_everywhere(&std::fs::read(&file)?);
        assert_absent(&file.display().to_string(), &bytes, &key)?;
    }
    Ok(())
}
