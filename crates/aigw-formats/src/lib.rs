//! aigateway wire formats: OpenAI Chat Completions, Anthropic Messages, Gemini
//! and the Antigravity envelope; request, response and error translation; SSE
//! parsing and stream translation. Pure functions, no IO.

pub mod anthropic;
mod error;
pub mod gemini;
mod json;
mod meta;
pub mod openai;
pub mod reasons;
pub mod sse;
pub mod stream;
mod usage;

pub use error::{Error, FormatError};
pub use json::TextOr;
pub use meta::RequestMeta;
pub use reasons::Finish;
pub use usage::Usage;
