//! Failover policy: what an upstream outcome means for the request (retry on
//! another account, or answer now) and for the account (cool down, for how
//! long, for one model or all).
//!
//! Classification reads types and status codes, plus the structured fields
//! providers use to say how long to wait (`Retry-After`, rate-limit reset
//! headers, Google's `RetryInfo` and quota reasons); never an error string.
//!
//! Every verdict that moves on to another account comes from here, so every
//! cooldown is bounded by `max_cooldown`.

use std::time::Duration;

use aigw_formats::ErrorKind;
use aigw_formats::stream::StreamError;
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};

use crate::client_pool::{TransportError, TransportErrorKind};
use crate::cooldown::CooldownReason;
use crate::credentials::CredentialError;
use crate::go_duration::parse_go_duration;
use crate::limits::UpstreamLimits;

/// Bounds and default waits of failover.
#[derive(Debug, Clone)]
pub struct FailoverSettings {
    /// Upstream attempts per request, the first included.
    pub max_attempts: u32,
    /// No new attempt starts after this long since the request arrived.
    pub max_total: Duration,
    /// Wait after a 429 that says nothing about when to come back.
    pub rate_limit_cooldown: Duration,
    /// Wait after a quota is exhausted without a reset time.
    pub quota_cooldown: Duration,
    /// Wait after a 5xx, 529 or a broken stream.
    pub server_error_cooldown: Duration,
    /// Wait after a connect failure or timeout before the first byte.
    pub unreachable_cooldown: Duration,
    /// Wait after 401/403 on an account that cannot refresh its token.
    pub auth_cooldown: Duration,
    /// No cooldown lasts longer than this, whatever an upstream asks.
    pub max_cooldown: Duration,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_total: Duration::from_secs(60),
            rate_limit_cooldown: Duration::from_secs(5),
            quota_cooldown: Duration::from_secs(3600),
            server_error_cooldown: Duration::from_secs(10),
            unreachable_cooldown: Duration::from_secs(10),
            auth_cooldown: Duration::from_secs(600),
            max_cooldown: Duration::from_secs(3600),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Cool the account down and try another one.
    Retry {
        /// How long the account waits.
        cooldown: Duration,
        /// Why.
        reason: CooldownReason,
        /// Whether the cooldown covers every model of the account.
        account_wide: bool,
    },
    /// The request itself is at fault (400, 404, 422, …): answer now, no
    /// penalty to the account.
    Fatal,
}

impl FailoverSettings {
    fn retry(&self, cooldown: Duration, reason: CooldownReason, account_wide: bool) -> Verdict {
        Verdict::Retry {
            cooldown: cooldown.min(self.max_cooldown),
            reason,
            account_wide,
        }
    }

    /// The verdict on an upstream answer with a non-2xx `status`.
    pub fn classify_status(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Verdict {
        match status.as_u16() {
            429 => {
                // A subscription's used-up window (a ChatGPT plan's usage
                // limit, a Claude plan's `rejected` unified status) covers
                // the whole account until the reset it names.
                if let Some(limits) = UpstreamLimits::of_answer(headers, Some(body), Utc::now())
                    && limits.account_wide
                    && limits.is_exhausted()
                {
                    let wait = limits
                        .exhausted_until()
                        .and_then(until)
                        .unwrap_or(self.quota_cooldown);
                    return self.retry(wait, CooldownReason::QuotaExhausted, true);
                }
                if let Some(wait) = retry_after(headers) {
                    return self.retry(wait, CooldownReason::RateLimited, false);
                }
                if let Some(wait) = body_retry_delay(body) {
                    return self.retry(wait, CooldownReason::RateLimited, false);
                }
                if is_quota_exhausted(body) {
                    return self.retry(self.quota_cooldown, CooldownReason::QuotaExhausted, false);
                }
                self.retry(self.rate_limit_cooldown, CooldownReason::RateLimited, false)
            }
            401 | 403 => self.retry(self.auth_cooldown, CooldownReason::AuthFailed, true),
            408 | 500..=599 => {
                let wait = retry_after(headers).unwrap_or(self.server_error_cooldown);
                self.retry(wait, CooldownReason::ServerError, false)
            }
            _ => Verdict::Fatal,
        }
    }

    /// The verdict on a failure to get an answer at all.
    pub fn classify_transport(&self, error: &TransportError) -> Verdict {
        if !error.is_retryable_before_first_byte() {
            return Verdict::Fatal;
        }
        let reason = match error.kind() {
            TransportErrorKind::Timeout(_) | TransportErrorKind::Connect => {
                CooldownReason::Unreachable
            }
            _ => CooldownReason::ServerError,
        };
        self.retry(self.unreachable_cooldown, reason, false)
    }

    /// The verdict on a 200 stream that failed before anything reached the
    /// client: an error event by its kind, any other failure (an unreadable
    /// or cut stream) like a server error.
    pub fn classify_stream_error(&self, error: &StreamError) -> Verdict {
        match error {
            StreamError::Upstream(e) => self.classify_error_event(e.kind),
            _ => self.retry(
                self.server_error_cooldown,
                CooldownReason::ServerError,
                false,
            ),
        }
    }

    /// The verdict on a 2xx reply whose body cannot be read: retried
    /// elsewhere, like a server error.
    pub fn classify_unreadable_reply(&self) -> Verdict {
        self.retry(
            self.server_error_cooldown,
            CooldownReason::ServerError,
            false,
        )
    }

    /// The verdict on an account whose OAuth token cannot be had: the wait
    /// the credential service asks for, else a long one for a grant that
    /// needs an operator and a short one for a token endpoint that may
    /// answer soon; for every model of the account.
    pub fn classify_credential(&self, error: &CredentialError) -> Verdict {
        let cooldown = error.retry_after().unwrap_or(if error.is_permanent() {
            self.auth_cooldown
        } else {
            self.unreachable_cooldown
        });
        self.retry(cooldown, CooldownReason::AuthFailed, true)
    }

    /// The verdict on an account whose credential cannot be put into the
    /// request's headers: skipped for the long auth wait (until it is
    /// edited), not retried on every request.
    pub fn classify_unsendable_credential(&self) -> Verdict {
        self.retry(self.auth_cooldown, CooldownReason::AuthFailed, true)
    }

    /// The verdict on an error event that arrived inside a 200 stream before
    /// anything reached the client.
    fn classify_error_event(&self, kind: ErrorKind) -> Verdict {
        match kind {
            ErrorKind::RateLimited => {
                self.retry(self.rate_limit_cooldown, CooldownReason::RateLimited, false)
            }
            ErrorKind::Authentication | ErrorKind::PermissionDenied => {
                self.retry(self.auth_cooldown, CooldownReason::AuthFailed, true)
            }
            ErrorKind::Overloaded | ErrorKind::Timeout | ErrorKind::Api => self.retry(
                self.server_error_cooldown,
                CooldownReason::ServerError,
                false,
            ),
            ErrorKind::InvalidRequest
            | ErrorKind::NotFound
            | ErrorKind::ModelNotFound
            | ErrorKind::RequestTooLarge => Verdict::Fatal,
        }
    }
}

/// `Retry-After` (seconds or an HTTP date), or the providers' reset headers:
/// Anthropic's RFC 3339 `anthropic-ratelimit-*-reset`, OpenAI's
/// `x-ratelimit-reset-*` durations (`1s`, `6m0s`, `250ms`).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(value) = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(secs) = value.parse::<f64>()
            && secs.is_finite()
            && secs >= 0.0
        {
            return Some(Duration::from_secs_f64(secs));
        }
        if let Ok(at) = DateTime::parse_from_rfc2822(value) {
            return until(at.with_timezone(&Utc));
        }
    }
    for name in [
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
    ] {
        if let Some(at) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        {
            return until(at.with_timezone(&Utc));
        }
    }
    ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .filter_map(parse_go_duration)
        .max()
}

/// How long until `at` (zero when it has passed).
pub(crate) fn until(at: DateTime<Utc>) -> Option<Duration> {
    (at - Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}

/// Google's `RetryInfo.retryDelay` (`"2s"`, `"0.5s"`) in `error.details`.
fn body_retry_delay(body: &[u8]) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error").or_else(|| value.get(0)?.get("error"))?;
    error
        .get("details")?
        .as_array()?
        .iter()
        .filter_map(|d| d.get("retryDelay")?.as_str())
        .find_map(parse_go_duration)
}

/// Whether a 429 body says a quota, not a rate, is exhausted: Google's
/// `QUOTA_EXCEEDED` reason, OpenAI's `insufficient_quota` code or type.
fn is_quota_exhausted(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let Some(error) = value.get("error") else {
        return false;
    };
    let is = |v: Option<&serde_json::Value>, s: &str| v.and_then(|v| v.as_str()) == Some(s);
    if is(error.get("code"), "insufficient_quota") || is(error.get("type"), "insufficient_quota") {
        return true;
    }
    let reasons = error
        .get("details")
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("reason").and_then(|r| r.as_str()));
    reasons
        .chain(error.get("reason").and_then(|r| r.as_str()))
        .any(|r| r == "QUOTA_EXCEEDED")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_honour_the_upstreams_wait() {
        let p = FailoverSettings::default();
        let v = p.classify_status(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "2")]),
            b"",
        );
        assert_eq!(
            v,
            Verdict::Retry {
                cooldown: Duration::from_secs(2),
                reason: CooldownReason::RateLimited,
                account_wide: false
            }
        );
        let v = p.classify_status(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("x-ratelimit-reset-requests", "6m0s")]),
            b"",
        );
        assert!(
            matches!(v, Verdict::Retry { cooldown, .. } if cooldown == Duration::from_secs(360))
        );
        let google = br#"{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#;
        let v = p.classify_status(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), google);
        assert!(
            matches!(v, Verdict::Retry { cooldown, .. } if cooldown == Duration::from_millis(1500))
        );
        let quota =
            br#"{"error":{"message":"x","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let v = p.classify_status(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), quota);
        assert!(matches!(
            v,
            Verdict::Retry {
                reason: CooldownReason::QuotaExhausted,
                ..
            }
        ));
        let huge = p.classify_status(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "999999")]),
            b"",
        );
        assert!(matches!(huge, Verdict::Retry { cooldown, .. } if cooldown == p.max_cooldown));
    }

    #[test]
    fn a_codex_usage_limit_cools_the_account_until_its_reset() {
        let p = FailoverSettings::default();
        let body = br#"{"error":{"type":"usage_limit_reached","message":"limit","plan_type":"plus","resets_in_seconds":1200}}"#;
        let Verdict::Retry {
            cooldown,
            reason: CooldownReason::QuotaExhausted,
            account_wide: true,
        } = p.classify_status(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body)
        else {
            panic!("a usage limit cools the whole account down");
        };
        assert!((1199..=1200).contains(&cooldown.as_secs()), "{cooldown:?}");
        let at = Utc::now().timestamp() + 600;
        let body = format!(r#"{{"error":{{"type":"usage_limit_reached","resets_at":{at}}}}}"#);
        let Verdict::Retry { cooldown, .. } = p.classify_status(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            body.as_bytes(),
        ) else {
            panic!("a usage limit is retried elsewhere");
        };
        assert!(cooldown <= Duration::from_secs(600) && cooldown >= Duration::from_secs(590));
        // Bounded by the longest cooldown allowed.
        let body = br#"{"error":{"type":"usage_limit_reached","resets_in_seconds":86400}}"#;
        assert!(matches!(
            p.classify_status(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body),
            Verdict::Retry { cooldown, .. } if cooldown == p.max_cooldown
        ));
    }

    #[test]
    fn a_rejected_claude_plan_cools_the_account_until_its_unified_reset() {
        let p = FailoverSettings::default();
        let reset = (Utc::now().timestamp() + 900).to_string();
        let h = headers(&[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-reset", &reset),
            (
                "anthropic-ratelimit-unified-representative-claim",
                "five_hour",
            ),
            ("anthropic-ratelimit-unified-reset", &reset),
        ]);
        let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"limit"}}"#;
        let Verdict::Retry {
            cooldown,
            reason: CooldownReason::QuotaExhausted,
            account_wide: true,
        } = p.classify_status(StatusCode::TOO_MANY_REQUESTS, &h, body)
        else {
            panic!("a rejected plan cools the whole account down");
        };
        assert!((898..=900).contains(&cooldown.as_secs()), "{cooldown:?}");
    }

    #[test]
    fn client_errors_are_fatal_and_auth_is_account_wide() {
        let p = FailoverSettings::default();
        for s in [400, 404, 413, 422] {
            assert_eq!(
                p.classify_status(StatusCode::from_u16(s).unwrap(), &HeaderMap::new(), b""),
                Verdict::Fatal,
                "{s}"
            );
        }
        assert!(matches!(
            p.classify_status(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b""),
            Verdict::Retry {
                account_wide: true,
                reason: CooldownReason::AuthFailed,
                ..
            }
        ));
        for s in [500, 502, 503, 529] {
            assert!(matches!(
                p.classify_status(StatusCode::from_u16(s).unwrap(), &HeaderMap::new(), b""),
                Verdict::Retry {
                    reason: CooldownReason::ServerError,
                    ..
                }
            ));
        }
    }

    /// Settings whose every wait is longer than the longest cooldown
    /// allowed: a verdict that bypassed the policy would show the longer one.
    fn capped() -> FailoverSettings {
        let long = Duration::from_secs(600);
        FailoverSettings {
            rate_limit_cooldown: long,
            quota_cooldown: long,
            server_error_cooldown: long,
            unreachable_cooldown: long,
            auth_cooldown: long,
            max_cooldown: Duration::from_secs(7),
            ..FailoverSettings::default()
        }
    }

    const fn retry(cooldown: Duration, reason: CooldownReason, account_wide: bool) -> Verdict {
        Verdict::Retry {
            cooldown,
            reason,
            account_wide,
        }
    }

    #[test]
    fn a_credential_that_cannot_be_had_cools_the_whole_account_within_the_cap() {
        let auth = |cooldown| retry(cooldown, CooldownReason::AuthFailed, true);
        let rejected = |retry_after| CredentialError::Rejected {
            status: StatusCode::BAD_REQUEST,
            error: Some("invalid_grant".to_owned()),
            retry_after,
        };
        let peer_timeout = CredentialError::PeerTimeout(Duration::from_secs(1));
        // Without a cap in the way: the credential service's own wait, else
        // the auth wait for a dead grant and the unreachable one for a
        // token endpoint that may answer soon.
        let d = FailoverSettings::default();
        let wait = Duration::from_secs(30);
        assert_eq!(d.classify_credential(&rejected(wait)), auth(wait));
        let no_refresh = CredentialError::NoRefreshToken;
        assert_eq!(d.classify_credential(&no_refresh), auth(d.auth_cooldown));
        let unreachable = d.unreachable_cooldown;
        assert_eq!(d.classify_credential(&peer_timeout), auth(unreachable));
        // Every one of them bounded by the longest cooldown allowed.
        let p = capped();
        let day = Duration::from_secs(86_400);
        assert_eq!(p.classify_credential(&rejected(day)), auth(p.max_cooldown));
        assert_eq!(p.classify_credential(&no_refresh), auth(p.max_cooldown));
        assert_eq!(p.classify_credential(&peer_timeout), auth(p.max_cooldown));
    }

    #[test]
    fn an_unsendable_credential_cools_the_whole_account_within_the_cap() {
        let d = FailoverSettings::default();
        assert_eq!(
            d.classify_unsendable_credential(),
            retry(d.auth_cooldown, CooldownReason::AuthFailed, true)
        );
        let p = capped();
        assert_eq!(
            p.classify_unsendable_credential(),
            retry(p.max_cooldown, CooldownReason::AuthFailed, true)
        );
    }

    #[test]
    fn a_stream_failing_before_the_client_sees_it_cools_within_the_cap() {
        let event = |kind| {
            StreamError::Upstream(aigw_formats::stream::MidStreamError {
                kind,
                message: "upstream said no".to_owned(),
            })
        };
        let malformed = StreamError::Malformed {
            event: "message".to_owned(),
            message: "not JSON".to_owned(),
        };
        let d = FailoverSettings::default();
        let server = |cooldown| retry(cooldown, CooldownReason::ServerError, false);
        for broken in [StreamError::Truncated, malformed.clone()] {
            assert_eq!(
                d.classify_stream_error(&broken),
                server(d.server_error_cooldown)
            );
        }
        // An error event is classified by its kind, like the same status.
        assert_eq!(
            d.classify_stream_error(&event(ErrorKind::RateLimited)),
            retry(d.rate_limit_cooldown, CooldownReason::RateLimited, false)
        );
        assert_eq!(
            d.classify_stream_error(&event(ErrorKind::InvalidRequest)),
            Verdict::Fatal
        );
        let p = capped();
        for broken in [StreamError::Truncated, malformed] {
            assert_eq!(p.classify_stream_error(&broken), server(p.max_cooldown));
        }
        assert_eq!(
            p.classify_stream_error(&event(ErrorKind::Authentication)),
            retry(p.max_cooldown, CooldownReason::AuthFailed, true)
        );
    }

    #[test]
    fn an_unreadable_reply_cools_the_model_like_a_server_error_within_the_cap() {
        let d = FailoverSettings::default();
        assert_eq!(
            d.classify_unreadable_reply(),
            retry(d.server_error_cooldown, CooldownReason::ServerError, false)
        );
        let p = capped();
        assert_eq!(
            p.classify_unreadable_reply(),
            retry(p.max_cooldown, CooldownReason::ServerError, false)
        );
    }
}
