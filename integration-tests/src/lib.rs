//! End-to-end harness: real Envoy, real Warden, real clients.
//!
//! [`stack::Stack`] starts a recording [`upstream::Upstream`], Warden and Envoy (with the
//! Envoy config we ship) on free loopback ports, waits for each by polling, and stops
//! them all when dropped — also when a test fails.

pub mod git_http;
pub mod issuer;
pub mod k8s;
pub mod metrics;
pub mod otlp;
pub mod paths;
pub mod postgres;
pub mod process;
pub mod stack;
pub mod upstream;
