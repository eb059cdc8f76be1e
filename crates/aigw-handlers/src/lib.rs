//! aigw-handlers.
