//! OpenAI Responses wire types (`POST /v1/responses`): request, response
//! object, stream events. Errors use the OpenAI error body
//! ([`crate::openai::ErrorBody`]).

mod request;
mod response;
mod stream;

pub use request::{
    ContentPart, InputItem, Reasoning, ReasoningSummary, ResponsesRequest, Role, SummaryPart,
    TextConfig, TextFormat, Tool, ToolChoice, ToolChoiceMode,
};
pub use response::{
    IncompleteDetails, InputTokensDetails, ItemStatus, OutputContent, OutputItem,
    OutputTokensDetails, ResponseError, ResponseObject, ResponseStatus, ResponseUsage,
};
pub use stream::StreamEvent;
