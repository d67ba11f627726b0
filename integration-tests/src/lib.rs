//! End-to-end harness: real Envoy, real Warden, real clients.

pub mod paths;
