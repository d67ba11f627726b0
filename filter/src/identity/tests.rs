//! Unit tests for the identity module.
