//! Warden: the guardrail on the Envoy data path between AI agents and the systems they touch.
//!
//! The crate is split by concern. The decision core ([`pipeline`], [`redact`], and later
//! identity, policy and classifiers) is plain functions over plain types with no I/O; the
//! gRPC shells ([`extproc`], [`extauthz`]) and the [`server`] stay thin. See
//! `docs/architecture.md` for the flow of one request through these modules.

/// mimalloc, for everything linking this crate (the binary, its benches and tests
/// alike, so a benchmark measures what runs). Warden's data path allocates many small,
/// short-lived objects per request, and the audit queue hands finished exchanges to
/// the writer task, which frees them on another thread; mimalloc's per-page free lists
/// make both cheap where the system allocator fragments and consolidates.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sets how this process's memory is backed; the `warden` binary calls it first thing, and
/// so does anything that measures what the binary would hold (the benches' child
/// processes).
///
/// Turns transparent huge pages off for the process (`prctl(PR_SET_THP_DISABLE)`). Why:
/// on hosts where THP is `always` (the kernel default of many distributions), every 2 MiB
/// region the allocator touches is backed whole, and mimalloc's arenas, committed eagerly
/// on Linux, are touched sparsely: a warden masking one 8 MiB body held ~23 MiB more
/// than it used (57 MiB over the body instead of 35 with the pack compiled; see
/// docs/benchmarks.md, "Adversarial bodies"). Pages already backed stay as they are; later
/// faults, the arenas' included, get 4 KiB pages. The flag is inherited by child processes.
///
/// Best effort: a kernel without the `prctl` (or a platform other than Linux) keeps its
/// default, which changes how much memory is resident, not what the process does.
pub fn configure_process_memory() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

pub mod admin;
pub mod approval;
pub mod audit;
pub mod body_workers;
pub mod classify;
pub mod cli;
pub mod config;
pub mod content;
pub mod dev;
pub mod evidence;
pub mod extauthz;
pub mod extproc;
pub mod http;
pub mod identity;
pub mod masking;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod redact;
pub mod server;
pub mod store;
pub mod webhook;
