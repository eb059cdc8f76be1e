//! Gateway-generated error bodies in each client format.

use aigw_domain::Format;
use aigw_formats::{
    ErrorKind, FormatError, RequestMeta, error_body, format_error_body, upstream_error_kind,
};
use serde_json::{Value, json};

fn body(client: Format, kind: ErrorKind, msg: &str, param: Option<&str>) -> Value {
    serde_json::from_slice(&error_body(client, kind, msg, param)).unwrap()
}

#[test]
fn openai_bodies_have_message_type_param_code() {
    assert_eq!(
        body(
            Format::OpenAiChat,
            ErrorKind::ModelNotFound,
            "The model `x` does not exist",
            Some("model")
        ),
        json!({"error": {"message": "The model `x` does not exist", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}})
    );
    assert_eq!(
        body(
            Format::OpenAiChat,
            ErrorKind::RateLimited,
            "slow down",
            None
        ),
        json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}})
    );
}

#[test]
fn anthropic_bodies_have_the_right_type() {
    let cases = [
        (ErrorKind::InvalidRequest, "invalid_request_error", 400),
        (ErrorKind::Authentication, "authentication_error", 401),
        (ErrorKind::PermissionDenied, "permission_error", 403),
        (ErrorKind::NotFound, "not_found_error", 404),
        (ErrorKind::ModelNotFound, "not_found_error", 404),
        (ErrorKind::RequestTooLarge, "request_too_large", 413),
        (ErrorKind::RateLimited, "rate_limit_error", 429),
        (ErrorKind::Overloaded, "overloaded_error", 503),
        (ErrorKind::Timeout, "timeout_error", 504),
        (ErrorKind::Api, "api_error", 500),
    ];
    for (kind, ty, status) in cases {
        assert_eq!(
            body(Format::AnthropicMessages, kind, "m", None),
            json!({"type": "error", "error": {"type": ty, "message": "m"}}),
            "{kind:?}"
        );
        assert_eq!(kind.http_status(), status, "{kind:?}");
    }
}

#[test]
fn format_errors_become_400_bodies_naming_the_field() {
    let err = RequestMeta::parse(Format::OpenAiChat, br#"{"model":1,"messages":[]}"#).unwrap_err();
    let v: Value = serde_json::from_slice(&format_error_body(Format::OpenAiChat, &err)).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["param"], "model");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`model`"),
        "{v}"
    );

    let upstream = FormatError::UpstreamResponse {
        path: "choices".into(),
        message: "bad".into(),
    };
    let v: Value =
        serde_json::from_slice(&format_error_body(Format::AnthropicMessages, &upstream)).unwrap();
    assert_eq!(v["error"]["type"], "api_error");
}

#[test]
fn upstream_kind_uses_status_then_body_hints() {
    assert_eq!(upstream_error_kind(429, b"nope"), ErrorKind::RateLimited);
    assert_eq!(
        upstream_error_kind(
            500,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"x"}}"#
        ),
        ErrorKind::Overloaded
    );
    assert_eq!(
        upstream_error_kind(
            404,
            br#"{"error":{"message":"x","type":"invalid_request_error","code":"model_not_found"}}"#
        ),
        ErrorKind::ModelNotFound
    );
    assert_eq!(
        upstream_error_kind(
            400,
            br#"{"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT"}}"#
        ),
        ErrorKind::InvalidRequest
    );
    assert_eq!(upstream_error_kind(502, b""), ErrorKind::Api);
}
