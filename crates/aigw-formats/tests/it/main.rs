//! Integration tests of aigw-formats: data-driven fixtures, round trips, bad input.

// Helpers outside `#[test]` functions are test code too: they should fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

mod bad_input;
mod diff;
mod errors;
mod fixtures;
mod gemini;
mod meta;
mod passthrough;
mod proptests;
mod roundtrip;
mod stream;
