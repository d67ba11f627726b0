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
