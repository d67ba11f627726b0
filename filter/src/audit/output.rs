//! Where chained records go besides the log: the session store and OTLP spans.

use std::future::Future;
use std::pin::Pin;

use super::capture::ExchangeCapture;
use super::chain::{ChainedRecord, Checkpoint};

/// A chained record with its session capture, as outputs receive it.
#[derive(Clone, Debug, PartialEq)]
pub struct Chained {
    /// The record, in the chain.
    pub record: ChainedRecord,
    /// The masked capture, when sessions are recorded.
    pub capture: Option<ExchangeCapture>,
}

/// Why an output could not take a batch. The writer retries; while it fails the
/// queue fills and Warden fails closed for new requests.
#[derive(Debug, thiserror::Error)]
#[error("{output}: {message}")]
pub struct OutputError {
    /// The output's name.
    pub output: &'static str,
    /// What went wrong.
    pub message: String,
}

/// A boxed future an output returns.
pub type OutputFuture<'a> = Pin<Box<dyn Future<Output = Result<(), OutputError>> + Send + 'a>>;

/// One destination of chained records (the session store, OTLP spans).
pub trait AuditOutput: Send + Sync + 'static {
    /// Short name for logs and errors.
    fn name(&self) -> &'static str;

    /// Takes a batch of records, in chain order.
    fn write<'a>(&'a self, batch: &'a [Chained]) -> OutputFuture<'a>;

    /// Takes a checkpoint (after the records it covers).
    fn checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> OutputFuture<'a> {
        let _ = checkpoint;
        Box::pin(async { Ok(()) })
    }
}
