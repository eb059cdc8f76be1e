//! Criterion bench: sse (being written).
fn main() {}
