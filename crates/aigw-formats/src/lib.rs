//! aigateway wire formats: OpenAI Chat Completions, Anthropic Messages, Gemini
//! and the Antigravity envelope; request, response and error translation; SSE
//! parsing and stream translation. Pure functions, no IO.

pub mod sse;
pub mod stream;
