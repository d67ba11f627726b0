//! The append-only audit log on disk: JSON-lines segment files in `audit.log_dir`,
//! named `<instance>-<first seq, 12 digits>.jsonl`.
//!
//! - Each segment begins with a `segment` header line (created whole: written to a
//!   temporary file, synced, renamed into place) and, once it passes
//!   `segment_max_bytes`, ends with a signed `seal` checkpoint; the next segment's
//!   header continues the chain (its `first_seq` and `prev_hash`).
//! - Every batch is written with one `write` and synced (`fdatasync`) before anything
//!   downstream sees it.
//! - `<instance>.head.json` holds the latest checkpoint, replaced atomically (temporary
//!   file, sync, rename, directory sync), so cutting the log's tail is detectable: the
//!   log would end before the checkpoint its head names.
//!
//! On start the chain resumes from the newest segment of this instance, after
//! verifying it. A partial last line (a crash mid-write) is reported loudly and kept:
//! a new segment begins whose header records the break; history is never rewritten.
//! Any other damage, or a log shorter than its head checkpoint, stops Warden with a
//! message saying what to do.
//!
//! A failed write or sync leaves the log unusable for this process (after a failed
//! `fsync` the kernel's view of the file cannot be trusted): every later call fails,
//! the writer stops, and Warden refuses requests until it is restarted.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use super::chain::{
    key_id, Chain, ChainBreak, ChainError, ChainedPolicy, ChainedRecord, Checkpoint,
    CheckpointReason, KeyRing, LogLine, PolicyVersion, SegmentHeader,
};
use super::record::AuditRecord;
use super::verify::{head_file_name, Broken, ChainVerifier, VerifyOptions};

/// Where the log lives and how it is cut into segments.
#[derive(Clone, Debug)]
pub struct LogSettings {
    /// `audit.log_dir`.
    pub dir: PathBuf,
    /// This instance's name (`audit.instance`).
    pub instance: String,
    /// `audit.segment_max_bytes`.
    pub segment_max_bytes: u64,
}

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The directory could not be created or written.
    #[error("audit.log_dir {path} is not writable: {source} (change audit.log_dir or fix its permissions)")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The instance name cannot name files.
    #[error(
        "audit.instance {0:?} cannot name log files: use letters, digits, '.', '_' and '-' only"
    )]
    InstanceName(String),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A segment of this instance has no readable header.
    #[error("{path} has no valid segment header ({message}); keep it as evidence, run `warden audit verify {dir}`, and move it out of audit.log_dir")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// The log directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The newest segment does not verify.
    #[error("the newest audit segment does not verify: {broken}. Warden does not append to a damaged chain: keep the files as evidence, run `warden audit verify {dir}`, then point audit.log_dir at a new directory (a new chain)")]
    Damaged {
        /// The first broken line.
        broken: Broken,
        /// The log directory.
        dir: PathBuf,
    },
    /// The log is shorter than its head checkpoint, or disagrees with it.
    #[error("{head}: {problem}. Keep the files as evidence, run `warden audit verify {dir}`, then point audit.log_dir at a new directory (a new chain)")]
    HeadDisagrees {
        /// The head file.
        head: PathBuf,
        /// What disagrees.
        problem: String,
        /// The log directory.
        dir: PathBuf,
    },
    /// A write or sync failed.
    #[error("cannot write the audit log {path}: {source} (disk full or read-only?). Warden refuses requests until the log is writable and Warden is restarted")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An earlier write failed; this process no longer writes the log.
    #[error(
        "an earlier audit log write failed; restart Warden once the log directory is writable"
    )]
    Poisoned,
    /// A line could not be made.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// What can be appended to the chain.
#[derive(Clone, Debug, PartialEq)]
// Records are nearly every line: boxing them would cost an allocation each, for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Appendable {
    /// An exchange's record.
    Record(AuditRecord),
    /// A policy version put in force.
    Policy(PolicyVersion),
}

/// A chained line as appended.
#[derive(Clone, Debug, PartialEq)]
// Records are nearly every line: boxing them would cost an allocation each, for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Appended {
    /// An exchange's record.
    Record(ChainedRecord),
    /// A policy version.
    Policy(ChainedPolicy),
}

/// How the chain was picked up when the log was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// No segment of this instance existed: a new chain.
    NewChain,
    /// The newest segment verified and the chain continues in it (or after its seal).
    Continued {
        /// The segment the chain was picked up from.
        segment: PathBuf,
    },
    /// The newest segment ended in a partial line (a crash mid-write); it was kept and
    /// a new segment records the break.
    AfterTornTail {
        /// The torn segment.
        segment: PathBuf,
        /// The partial line's number.
        line: u64,
        /// Its length.
        discarded_bytes: u64,
    },
}

struct OpenSegment {
    path: PathBuf,
    file: std::fs::File,
    number: u64,
    bytes: u64,
}

/// The open log of one instance.
pub struct AuditLog {
    settings: LogSettings,
    key: SigningKey,
    chain: Chain,
    segment: OpenSegment,
    last_checkpoint: Option<Checkpoint>,
    resumed: Resumed,
    poisoned: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.settings.dir)
            .field("instance", &self.settings.instance)
            .field("segment", &self.segment.path)
            .field("seq", &self.chain.seq())
            .finish_non_exhaustive()
    }
}

/// What the newest segment said when it was checked.
struct Tail {
    path: PathBuf,
    number: u64,
    bytes: u64,
    seq: u64,
    hash: String,
    sealed: bool,
    torn: Option<(u64, u64, u64)>,
    last_checkpoint: Option<Checkpoint>,
}

impl AuditLog {
    /// Opens (or starts) the log of `settings.instance`, resuming its chain, with
    /// `key` signing checkpoints.
    pub fn open(settings: LogSettings, key: SigningKey) -> Result<AuditLog, LogError> {
        let valid_name = !settings.instance.is_empty()
            && settings
                .instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !settings.instance.starts_with('.');
        if !valid_name {
            return Err(LogError::InstanceName(settings.instance.clone()));
        }
        let dir = settings.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| LogError::Dir {
            path: dir.clone(),
            source,
        })?;
        let head_path = dir.join(head_file_name(&settings.instance));
        let head = read_head(&head_path)?;
        if let Some(head) = head.as_ref().filter(|h| h.instance != settings.instance) {
            return Err(LogError::HeadDisagrees {
                head: head_path,
                problem: format!(
                    "it holds a checkpoint of instance {:?}, not {:?} (another chain's head put \
                     in its place)",
                    head.instance, settings.instance
                ),
                dir,
            });
        }
        let newest = newest_segment(&dir, &settings.instance)?;
        let Some((newest_path, _)) = newest else {
            if let Some(head) = head {
                return Err(LogError::HeadDisagrees {
                    head: head_path,
                    problem: format!(
                        "it holds a checkpoint signed at seq {} but no segment of instance {:?} \
                         is in the directory: the log was removed",
                        head.seq, settings.instance
                    ),
                    dir,
                });
            }
            let chain = Chain::new(settings.instance.clone());
            let segment = create_segment(&settings, &key, &chain, 1, None)?;
            tracing::info!(segment = %segment.path.display(), instance = %settings.instance, "audit log: new chain");
            let mut log = AuditLog {
                settings,
                key,
                chain,
                segment,
                last_checkpoint: None,
                resumed: Resumed::NewChain,
                poisoned: false,
            };
            // The head file exists from the start: a log without one was cut.
            log.checkpoint(CheckpointReason::Start)?;
            return Ok(log);
        };
        let tail = check_tail(&settings, &key, &newest_path, head.as_ref(), &head_path)?;
        let mut sign_start = false;
        if head.is_none() {
            // Only a chain that never got past its first header (a stop between creating
            // segment 1 and signing its start) may lack a head; anything else lost it.
            let never_started = tail.number == 1 && tail.seq == 0 && tail.last_checkpoint.is_none();
            if !never_started {
                return Err(LogError::HeadDisagrees {
                    head: head_path,
                    problem: format!(
                        "the head file is missing, but the chain has segments up to {} (seq \
                         {}): Warden keeps a head file from the chain's first line on, so it \
                         was deleted, and the log's tail may have been cut with it",
                        tail.path.display(),
                        tail.seq
                    ),
                    dir,
                });
            }
            sign_start = true;
        }
        let chain = Chain::resume(settings.instance.clone(), tail.seq, tail.hash.clone());
        let (segment, resumed) = if let Some((line, valid_bytes, discarded_bytes)) = tail.torn {
            tracing::error!(
                segment = %tail.path.display(),
                line,
                discarded_bytes,
                seq = tail.seq,
                "AUDIT LOG TORN: the newest segment ends in a partial line (Warden stopped \
                 mid-write). The file is kept as it is; a new segment records the break and \
                 the chain continues from the last complete line"
            );
            let file_name = tail
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let recorded = ChainBreak {
                segment_file: file_name,
                valid_bytes,
                discarded_bytes,
                reason: "partial last line after an abrupt stop".into(),
            };
            let segment = create_segment(&settings, &key, &chain, tail.number + 1, Some(recorded))?;
            let resumed = Resumed::AfterTornTail {
                segment: tail.path.clone(),
                line,
                discarded_bytes,
            };
            (segment, resumed)
        } else if tail.sealed {
            let segment = create_segment(&settings, &key, &chain, tail.number + 1, None)?;
            (
                segment,
                Resumed::Continued {
                    segment: tail.path.clone(),
                },
            )
        } else {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(&tail.path)
                .map_err(|source| LogError::Dir {
                    path: tail.path.clone(),
                    source,
                })?;
            let segment = OpenSegment {
                path: tail.path.clone(),
                file,
                number: tail.number,
                bytes: tail.bytes,
            };
            (
                segment,
                Resumed::Continued {
                    segment: tail.path.clone(),
                },
            )
        };
        tracing::info!(
            segment = %segment.path.display(),
            seq = chain.seq(),
            instance = %settings.instance,
            "audit log: chain resumed"
        );
        let mut log = AuditLog {
            settings,
            key,
            chain,
            segment,
            last_checkpoint: tail.last_checkpoint,
            resumed,
            poisoned: false,
        };
        if sign_start {
            log.checkpoint(CheckpointReason::Start)?;
        }
        log.rotate_if_full()?;
        Ok(log)
    }

    /// Where the chain stands.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// How the chain was picked up.
    pub fn resumed(&self) -> &Resumed {
        &self.resumed
    }

    /// The segment being written.
    pub fn segment_path(&self) -> &Path {
        &self.segment.path
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    /// The head file's path.
    pub fn head_path(&self) -> PathBuf {
        self.settings
            .dir
            .join(head_file_name(&self.settings.instance))
    }

    /// The latest checkpoint written (or found when resuming).
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.last_checkpoint.as_ref()
    }

    /// The signing key's id.
    pub fn key_id(&self) -> String {
        key_id(&self.key.verifying_key())
    }

    /// Marks the log as failed, as a failed write would (tests of what follows).
    #[cfg(test)]
    pub(crate) fn poison_for_test(&mut self) {
        self.poisoned = true;
    }

    fn usable(&self) -> Result<(), LogError> {
        if self.poisoned {
            Err(LogError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Chains `items` in order, writes them with one write and syncs.
    pub fn append(&mut self, items: Vec<Appendable>) -> Result<Vec<Appended>, LogError> {
        self.usable()?;
        let mut text = String::new();
        let mut appended = Vec::with_capacity(items.len());
        for item in items {
            let line = match item {
                Appendable::Record(record) => LogLine::Record(self.chain.append(record)?),
                Appendable::Policy(policy) => LogLine::Policy(self.chain.append_policy(policy)?),
            };
            text.push_str(&line.to_json()?);
            text.push('\n');
            appended.push(match line {
                LogLine::Record(r) => Appended::Record(r),
                LogLine::Policy(p) => Appended::Policy(p),
                LogLine::Segment(_) | LogLine::Checkpoint(_) => continue,
            });
        }
        self.write_synced(text.as_bytes())?;
        Ok(appended)
    }

    fn write_synced(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        let result = self
            .segment
            .file
            .write_all(bytes)
            .and_then(|()| self.segment.file.sync_data());
        if let Err(source) = result {
            self.poisoned = true;
            return Err(LogError::Write {
                path: self.segment.path.clone(),
                source,
            });
        }
        self.segment.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Signs where the chain stands, appends the checkpoint (synced) and replaces the
    /// head file with it.
    pub fn checkpoint(&mut self, reason: CheckpointReason) -> Result<Checkpoint, LogError> {
        self.usable()?;
        let checkpoint = Checkpoint::sign(&self.chain, reason, &self.key);
        let mut text = LogLine::Checkpoint(checkpoint.clone()).to_json()?;
        text.push('\n');
        self.write_synced(text.as_bytes())?;
        let head_path = self.head_path();
        let mut head = serde_json::to_string(&checkpoint).map_err(ChainError::from)?;
        head.push('\n');
        if let Err(source) = replace_atomically(&self.settings.dir, &head_path, head.as_bytes()) {
            self.poisoned = true;
            return Err(LogError::Write {
                path: head_path,
                source,
            });
        }
        self.last_checkpoint = Some(checkpoint.clone());
        Ok(checkpoint)
    }

    /// When the segment has passed `segment_max_bytes`: seals it (a `seal` checkpoint
    /// as its last line) and begins the next. Returns the seal.
    pub fn rotate_if_full(&mut self) -> Result<Option<Checkpoint>, LogError> {
        self.usable()?;
        if self.segment.bytes < self.settings.segment_max_bytes {
            return Ok(None);
        }
        let seal = self.checkpoint(CheckpointReason::Seal)?;
        let next = self.segment.number + 1;
        match create_segment(&self.settings, &self.key, &self.chain, next, None) {
            Ok(segment) => self.segment = segment,
            Err(e) => {
                self.poisoned = true;
                return Err(e);
            }
        }
        Ok(Some(seal))
    }
}

/// Creates the log directory and checks that files can be created in it.
pub fn prepare_dir(dir: &Path) -> Result<(), LogError> {
    let dir_err = |source| LogError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(dir_err)?;
    let probe = dir.join(".warden-write-probe");
    std::fs::write(&probe, b"").map_err(dir_err)?;
    std::fs::remove_file(&probe).map_err(dir_err)
}

/// The head file's checkpoint, when there is one.
fn read_head(path: &Path) -> Result<Option<Checkpoint>, LogError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| LogError::HeadDisagrees {
                    head: path.to_path_buf(),
                    problem: format!("the head file does not parse ({e})"),
                    dir: path.parent().map_or_else(PathBuf::new, Path::to_path_buf),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LogError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The segment files of `instance` in `dir`: the newest (by segment number).
fn newest_segment(dir: &Path, instance: &str) -> Result<Option<(PathBuf, u64)>, LogError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LogError::Read { path, source }
    };
    let prefix = format!("{instance}-");
    let mut newest: Option<(PathBuf, u64)> = None;
    for entry in std::fs::read_dir(dir).map_err(|source| LogError::Dir {
        path: dir.to_path_buf(),
        source,
    })? {
        let path = entry.map_err(read_err(dir))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(rest) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".jsonl"))
        else {
            continue;
        };
        // `<instance>-<digits>[-<digits>]`: another instance's name may extend ours.
        if !rest.chars().all(|c| c.is_ascii_digit() || c == '-') {
            continue;
        }
        let first = read_first_line(&path).map_err(read_err(&path))?;
        let bad_header = |message: String| LogError::BadHeader {
            path: path.clone(),
            dir: dir.to_path_buf(),
            message,
        };
        let header = match std::str::from_utf8(&first).map(LogLine::parse) {
            Ok(Ok(LogLine::Segment(header))) => header,
            Ok(Ok(_)) => return Err(bad_header("its first line is not a header".into())),
            Ok(Err(e)) => return Err(bad_header(e.to_string())),
            Err(e) => return Err(bad_header(e.to_string())),
        };
        if header.instance != instance {
            continue;
        }
        if newest.as_ref().is_none_or(|(_, n)| header.segment > *n) {
            newest = Some((path.clone(), header.segment));
        }
    }
    Ok(newest)
}

fn read_first_line(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}

/// Verifies the newest segment and where it leaves the chain, against the head file.
fn check_tail(
    settings: &LogSettings,
    key: &SigningKey,
    path: &Path,
    head: Option<&Checkpoint>,
    head_path: &Path,
) -> Result<Tail, LogError> {
    let bytes = std::fs::read(path).map_err(|source| LogError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut keys = KeyRing::new();
    keys.add(key.verifying_key());
    let options = VerifyOptions {
        allow_partial_start: true,
        // Older checkpoints may be signed by a key since replaced; resuming needs the
        // links, and `warden audit verify` checks signatures with every key.
        skip_signatures: true,
        ..VerifyOptions::default()
    };
    let mut verifier = ChainVerifier::new(&settings.instance, &keys, options);
    verifier.segment(path, &bytes);
    let state = verifier.resume_state(head);
    if let Some(broken) = state.broken {
        return Err(LogError::Damaged {
            broken,
            dir: settings.dir.clone(),
        });
    }
    if let Some(problem) = state.head_problem {
        return Err(LogError::HeadDisagrees {
            head: head_path.to_path_buf(),
            problem,
            dir: settings.dir.clone(),
        });
    }
    Ok(Tail {
        path: path.to_path_buf(),
        number: state.segment,
        bytes: bytes.len() as u64,
        seq: state.last_seq,
        hash: state.last_hash,
        sealed: state.sealed,
        torn: state.torn,
        last_checkpoint: state.last_signed,
    })
}

/// Creates segment `number` whole (header written to a temporary file, synced,
/// renamed into place, directory synced) and opens it for appending.
fn create_segment(
    settings: &LogSettings,
    key: &SigningKey,
    chain: &Chain,
    number: u64,
    resumed_after: Option<ChainBreak>,
) -> Result<OpenSegment, LogError> {
    let dir = &settings.dir;
    let first_seq = chain.seq() + 1;
    let header = LogLine::Segment(SegmentHeader {
        instance: settings.instance.clone(),
        segment: number,
        first_seq,
        prev_hash: chain.hash().to_string(),
        key_id: key_id(&key.verifying_key()),
        created_at: super::rfc3339_micros(&time::OffsetDateTime::now_utc()),
        resumed_after,
    });
    let mut text = header.to_json()?;
    text.push('\n');
    let mut path = dir.join(format!("{}-{first_seq:012}.jsonl", settings.instance));
    if path.exists() {
        // A torn segment that held no complete chained line starts at the same seq.
        path = dir.join(format!(
            "{}-{first_seq:012}-{number}.jsonl",
            settings.instance
        ));
    }
    let dir_err = |source| LogError::Dir {
        path: dir.clone(),
        source,
    };
    if path.exists() {
        return Err(dir_err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists already", path.display()),
        )));
    }
    replace_atomically(dir, &path, text.as_bytes()).map_err(dir_err)?;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(dir_err)?;
    Ok(OpenSegment {
        path,
        file,
        number,
        bytes: text.len() as u64,
    })
}

/// Writes `bytes` to `path` so that it is either the old content or the new, whole:
/// a temporary file in `dir`, synced, renamed over `path`, then the directory synced.
fn replace_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::tests::{sample_record, test_key};
    use crate::audit::verify::{verify_paths, HeadStatus, VerifyOptions};

    fn settings(dir: &Path, segment_max_bytes: u64) -> LogSettings {
        LogSettings {
            dir: dir.to_path_buf(),
            instance: "w1".into(),
            segment_max_bytes,
        }
    }

    fn keys() -> KeyRing {
        let mut keys = KeyRing::new();
        keys.add(test_key(1).verifying_key());
        keys
    }

    fn records(from: u64, to: u64) -> Vec<Appendable> {
        (from..=to)
            .map(|n| Appendable::Record(sample_record(n)))
            .collect()
    }

    fn verify(dir: &Path) -> crate::audit::Report {
        verify_paths(&[dir.to_path_buf()], &keys(), &VerifyOptions::default()).unwrap()
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn a_reopened_log_continues_its_chain_in_the_same_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        assert_eq!(log.resumed(), &Resumed::NewChain);
        log.append(records(1, 3)).unwrap();
        log.checkpoint(CheckpointReason::Shutdown).unwrap();
        drop(log);

        let mut log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        assert!(matches!(log.resumed(), Resumed::Continued { .. }));
        assert_eq!(log.chain().seq(), 3);
        assert_eq!(log.last_checkpoint().map(|c| c.seq), Some(3));
        let appended = log.append(records(4, 4)).unwrap();
        assert!(matches!(&appended[0], Appended::Record(r) if r.seq == 4));
        log.checkpoint(CheckpointReason::Shutdown).unwrap();

        assert_eq!(segment_files(dir.path()).len(), 1);
        let report = verify(dir.path());
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].records, 4);
        assert_eq!(report.chains[0].head, HeadStatus::Agrees);
    }

    #[test]
    fn full_segments_are_sealed_and_the_next_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(settings(dir.path(), 1500), test_key(1)).unwrap();
        let mut seals = 0;
        for n in 1..=10 {
            log.append(records(n, n)).unwrap();
            seals += usize::from(log.rotate_if_full().unwrap().is_some());
        }
        log.checkpoint(CheckpointReason::Shutdown).unwrap();
        assert!(seals >= 2, "only {seals} seals");
        assert_eq!(segment_files(dir.path()).len(), seals + 1);
        let report = verify(dir.path());
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].segments as usize, seals + 1);
        assert_eq!(report.chains[0].records, 10);
    }

    #[test]
    fn a_torn_tail_is_kept_and_a_new_segment_records_the_break() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        log.append(records(1, 2)).unwrap();
        log.checkpoint(CheckpointReason::Count).unwrap();
        let torn_path = log.segment_path().to_path_buf();
        drop(log);
        // A crash mid-write: half a line, no newline.
        let mut torn = std::fs::read(&torn_path).unwrap();
        torn.extend_from_slice(br#"{"type":"record","instance":"w1","seq":3,"prev"#);
        std::fs::write(&torn_path, &torn).unwrap();

        let mut log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        assert!(matches!(
            log.resumed(),
            Resumed::AfterTornTail {
                line: 6,
                discarded_bytes: 46,
                ..
            }
        ));
        assert_ne!(log.segment_path(), torn_path);
        assert_eq!(log.chain().seq(), 2);
        log.append(records(3, 3)).unwrap();
        log.checkpoint(CheckpointReason::Shutdown).unwrap();
        assert_eq!(
            std::fs::read(&torn_path).unwrap(),
            torn,
            "history was rewritten"
        );

        let report = verify(dir.path());
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].breaks.len(), 1);
        assert_eq!(report.chains[0].last_seq, 3);
    }

    #[test]
    fn a_log_shorter_than_its_head_does_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        log.append(records(1, 2)).unwrap();
        let cut_here = std::fs::metadata(log.segment_path()).unwrap().len();
        log.append(records(3, 4)).unwrap();
        log.checkpoint(CheckpointReason::Count).unwrap();
        let path = log.segment_path().to_path_buf();
        drop(log);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..cut_here as usize]).unwrap();

        let error = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap_err();
        assert!(matches!(error, LogError::HeadDisagrees { .. }), "{error}");
        assert!(error.to_string().contains("truncated"), "{error}");
        let report = verify(dir.path());
        assert!(report.first_broken().unwrap().problem.contains("truncated"));
    }

    #[test]
    fn a_new_chain_has_a_signed_head_before_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        let start = log.last_checkpoint().cloned().unwrap();
        assert_eq!((start.seq, start.reason.as_str()), (0, "start"));
        assert!(log.head_path().is_file());
        drop(log);
        let report = verify(dir.path());
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].head, HeadStatus::Agrees);
        // Reopened: the same chain, no second start.
        let log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        assert_eq!(log.last_checkpoint(), Some(&start));
    }

    #[test]
    fn a_chain_whose_head_file_was_deleted_does_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        log.append(records(1, 2)).unwrap();
        log.checkpoint(CheckpointReason::Count).unwrap();
        let head = log.head_path();
        drop(log);
        std::fs::remove_file(&head).unwrap();
        let error = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap_err();
        assert!(matches!(error, LogError::HeadDisagrees { .. }), "{error}");
        assert!(
            error.to_string().contains("head file is missing"),
            "{error}"
        );
        let report = verify(dir.path());
        assert!(
            report
                .first_broken()
                .unwrap()
                .problem
                .contains("no head file"),
            "{report}"
        );
    }

    #[test]
    fn a_chain_stopped_before_its_start_checkpoint_gets_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        let head = log.head_path();
        let segment = log.segment_path().to_path_buf();
        drop(log);
        // As if Warden stopped between creating segment 1 and signing its start.
        let header = std::fs::read_to_string(&segment).unwrap();
        let header = header.lines().next().unwrap().to_string() + "\n";
        std::fs::write(&segment, header).unwrap();
        std::fs::remove_file(&head).unwrap();
        let log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        assert_eq!(log.last_checkpoint().map(|c| c.seq), Some(0));
        assert!(head.is_file());
    }

    #[test]
    fn a_damaged_newest_segment_does_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap();
        log.append(records(1, 2)).unwrap();
        let path = log.segment_path().to_path_buf();
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"allow\"", "\"deny\"", 1)).unwrap();
        let error = AuditLog::open(settings(dir.path(), 1 << 20), test_key(1)).unwrap_err();
        assert!(matches!(error, LogError::Damaged { .. }), "{error}");
        // Line 1 is the header, line 2 the chain's start checkpoint.
        assert!(error.to_string().contains(":3 (seq 1)"), "{error}");
    }

    #[test]
    fn an_unusable_directory_says_which_setting_to_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let error = prepare_dir(&file.join("audit")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("is not writable"), "{message}");
        assert!(message.contains("change audit.log_dir"), "{message}");
    }

    #[test]
    fn instance_names_that_cannot_name_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = settings(dir.path(), 1 << 20);
        bad.instance = "../etc".into();
        let error = AuditLog::open(bad, test_key(1)).unwrap_err();
        assert!(matches!(error, LogError::InstanceName(_)));
    }
}
