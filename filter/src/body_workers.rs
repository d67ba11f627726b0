//! CPU-heavy body work off the runtime's I/O threads.
//!
//! Decoding, classifying and masking a body of a few MiB takes milliseconds normally and,
//! for hostile input, seconds. On a tokio worker that stalls every other stream the
//! worker serves: two clients sending slow-to-mask bodies starved everyone else. Body
//! messages over [`OFFLOAD_MIN_BYTES`] therefore run on this small pool of dedicated
//! threads instead:
//!
//! - one thread per CPU but one (at least one), so big bodies compete with each other
//!   and one CPU is always left to the runtime; a job waits its turn in a queue (no
//!   unbounded fan-out of threads), and one that waited past its deadline is refused;
//! - at a lower scheduling priority (nice [`WORKER_NICE`] on Linux), so the runtime's
//!   threads — small requests, identity, replies — and Envoy keep their latency while the
//!   CPU is saturated by big bodies;
//! - every job has a deadline (Envoy's message timeout, or what is left of the exchange's
//!   CPU budget): a job that waited past it is not run, and the masking engine stops at it
//!   ([`crate::redact::DeadlinePassed`]); the exchange then fails closed.
//!
//! The pool only runs closures; what a job does (a pipeline body phase) is up to the
//! caller, which also keeps its exchange across the hop (see [`crate::extproc`]).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Body messages at least this large go to the pool; smaller ones are handled inline
/// (the hop costs a thread wake-up, more than masking a few KiB takes).
pub const OFFLOAD_MIN_BYTES: usize = 16 * 1024;

/// The niceness of the pool's threads (Linux): low enough that the runtime's threads win
/// the CPU whenever both are runnable (about 10 : 1 under the default scheduler).
pub const WORKER_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The pool is gone (Warden is shutting down): the job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the body worker pool is shut down")]
pub struct PoolGone;

/// A fixed pool of low-priority threads for CPU-heavy body work. Cheap to share
/// (`Arc`); the threads end when the last handle is dropped.
#[derive(Debug)]
pub struct BodyWorkers {
    jobs: crossbeam_channel::Sender<Job>,
    threads: usize,
    /// Jobs handed to the pool and not finished yet (queued or running).
    in_flight: Arc<AtomicU64>,
}

impl BodyWorkers {
    /// Starts `threads` worker threads (0: one per available CPU but one, at least one).
    pub fn start(threads: usize) -> std::io::Result<Arc<BodyWorkers>> {
        let threads = if threads == 0 {
            std::thread::available_parallelism()
                .map_or(1, |cpus| usize::from(cpus).saturating_sub(1))
                .max(1)
        } else {
            threads
        };
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for index in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("warden-body-{index}"))
                .spawn(move || {
                    lower_priority();
                    while let Ok(job) = queue.recv() {
                        // A job catches its own panics (it must hand its state back);
                        // this only keeps the thread alive if one did not.
                        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                            tracing::error!("a body job panicked on the worker pool");
                        }
                    }
                })?;
        }
        Ok(Arc::new(BodyWorkers {
            jobs,
            threads,
            in_flight: Arc::default(),
        }))
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs queued or running now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Runs `job` on the pool and waits (asynchronously) for its result.
    ///
    /// The job should not panic: its result is how a caller gets back what it moved in.
    /// If it does, the panic is re-raised here, in the caller's task.
    pub async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolGone> {
        let (done, result) = tokio::sync::oneshot::channel();
        let in_flight = Arc::clone(&self.in_flight);
        in_flight.fetch_add(1, Ordering::Relaxed);
        let boxed: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(job));
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = done.send(outcome);
        });
        if self.jobs.send(boxed).is_err() {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(PoolGone);
        }
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(PoolGone),
        }
    }
}

/// Lowers the calling thread's scheduling priority (Linux: niceness is per thread).
/// Failing to is not fatal: the pool still keeps big bodies off the runtime's threads.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(err) = rustix::process::setpriority_process(Some(tid), WORKER_NICE) {
            tracing::warn!(error = %err, "cannot lower the body worker's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_off_the_calling_thread_and_return_their_result() {
        let pool = BodyWorkers::start(2).expect("pool");
        let caller = std::thread::current().id();
        let (value, thread) = pool
            .run(|| (21 * 2, std::thread::current().id()))
            .await
            .expect("ran");
        assert_eq!(value, 42);
        assert_ne!(thread, caller);
        assert_eq!(pool.in_flight(), 0);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn worker_threads_run_at_a_lower_priority() {
        let pool = BodyWorkers::start(1).expect("pool");
        let nice = pool
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            .await
            .expect("ran")
            .expect("getpriority");
        let own = rustix::process::getpriority_process(Some(rustix::thread::gettid()))
            .expect("getpriority");
        assert!(nice > own, "worker nice {nice}, caller nice {own}");
    }

    #[tokio::test]
    async fn a_panicking_job_panics_in_the_caller_and_the_pool_goes_on() {
        let pool = BodyWorkers::start(1).expect("pool");
        let pool2 = Arc::clone(&pool);
        let joined = tokio::spawn(async move { pool2.run(|| panic!("boom")).await }).await;
        assert!(joined.is_err_and(|e| e.is_panic()));
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }
}
