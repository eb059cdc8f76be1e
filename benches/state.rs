//! Criterion bench: state (being written).
fn main() {}
