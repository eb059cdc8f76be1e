//! JSON in and out of the management API: bodies and query strings parsed
//! into typed requests with a 400 that names the offending field, pagination,
//! and the success responses.
//!
//! Parse errors are rewritten rather than passed through: serde's messages
//! quote the rejected value, which may be a secret pasted into the wrong
//! field, and name line and column, which mean nothing to an API client.

use aigw_domain::Page;
use http::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::body::ResponseBody;
use crate::error::ApiError;
use crate::response::json_response;

/// The largest page the management API returns.
pub(crate) const MAX_PAGE: i64 = 200;
/// The page size when none is asked for.
pub(crate) const DEFAULT_PAGE: i64 = 50;

/// Parses a JSON request body into `T`; 400 naming the field on failure.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_field("$", "a JSON body is required"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_field("$", "the body is not valid JSON");
        }
        field_error(&path, &inner.to_string())
    })?;
    de.end()
        .map_err(|_| ApiError::bad_field("$", "the body is not valid JSON"))?;
    Ok(value)
}

/// Parses a query string into `T`; 400 naming the parameter on failure.
pub(crate) fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    let parsed = form_urlencoded::parse(query.unwrap_or("").as_bytes());
    let de = serde_urlencoded::Deserializer::new(parsed);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        field_error(&path, &e.into_inner().to_string())
    })
}

/// Turns a serde message into a 400 naming the field: the path serde reached,
/// plus the field a "missing field" or "unknown field" message names (those
/// are reported at the enclosing object).
fn field_error(path: &str, message: &str) -> ApiError {
    let message = message.split(" at line ").next().unwrap_or(message);
    let base = if path == "." || path.is_empty() {
        None
    } else {
        Some(path)
    };
    let named = |field: &str| match base {
        Some(base) => format!("{base}.{field}"),
        None => field.to_owned(),
    };
    if let Some(field) = quoted_after(message, "missing field `") {
        return ApiError::bad_field(&named(field), "is required");
    }
    if let Some(field) = quoted_after(message, "unknown field `") {
        // serde_path_to_error already ends the path with the unknown field.
        let path = match base {
            Some(base) if base == field || base.ends_with(&format!(".{field}")) => base.to_owned(),
            _ => named(field),
        };
        return ApiError::bad_field(&path, "is not a known field");
    }
    let field = base.unwrap_or("$");
    // Keep what was expected, never the rejected value itself.
    let safe = match message.split_once(", expected ") {
        Some((_, expected)) => format!("invalid value, expected {expected}"),
        None if message.starts_with("invalid") || message.starts_with("unknown variant") => {
            "invalid value".to_owned()
        }
        None => message.to_owned(),
    };
    ApiError::bad_field(field, &safe)
}

fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(field, _)| field)
}

/// `?limit=&offset=` as a page: `limit` defaults to [`DEFAULT_PAGE`] and is
/// capped at [`MAX_PAGE`].
pub(crate) fn page(limit: Option<i64>, offset: Option<i64>) -> Result<Page, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if limit < 1 {
        return Err(ApiError::bad_field("limit", "must be at least 1"));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_field("offset", "must not be negative"));
    }
    Ok(Page::new(limit.min(MAX_PAGE), offset))
}

/// `?limit=&offset=`, for lists filtered by nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl PageQuery {
    /// The page asked for (see [`page`]).
    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        page(self.limit, self.offset)
    }
}

/// 200 with `value` as JSON.
pub(crate) fn ok<T: Serialize>(value: &T) -> Response<ResponseBody> {
    json_response(StatusCode::OK, value)
}

/// 201 with `value` as JSON.
pub(crate) fn created<T: Serialize>(value: &T) -> Response<ResponseBody> {
    json_response(StatusCode::CREATED, value)
}

/// 204 without a body.
pub(crate) fn no_content() -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// `{"message": …}`, the original's acknowledgement shape.
pub(crate) fn message(text: &str) -> Response<ResponseBody> {
    #[derive(Serialize)]
    struct Message<'a> {
        message: &'a str,
    }
    ok(&Message { message: text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist only to be deserialised")]
    struct Inner {
        api_key: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist only to be deserialised")]
    struct Outer {
        name: String,
        count: Option<i64>,
        auth_data: Option<Inner>,
    }

    fn message_of<T: std::fmt::Debug>(r: Result<T, ApiError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        e.message
    }

    #[test]
    fn body_errors_name_the_field() {
        assert_eq!(
            message_of(parse_body::<Outer>(br#"{"count": 1}"#)),
            "name: is required"
        );
        assert_eq!(
            message_of(parse_body::<Outer>(br#"{"name": "a", "count": "x"}"#)),
            "count: invalid value, expected i64"
        );
        assert_eq!(
            message_of(parse_body::<Outer>(br#"{"name": "a", "auth_data": {}}"#)),
            "auth_data.api_key: is required"
        );
        assert_eq!(
            message_of(parse_body::<Outer>(br#"{"name": "a", "nmae": 1}"#)),
            "nmae: is not a known field"
        );
        assert_eq!(
            message_of(parse_body::<Outer>(b"{nope")),
            "$: the body is not valid JSON"
        );
        assert_eq!(
            message_of(parse_body::<Outer>(b"")),
            "$: a JSON body is required"
        );
    }

    #[test]
    fn rejected_values_are_not_echoed() {
        let msg = message_of(parse_body::<Outer>(
            br#"{"name": "a", "auth_data": {"api_key": 12345678901}}"#,
        ));
        assert!(msg.starts_with("auth_data.api_key: "), "{msg}");
        assert!(!msg.contains("12345678901"), "{msg}");
    }

    /// The bodies are the services' change types, which refuse what only
    /// the store sets (the domain's rows have these fields).
    #[test]
    fn change_types_refuse_fields_no_caller_may_set() {
        use aigw_services::admin::accounts::UpdateAccount;
        use aigw_services::admin::mappings::UpdateMapping;
        use aigw_services::admin::providers::{CreateProvider, UpdateProvider};
        assert_eq!(
            message_of(parse_body::<UpdateProvider>(br#"{"kind": "openai"}"#)),
            "kind: is not a known field"
        );
        assert_eq!(
            message_of(parse_body::<CreateProvider>(
                br#"{"id": "p", "name": "P", "kind": "openai", "base_url": "https://h", "is_builtin": true}"#
            )),
            "is_builtin: is not a known field"
        );
        assert_eq!(
            message_of(parse_body::<UpdateAccount>(
                br#"{"health_status": "healthy"}"#
            )),
            "health_status: is not a known field"
        );
        assert_eq!(
            message_of(parse_body::<UpdateMapping>(br#"{"owner_id": null}"#)),
            "owner_id: is not a known field"
        );
        let update: UpdateMapping = parse_body(br#"{"description": null}"#).unwrap();
        assert_eq!(update.description, Some(None));
        let update: UpdateAccount = parse_body(br#"{"metadata": "{\"a\": 1}"}"#).unwrap();
        assert_eq!(update.metadata, Some(serde_json::json!({"a": 1})));
    }

    #[derive(Debug, Deserialize)]
    struct Query {
        limit: Option<i64>,
        offset: Option<i64>,
    }

    #[test]
    fn query_errors_name_the_parameter_and_pages_are_capped() {
        let q: Query = parse_query(Some("limit=5&offset=10")).unwrap();
        assert_eq!((q.limit, q.offset), (Some(5), Some(10)));
        let q: Query = parse_query(None).unwrap();
        assert_eq!((q.limit, q.offset), (None, None));
        let msg = message_of(parse_query::<Query>(Some("limit=ten")));
        assert!(msg.starts_with("limit: "), "{msg}");
        assert_eq!(page(Some(100_000), None).unwrap().limit, MAX_PAGE);
        assert_eq!(page(None, None).unwrap().limit, DEFAULT_PAGE);
        assert!(page(Some(0), None).is_err());
        assert!(page(None, Some(-1)).is_err());
    }
}
