//! The crate's one error type: why a mock connection, stream or proxy session ended abnormally.

use std::io;

/// Why the mock ended a connection or a response body early.
///
/// Most variants are the intended effect of an injected fault; hyper sees them as a
/// service or body error and tears the connection (or HTTP/2 stream) down.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A [`crate::Fault::Reset`] asked for the connection to be dropped without a response.
    #[error("connection reset by an injected fault")]
    InjectedReset,
    /// A [`crate::Fault::StreamCut`] ended the response after this many events.
    #[error("response cut after {after_events} events by an injected fault")]
    InjectedCut {
        /// Events (or body chunks) sent before the cut.
        after_events: usize,
    },
    /// The request body could not be read from the client.
    #[error("reading the request body failed")]
    RequestBody(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A response body could not be serialised.
    #[error("serialising a response body failed")]
    Serialize(#[from] serde_json::Error),
    /// A proxy client spoke something other than the protocol the mock proxy expects.
    #[error("proxy handshake failed: {0}")]
    ProxyHandshake(&'static str),
    /// Socket IO failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}
