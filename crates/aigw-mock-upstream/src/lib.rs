//! aigw-mock-upstream.
