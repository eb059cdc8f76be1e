//! OpenAI Chat Completions wire types: request, response, stream chunks, errors.

mod error;
mod request;
mod response;
mod stream;

pub use error::{ErrorBody, ErrorObject};
pub use request::{
    ChatMessage, ChatRequest, ContentPart, FunctionCall, FunctionDef, ImageUrl, JsonSchemaFormat,
    MessageContent, NamedFunction, NamedToolChoice, ReasoningEffort, ResponseFormat, Role,
    StreamOptions, Tool, ToolCall, ToolChoice, ToolChoiceMode, ToolType,
};
pub use response::{
    ChatCompletion, ChatUsage, Choice, CompletionTokensDetails, FinishReason, PromptTokensDetails,
    ResponseMessage,
};
pub use stream::{ChatCompletionChunk, ChunkChoice, ChunkDelta, FunctionCallDelta, ToolCallDelta};
