//! Demo-only helpers: never part of a production deployment.
