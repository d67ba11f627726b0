//! Where things live: the repo root, the Envoy binary, the Warden binary.
