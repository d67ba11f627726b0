//! Demo-only helpers: never part of a production deployment.

pub mod issuer;
pub mod login;
pub mod upstream;
