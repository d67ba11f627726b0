//! Masking engine benchmarks (filled in below).
fn main() {}
