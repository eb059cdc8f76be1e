//! Incremental Server-Sent Events parser.
