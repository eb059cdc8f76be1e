//! Criterion bench: translate (being written).
fn main() {}
