//! Gemini `generateContent` wire types, and the Antigravity `v1internal` envelope around them.

mod antigravity;
mod client;
mod error;
mod request;
mod response;

pub use antigravity::{AntigravityRequest, AntigravityResponse};
pub use client::{
    ClientGenerationConfig, ClientRequest, ClientThinkingConfig, ClientTool, CountTokensRequest,
    CountTokensResponse, ThinkingLevel,
};
pub use error::{ErrorBody, ErrorStatus};
pub use request::{
    Blob, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionCallingMode,
    FunctionDeclaration, FunctionResponse, GenerateContentRequest, GenerationConfig, Part,
    ThinkingConfig, Tool, ToolConfig,
};
pub use response::{Candidate, FinishReason, GenerateContentResponse, UsageMetadata};
