//! Integration tests of aigw-formats: data-driven fixtures, round trips, bad input.

mod stream;
