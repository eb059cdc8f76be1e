//! Limits learned from the upstream: what the providers' rate-limit and
//! subscription headers and quota errors say about an account's windows,
//! read on every answer that carries them (successes too), so that an
//! account whose window is used up cools down until the stated reset
//! without waiting for a 429, and the quota view shows the learned limits.
//!
//! Forms read (each only when its header or error is there):
//! - Anthropic subscriptions: `anthropic-ratelimit-unified-status`
//!   (`allowed`, `allowed_warning`, `rejected`), `-reset` (Unix seconds),
//!   and per window (`5h`, `7d`) `-{w}-status`, `-{w}-utilization` (0 to 1)
//!   and `-{w}-reset` (Unix seconds).
//! - Codex (ChatGPT plans): `x-codex-{primary,secondary}-used-percent`
//!   (0 to 100), `-window-minutes`, `-reset-at` (Unix seconds) or the older
//!   `-reset-after-seconds`; and the 429 body `usage_limit_reached` with
//!   `resets_at` / `resets_in_seconds`.
//! - OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the
//!   resets as durations (`6m0s`, `1.5s`, `250ms`).
//! - Anthropic API keys: `anthropic-ratelimit-{requests,tokens,input-tokens,
//!   output-tokens}-{limit,remaining,reset}`, the resets in RFC 3339.
//! - Gemini: a `RESOURCE_EXHAUSTED` error with `QuotaFailure` violations and
//!   a `RetryInfo` delay.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::go_duration::parse_go_duration;

/// One limit window as the upstream states it.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitWindow {
    /// Which limit: `requests`, `tokens`, `input_tokens`, `output_tokens`
    /// (API rate limits), `5h`, `7d` (Anthropic subscription windows),
    /// `primary`, `secondary` (Codex plan windows), `usage_limit` (a Codex
    /// usage-limit error), or a Gemini quota id.
    pub name: Cow<'static, str>,
    /// The limit per window, when stated.
    pub limit: Option<i64>,
    /// What is left of it, when stated.
    pub remaining: Option<i64>,
    /// The share used, 0 to 100, when stated.
    pub used_percent: Option<f64>,
    /// The window's length, when stated.
    pub window: Option<Duration>,
    /// When the window resets.
    pub resets_at: Option<DateTime<Utc>>,
    /// Whether the window is used up: nothing more until it resets.
    pub exhausted: bool,
}

// Percentages are parsed finite, never NaN.
impl Eq for LimitWindow {}

impl LimitWindow {
    fn named(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            limit: None,
            remaining: None,
            used_percent: None,
            window: None,
            resets_at: None,
            exhausted: false,
        }
    }

    fn is_empty(&self) -> bool {
        self.limit.is_none()
            && self.remaining.is_none()
            && self.used_percent.is_none()
            && self.resets_at.is_none()
            && !self.exhausted
    }

    /// How little is left: 0 for an exhausted window, else the remaining
    /// share (1 when nothing says).
    fn headroom(&self) -> f64 {
        if self.exhausted {
            return 0.0;
        }
        if let Some(used) = self.used_percent {
            return (100.0 - used).max(0.0) / 100.0;
        }
        match (self.remaining, self.limit) {
            (Some(r), Some(l)) if l > 0 => r as f64 / l as f64,
            _ => 1.0,
        }
    }
}

/// What one upstream answer says about its account's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLimits {
    /// The windows stated.
    pub windows: Vec<LimitWindow>,
    /// Whether they cover the whole account (subscription windows, a plan's
    /// usage limit) rather than the model called.
    pub account_wide: bool,
}

impl UpstreamLimits {
    /// The limits in an answer's headers, if it carries any of the forms
    /// read. Only looks further when a form's marker header is present.
    pub fn from_headers(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Self> {
        // One pass over the names, which are few, instead of nine lookups by
        // name: each lookup by a `&str` parses and hashes it, once per answer.
        let (mut unified, mut codex, mut openai, mut anthropic) = (false, false, false, false);
        for name in headers.keys() {
            match name.as_str() {
                "anthropic-ratelimit-unified-status"
                | "anthropic-ratelimit-unified-5h-utilization" => unified = true,
                "x-codex-primary-used-percent" | "x-codex-secondary-used-percent" => codex = true,
                "x-ratelimit-remaining-requests" | "x-ratelimit-remaining-tokens" => openai = true,
                "anthropic-ratelimit-requests-remaining"
                | "anthropic-ratelimit-tokens-remaining"
                | "anthropic-ratelimit-input-tokens-remaining" => anthropic = true,
                _ => {}
            }
        }
        if unified {
            anthropic_unified(headers)
        } else if codex {
            codex_windows(headers, now)
        } else if openai {
            openai_rate_limits(headers, now)
        } else if anthropic {
            anthropic_rate_limits(headers)
        } else {
            None
        }
    }

    /// The limits an error body states: Codex's `usage_limit_reached`, or
    /// Gemini's `RESOURCE_EXHAUSTED` quota failure.
    pub fn from_error_body(body: &[u8], now: DateTime<Utc>) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let error = value.get("error").or_else(|| value.get(0)?.get("error"))?;
        if error.get("type").and_then(|t| t.as_str()) == Some("usage_limit_reached") {
            return Some(codex_usage_limit(error, now));
        }
        if error.get("status").and_then(|s| s.as_str()) == Some("RESOURCE_EXHAUSTED") {
            return gemini_quota(error, now);
        }
        None
    }

    /// Both forms of one answer, when either is there.
    pub fn of_answer(headers: &HeaderMap, body: Option<&[u8]>, now: DateTime<Utc>) -> Option<Self> {
        let from_headers = Self::from_headers(headers, now);
        let from_body = body.and_then(|b| Self::from_error_body(b, now));
        match (from_headers, from_body) {
            (Some(mut h), Some(b)) => {
                h.account_wide |= b.account_wide;
                h.windows.extend(b.windows);
                Some(h)
            }
            (h, b) => h.or(b),
        }
    }

    /// When the account may serve again, if a window is used up: the latest
    /// reset among the exhausted windows that state one.
    pub fn exhausted_until(&self) -> Option<DateTime<Utc>> {
        self.windows
            .iter()
            .filter(|w| w.exhausted)
            .filter_map(|w| w.resets_at)
            .max()
    }

    /// Whether a window is used up.
    pub fn is_exhausted(&self) -> bool {
        self.windows.iter().any(|w| w.exhausted)
    }

    /// The window that binds: an exhausted one (the latest to reset), else
    /// the one with the least left.
    pub fn binding(&self) -> Option<&LimitWindow> {
        self.windows.iter().min_by(|a, b| {
            a.headroom()
                .total_cmp(&b.headroom())
                .then_with(|| b.resets_at.cmp(&a.resets_at))
        })
    }

    /// The limit of the window named `name`.
    pub fn limit_of(&self, name: &str) -> Option<i64> {
        self.windows
            .iter()
            .find(|w| w.name == name)
            .and_then(|w| w.limit)
    }

    fn of(windows: Vec<LimitWindow>, account_wide: bool) -> Option<Self> {
        let windows: Vec<_> = windows.into_iter().filter(|w| !w.is_empty()).collect();
        (!windows.is_empty()).then_some(Self {
            windows,
            account_wide,
        })
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn header_i64(headers: &HeaderMap, name: &str) -> Option<i64> {
    header(headers, name)?.parse().ok()
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    header(headers, name)?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

fn unix_seconds(value: f64) -> Option<DateTime<Utc>> {
    // Whole seconds: the forms read state seconds, sometimes as "1.7e9".
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a Unix time in seconds, checked finite"
    )]
    let secs = value as i64;
    DateTime::from_timestamp(secs, 0)
}

fn header_unix(headers: &HeaderMap, name: &str) -> Option<DateTime<Utc>> {
    unix_seconds(header_f64(headers, name)?)
}

fn after(now: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    now.checked_add_signed(chrono::Duration::from_std(d).ok()?)
}

/// Anthropic's unified subscription headers (Claude plans).
fn anthropic_unified(headers: &HeaderMap) -> Option<UpstreamLimits> {
    let overall = header(headers, "anthropic-ratelimit-unified-status");
    let rejected = overall == Some("rejected");
    let claim = header(headers, "anthropic-ratelimit-unified-representative-claim");
    let mut windows = Vec::new();
    for (name, length, claim_name) in [
        ("5h", Duration::from_secs(5 * 3600), "five_hour"),
        ("7d", Duration::from_secs(7 * 24 * 3600), "seven_day"),
    ] {
        let prefix = format!("anthropic-ratelimit-unified-{name}");
        let mut w = LimitWindow::named(name);
        w.used_percent = header_f64(headers, &format!("{prefix}-utilization")).map(|u| u * 100.0);
        w.resets_at = header_unix(headers, &format!("{prefix}-reset"));
        let status = header(headers, &format!("{prefix}-status"));
        w.exhausted = status == Some("rejected")
            || (rejected && claim == Some(claim_name))
            || w.used_percent.is_some_and(|u| u >= 100.0);
        if !w.is_empty() {
            w.window = Some(length);
        }
        windows.push(w);
    }
    if rejected && !windows.iter().any(|w| w.exhausted) {
        // Rejected without naming the window: the overall reset says when.
        let mut w = LimitWindow::named("unified");
        w.resets_at = header_unix(headers, "anthropic-ratelimit-unified-reset");
        w.exhausted = true;
        windows.push(w);
    }
    UpstreamLimits::of(windows, true)
}

/// Codex's plan windows in the response headers.
fn codex_windows(headers: &HeaderMap, now: DateTime<Utc>) -> Option<UpstreamLimits> {
    let windows = ["primary", "secondary"]
        .into_iter()
        .map(|name| {
            let prefix = format!("x-codex-{name}");
            let mut w = LimitWindow::named(name);
            w.used_percent = header_f64(headers, &format!("{prefix}-used-percent"));
            w.window = header_i64(headers, &format!("{prefix}-window-minutes"))
                .and_then(|m| u64::try_from(m).ok())
                .map(|m| Duration::from_secs(m * 60));
            w.resets_at = header_unix(headers, &format!("{prefix}-reset-at")).or_else(|| {
                let secs = header_f64(headers, &format!("{prefix}-reset-after-seconds"))?;
                after(now, Duration::try_from_secs_f64(secs).ok()?)
            });
            w.exhausted = w.used_percent.is_some_and(|u| u >= 100.0);
            w
        })
        .collect();
    UpstreamLimits::of(windows, true)
}

/// Codex's `usage_limit_reached` error object.
fn codex_usage_limit(error: &serde_json::Value, now: DateTime<Utc>) -> UpstreamLimits {
    let mut w = LimitWindow::named("usage_limit");
    w.exhausted = true;
    w.used_percent = Some(100.0);
    let at = error
        .get("resets_at")
        .and_then(serde_json::Value::as_f64)
        .and_then(unix_seconds);
    let in_seconds = || {
        let secs = error.get("resets_in_seconds")?.as_f64()?;
        after(now, Duration::try_from_secs_f64(secs).ok()?)
    };
    w.resets_at = in_seconds().or(at);
    UpstreamLimits {
        windows: vec![w],
        account_wide: true,
    }
}

/// Gemini's `RESOURCE_EXHAUSTED`: the violated quotas, reset after the
/// `RetryInfo` delay.
fn gemini_quota(error: &serde_json::Value, now: DateTime<Utc>) -> Option<UpstreamLimits> {
    let details = error.get("details")?.as_array()?;
    let resets_at = details
        .iter()
        .filter_map(|d| d.get("retryDelay")?.as_str())
        .find_map(parse_go_duration)
        .and_then(|d| after(now, d));
    let mut windows: Vec<LimitWindow> = details
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with("QuotaFailure"))
        })
        .filter_map(|d| d.get("violations")?.as_array())
        .flatten()
        .map(|v| {
            let name = v
                .get("quotaId")
                .or_else(|| v.get("quotaMetric"))
                .and_then(|n| n.as_str())
                .unwrap_or("quota");
            let mut w = LimitWindow::named(name.to_owned());
            w.limit = v
                .get("quotaValue")
                .and_then(|q| q.as_str().and_then(|s| s.parse().ok()).or(q.as_i64()));
            w.remaining = Some(0);
            w.resets_at = resets_at;
            w.exhausted = true;
            w
        })
        .collect();
    if windows.is_empty() {
        let mut w = LimitWindow::named("quota");
        w.resets_at = resets_at;
        w.exhausted = true;
        windows.push(w);
    }
    UpstreamLimits::of(windows, false)
}

/// OpenAI's `x-ratelimit-*` headers.
fn openai_rate_limits(headers: &HeaderMap, now: DateTime<Utc>) -> Option<UpstreamLimits> {
    let windows = ["requests", "tokens"]
        .into_iter()
        .map(|name| {
            let mut w = LimitWindow::named(name);
            w.limit = header_i64(headers, &format!("x-ratelimit-limit-{name}"));
            w.remaining = header_i64(headers, &format!("x-ratelimit-remaining-{name}"));
            w.resets_at = header(headers, &format!("x-ratelimit-reset-{name}"))
                .and_then(parse_go_duration)
                .and_then(|d| after(now, d));
            w.exhausted = w.remaining == Some(0);
            w
        })
        .collect();
    UpstreamLimits::of(windows, false)
}

/// Anthropic's API-key `anthropic-ratelimit-*` headers.
fn anthropic_rate_limits(headers: &HeaderMap) -> Option<UpstreamLimits> {
    let windows = [
        ("requests", "requests"),
        ("tokens", "tokens"),
        ("input-tokens", "input_tokens"),
        ("output-tokens", "output_tokens"),
    ]
    .into_iter()
    .map(|(part, name)| {
        let prefix = format!("anthropic-ratelimit-{part}");
        let mut w = LimitWindow::named(name);
        w.limit = header_i64(headers, &format!("{prefix}-limit"));
        w.remaining = header_i64(headers, &format!("{prefix}-remaining"));
        w.resets_at = header(headers, &format!("{prefix}-reset"))
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc));
        w.exhausted = w.remaining == Some(0);
        w
    })
    .collect();
    UpstreamLimits::of(windows, false)
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

    fn now() -> DateTime<Utc> {
        "2026-01-10T14:00:00Z".parse().unwrap()
    }

    #[test]
    fn nothing_without_a_known_header() {
        let h = headers(&[("content-type", "application/json")]);
        assert_eq!(UpstreamLimits::from_headers(&h, now()), None);
    }

    #[test]
    fn anthropic_unified_windows_allowed_and_rejected() {
        // As Claude plans answer a request within their limits.
        let allowed = headers(&[
            ("anthropic-ratelimit-unified-status", "allowed"),
            ("anthropic-ratelimit-unified-5h-status", "allowed"),
            ("anthropic-ratelimit-unified-5h-utilization", "0.19"),
            ("anthropic-ratelimit-unified-5h-reset", "1778479200"),
            ("anthropic-ratelimit-unified-7d-status", "allowed"),
            ("anthropic-ratelimit-unified-7d-utilization", "0.45"),
            ("anthropic-ratelimit-unified-7d-reset", "1778814000"),
            (
                "anthropic-ratelimit-unified-representative-claim",
                "five_hour",
            ),
            ("anthropic-ratelimit-unified-reset", "1778479200"),
        ]);
        let l = UpstreamLimits::from_headers(&allowed, now()).unwrap();
        assert!(l.account_wide);
        assert!(!l.is_exhausted());
        assert_eq!(l.exhausted_until(), None);
        assert_eq!(l.windows.len(), 2);
        let five = &l.windows[0];
        assert_eq!(five.name, "5h");
        assert!((five.used_percent.unwrap() - 19.0).abs() < 1e-9);
        assert_eq!(five.resets_at, DateTime::from_timestamp(1_778_479_200, 0));
        assert_eq!(five.window, Some(Duration::from_secs(18_000)));
        assert_eq!(l.binding().unwrap().name, "7d", "less headroom left");

        let rejected = headers(&[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-utilization", "1.0"),
            ("anthropic-ratelimit-unified-5h-reset", "1778479200"),
            ("anthropic-ratelimit-unified-7d-status", "allowed"),
            ("anthropic-ratelimit-unified-7d-utilization", "0.45"),
            ("anthropic-ratelimit-unified-7d-reset", "1778814000"),
            (
                "anthropic-ratelimit-unified-representative-claim",
                "five_hour",
            ),
            ("anthropic-ratelimit-unified-reset", "1778479200"),
        ]);
        let l = UpstreamLimits::from_headers(&rejected, now()).unwrap();
        assert_eq!(
            l.exhausted_until(),
            DateTime::from_timestamp(1_778_479_200, 0)
        );
        assert_eq!(l.binding().unwrap().name, "5h");

        // Only the overall status and reset.
        let bare = headers(&[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", "1778479200"),
        ]);
        let l = UpstreamLimits::from_headers(&bare, now()).unwrap();
        assert_eq!(
            l.exhausted_until(),
            DateTime::from_timestamp(1_778_479_200, 0)
        );
    }

    #[test]
    fn codex_plan_windows_from_headers() {
        let h = headers(&[
            ("x-codex-primary-used-percent", "42.5"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-at", "1779440000"),
            ("x-codex-secondary-used-percent", "12"),
            ("x-codex-secondary-window-minutes", "10080"),
            ("x-codex-secondary-reset-after-seconds", "604800"),
        ]);
        let l = UpstreamLimits::from_headers(&h, now()).unwrap();
        assert!(l.account_wide && !l.is_exhausted());
        assert_eq!(l.windows[0].window, Some(Duration::from_secs(18_000)));
        assert_eq!(
            l.windows[0].resets_at,
            DateTime::from_timestamp(1_779_440_000, 0)
        );
        assert_eq!(
            l.windows[1].resets_at,
            Some(now() + chrono::Duration::seconds(604_800))
        );
        let full = headers(&[
            ("x-codex-primary-used-percent", "100"),
            ("x-codex-primary-reset-at", "1779440000"),
        ]);
        let l = UpstreamLimits::from_headers(&full, now()).unwrap();
        assert_eq!(
            l.exhausted_until(),
            DateTime::from_timestamp(1_779_440_000, 0)
        );
    }

    #[test]
    fn codex_usage_limit_error() {
        let body = br#"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":1779440000,"resets_in_seconds":1200}}"#;
        let l = UpstreamLimits::from_error_body(body, now()).unwrap();
        assert!(l.account_wide);
        assert_eq!(
            l.exhausted_until(),
            Some(now() + chrono::Duration::seconds(1200))
        );
        let body = br#"{"error":{"type":"usage_limit_reached","resets_at":1779440000}}"#;
        let l = UpstreamLimits::from_error_body(body, now()).unwrap();
        assert_eq!(
            l.exhausted_until(),
            DateTime::from_timestamp(1_779_440_000, 0)
        );
    }

    #[test]
    fn openai_rate_limit_headers() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-limit-tokens", "30000000"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        let l = UpstreamLimits::from_headers(&h, now()).unwrap();
        assert!(!l.account_wide);
        assert_eq!(l.limit_of("requests"), Some(10_000));
        assert_eq!(l.limit_of("tokens"), Some(30_000_000));
        assert_eq!(
            l.exhausted_until(),
            Some(now() + chrono::Duration::seconds(360))
        );
        assert_eq!(l.binding().unwrap().name, "tokens");
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1.5s"),
        ]);
        let l = UpstreamLimits::from_headers(&h, now()).unwrap();
        assert_eq!(
            l.exhausted_until(),
            Some(now() + chrono::Duration::milliseconds(1500))
        );
    }

    #[test]
    fn anthropic_api_rate_limit_headers() {
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2026-01-10T14:00:30Z"),
            ("anthropic-ratelimit-tokens-limit", "40000"),
            ("anthropic-ratelimit-tokens-remaining", "39000"),
            ("anthropic-ratelimit-tokens-reset", "2026-01-10T14:00:05Z"),
        ]);
        let l = UpstreamLimits::from_headers(&h, now()).unwrap();
        assert_eq!(l.limit_of("requests"), Some(50));
        assert_eq!(
            l.exhausted_until(),
            Some(now() + chrono::Duration::seconds(30))
        );
    }

    #[test]
    fn gemini_resource_exhausted() {
        let body = br#"{"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.0-flash"},"quotaValue":"15"}]},{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"43s"}]}}"#;
        let l = UpstreamLimits::from_error_body(body, now()).unwrap();
        assert!(!l.account_wide);
        assert_eq!(
            l.windows[0].name,
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
        );
        assert_eq!(l.windows[0].limit, Some(15));
        assert_eq!(
            l.exhausted_until(),
            Some(now() + chrono::Duration::seconds(43))
        );
    }
}
