//! Stream translation between upstream and client SSE grammars.
