//! Warden: the guardrail on the Envoy data path between AI agents and the systems they touch.
//!
//! The crate is split by concern. The decision core ([`pipeline`], [`redact`], and later
//! identity, policy and classifiers) is plain functions over plain types with no I/O; the
//! gRPC shells ([`extproc`], [`extauthz`]) and the [`server`] stay thin.

pub mod redact;
