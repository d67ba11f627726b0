//! Warden's end-to-end tests, in one test binary: real Envoy, real `warden serve`,
//! real clients and peers (git, kubectl, curl, the MCP Python SDK, Chromium,
//! PostgreSQL).
//!
//! One binary rather than one per file: each test binary links Warden, the Envoy
//! protos and the clients, so one link instead of twenty saves minutes of build and
//! gigabytes of disk. Each module below is one area; run one with
//! `cargo test -p warden-integration-tests --test e2e masking::`.

mod approval_clients;
mod approvals;
mod approvals_grpc;
mod audit_forgery;
mod audit_log;
mod audit_spans;
mod audit_trail;
mod bodies;
mod classify_gaps;
mod compose;
mod console_browser;
mod data_path;
mod envoy_configs;
mod envoy_tracing;
mod ext_authz;
mod fail_closed;
mod git_fetch;
mod identity;
mod istio_manifests;
mod k8s_secrets;
mod masking;
mod masking_streams;
mod metrics;
mod policy_evasion;
mod policy_fields;
mod policy_live;
mod session_store;
mod store;
