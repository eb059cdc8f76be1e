//! The headers every dashboard answer carries, and the check that a POST came
//! from the dashboard's own pages.

use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HOST, HeaderValue, ORIGIN, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, Response};

/// Scripts, styles, images and requests from the gateway itself only; no
/// inline script or style; no framing; forms post only here.
pub(crate) const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Adds the security headers (and, unless set, `Cache-Control: no-store`).
pub(crate) fn harden<B>(resp: &mut Response<B>) {
    let h = resp.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Whether the request came over TLS: to the gateway itself, or to a proxy
/// in front of it that says so in `X-Forwarded-Proto`.
pub(crate) fn is_tls(headers: &HeaderMap, scheme: Option<&str>) -> bool {
    scheme == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Whether a state-changing request was sent by a page of this origin: a
/// browser's `Sec-Fetch-Site` must say `same-origin` (or `none`, typed by the
/// user), and an `Origin` must be this host's. Clients that send neither
/// (scripts) still need the session's form token.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match headers.get(ORIGIN).map(HeaderValue::to_str) {
        None => true,
        Some(Ok(origin)) => {
            let host = headers.get(HOST).and_then(|v| v.to_str().ok());
            let bare = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            matches!((bare, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
        }
        Some(Err(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_origin_may_post() {
        assert!(same_origin(&headers(&[("host", "gw:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "gw:8080"),
            ("origin", "http://gw:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "gw:8080"),
            ("origin", "http://evil:8080"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "gw:8080"),
            ("origin", "null"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "gw:8080"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "gw:8080"),
            ("sec-fetch-site", "same-site"),
        ])));
    }

    #[test]
    fn tls_is_the_scheme_or_the_proxy_header() {
        assert!(is_tls(&HeaderMap::new(), Some("https")));
        assert!(is_tls(&headers(&[("x-forwarded-proto", "HTTPS")]), None));
        assert!(!is_tls(&HeaderMap::new(), None));
    }
}
