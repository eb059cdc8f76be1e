//! Anthropic Messages wire types: request, response, stream events, errors.

mod error;
mod request;
mod response;
mod stream;

pub use error::{ErrorBody, ErrorDetail, ErrorType};
pub use request::{
    ContentBlock, DocumentSource, Effort, ImageSource, Message, MessagesRequest, Metadata,
    OutputConfig, Role, SystemBlock, SystemPrompt, ThinkingConfig, Tool, ToolChoice,
    ToolResultContent,
};
pub use response::{MessageType, MessagesResponse, StopReason, Usage};
pub use stream::{Delta, MessageDelta, MessageDeltaUsage, StreamEvent};
