//! Reading what a client sent: the body, bounded before it is read whole,
//! and the credential in whichever header its SDK uses.

use bytes::Bytes;
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_LENGTH};
use http_body::Body;
use http_body_util::{BodyExt, Limited};

/// Why a request body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Larger than the configured limit.
    TooLarge { limit: usize },
    /// The client's connection failed while sending it.
    Read,
}

/// Reads the whole body, refusing it as soon as it is known to exceed
/// `limit`: up front from `Content-Length`, else while it streams in.
pub(crate) async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge { limit }),
        Err(_) => Err(BodyError::Read),
    }
}

/// The client credential: `Authorization: Bearer <key>` (OpenAI SDKs) or
/// `x-api-key: <key>` (Anthropic SDKs). The first present header wins;
/// an empty value counts as absent.
pub(crate) fn client_credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if !value.is_empty() {
            return Some(value);
        }
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = auth.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use http_body_util::Full;

    #[tokio::test]
    async fn declared_length_over_the_limit_is_refused_unread() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("1000"));
        let body = Full::new(Bytes::from_static(b"small"));
        assert_eq!(
            read_body(&headers, body, 10).await,
            Err(BodyError::TooLarge { limit: 10 })
        );
    }

    #[tokio::test]
    async fn undeclared_body_over_the_limit_is_refused() {
        let body = Full::new(Bytes::from(vec![b'x'; 11]));
        assert_eq!(
            read_body(&HeaderMap::new(), body, 10).await,
            Err(BodyError::TooLarge { limit: 10 })
        );
        let body = Full::new(Bytes::from(vec![b'x'; 10]));
        assert_eq!(
            read_body(&HeaderMap::new(), body, 10).await.unwrap().len(),
            10
        );
    }

    #[test]
    fn credential_from_either_sdk_header() {
        let mut h = HeaderMap::new();
        assert_eq!(client_credential(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer ak_123"));
        assert_eq!(client_credential(&h), Some("ak_123"));
        h.insert("x-api-key", HeaderValue::from_static("ak_456"));
        assert_eq!(client_credential(&h), Some("ak_456"));
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(client_credential(&h), None);
        h.insert("x-api-key", HeaderValue::from_static("  "));
        assert_eq!(client_credential(&h), None);
    }
}
