//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, start
//! it on a free loopback port with `pg_ctl`, stop it (`pg_ctl stop -m immediate`) and
//! delete everything when dropped — also when a test fails.
//!
//! It needs the PostgreSQL 15 server binaries (`initdb`, `pg_ctl`, `postgres`): the
//! directory in `WARDEN_PG_BIN` if set, else `/usr/lib/postgresql/15/bin`, else
//! whatever `initdb` is on `PATH`. Without them [`Postgres::start`] fails and says how
//! to install them; a test that needs PostgreSQL fails rather than skipping silently.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI, containers)
//! the server's directory is given to the `postgres` user and the binaries run through
//! `runuser -u postgres --`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};

use crate::process::free_port;

/// Where Debian's `postgresql-15` package puts the server binaries.
const DEBIAN_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

/// What to do when the binaries are missing.
const INSTALL_HINT: &str = "PostgreSQL 15 server binaries (initdb, pg_ctl) not found. \
     Install them (Debian/Ubuntu: `apt-get install -y postgresql-15`, which puts them in \
     /usr/lib/postgresql/15/bin; scripts/test and CI need them too) or set WARDEN_PG_BIN \
     to the directory that holds initdb and pg_ctl";

/// A running PostgreSQL server that only this test uses. Superuser `postgres`, no
/// password (trust authentication on loopback and the socket).
#[derive(Debug)]
pub struct Postgres {
    bin_dir: PathBuf,
    as_postgres_user: bool,
    data: PathBuf,
    port: u16,
    // Last: deleted after the server is stopped in `drop`.
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Initialises and starts a server; returns once it accepts connections.
    pub fn start() -> anyhow::Result<Postgres> {
        let bin_dir = bin_dir()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_postgres_user = unsafe { libc::geteuid() } == 0;
        let dir = tempfile::Builder::new()
            .prefix("warden-pg-")
            .tempdir()
            .context("cannot create a temporary directory for PostgreSQL")?;
        let data = dir.path().join("data");
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&sockets)?;
        if as_postgres_user {
            // initdb and postgres refuse root: the server runs as `postgres`, which must
            // own its directory (the temporary directory's parents must let it through,
            // as /tmp does).
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path()))
            .context("cannot give the PostgreSQL directory to the postgres user")?;
        }
        let mut server = Postgres {
            bin_dir,
            as_postgres_user,
            data,
            port: 0,
            dir,
        };
        let mut initdb = server.command("initdb", |c| {
            c.arg("-D")
                .arg(&server.data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--locale=C", "--no-sync"]);
        });
        run(&mut initdb).context("initdb failed")?;

        // A free port can be taken by someone else before the server binds it: try a
        // few.
        let log = server.dir.path().join("postgres.log");
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=100",
                sockets.display()
            );
            // -w: pg_ctl itself waits until the server accepts connections.
            let mut start = server.command("pg_ctl", |c| {
                c.arg("start")
                    .arg("-D")
                    .arg(&server.data)
                    .arg("-l")
                    .arg(&log)
                    .args(["-w", "-t", "60", "-o"])
                    .arg(&options);
            });
            match run(&mut start) {
                Ok(()) => {
                    server.port = port;
                    return Ok(server);
                }
                Err(e) => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    last_error = Some(e.context(format!("server log:\n{tail}")));
                }
            }
        }
        Err(last_error
            .unwrap_or_else(|| anyhow::anyhow!("no attempt made"))
            .context("PostgreSQL did not start"))
    }

    /// The TCP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `database` as superuser `postgres`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Creates an empty database and returns its URL (one per test keeps tests that
    /// share a server apart).
    pub fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let mut create = self.command("createdb", |c| {
            c.args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(self.port.to_string())
                .arg(name);
        });
        run(&mut create).with_context(|| format!("createdb {name} failed"))?;
        Ok(self.url(name))
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// `program` from the server binaries, run as `postgres` when we are root.
    fn command(&self, program: &str, args: impl FnOnce(&mut Command)) -> Command {
        let path = self.bin_dir.join(program);
        let mut command = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // Out of the way of whatever directory the test runs in.
        command.current_dir(self.dir.path());
        args(&mut command);
        command
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.port == 0 {
            return;
        }
        let mut stop = self.command("pg_ctl", |c| {
            c.arg("stop")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w"]);
        });
        if let Err(e) = run(&mut stop) {
            eprintln!("warning: could not stop the test PostgreSQL: {e:#}");
        }
    }
}

/// The directory with initdb and pg_ctl.
fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("WARDEN_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        bail!(
            "WARDEN_PG_BIN={} has no initdb and pg_ctl. {INSTALL_HINT}",
            dir.display()
        );
    }
    let debian = Path::new(DEBIAN_BIN_DIR);
    if has_server_binaries(debian) {
        return Ok(debian.to_path_buf());
    }
    // initdb on PATH (often a wrapper script): use the directory of the real binary.
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let initdb = dir.join("initdb");
        if initdb.is_file() {
            let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
            if let Some(real_dir) = real.parent().filter(|d| has_server_binaries(d)) {
                return Ok(real_dir.to_path_buf());
            }
        }
    }
    bail!("{INSTALL_HINT}")
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// Runs a command to completion; an error carries its output.
fn run(command: &mut Command) -> anyhow::Result<()> {
    let program = command.get_program().to_owned();
    let args: Vec<&OsStr> = command.get_args().collect();
    let described = format!("{} {}", program.to_string_lossy(), join(&args));
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .output()
        .with_context(|| format!("cannot run {described}"))?;
    if !status.success() {
        bail!(
            "{described}: {status}\n{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    }
    Ok(())
}

fn join(args: &[&OsStr]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
