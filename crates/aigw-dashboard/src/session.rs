//! Dashboard sessions: a random token in a cookie, and a record in the shared
//! state (in process, or Redis in scale-out, so every instance knows it)
//! under the token's SHA-256, never the token itself.
//!
//! The record holds the management session token (a JWT from
//! [`aigw_services::admin::Admin::login`]), so each request resolves the
//! caller exactly as the management API does: a disabled user, or one whose
//! password or role changed since, is signed out at once. It also holds the
//! session's CSRF token and its times: it ends after `idle_timeout` without
//! use and `absolute_timeout` after sign-in. Signing out deletes the record,
//! which ends the session on every instance.

use std::time::Duration;

use aigw_repository::state::SharedState;
use http::HeaderMap;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::config::DashboardSettings;

/// The session cookie.
pub(crate) const COOKIE: &str = "aigw_session";
/// The cookie that binds the sign-in form to the browser that loaded it.
pub(crate) const SIGNIN_COOKIE: &str = "aigw_signin";

/// A stored session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The management session token of the signed-in user.
    pub(crate) jwt: String,
    /// The token every form of this session must carry.
    pub(crate) csrf: String,
    /// Sign-in time, Unix seconds.
    pub(crate) created: i64,
    /// Last use, Unix seconds (updated at most every [`Sessions::touch_every`]).
    pub(crate) seen: i64,
}

/// The session store of one instance. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Sessions {
    state: SharedState,
    settings: DashboardSettings,
}

/// 32 random bytes as hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn key(token: &str) -> String {
    format!(
        "dashboard:session:{}",
        hex::encode(Sha256::digest(token.as_bytes()))
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Secure` when the
/// request came over TLS; `max_age` 0 deletes it.
pub(crate) fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

impl Sessions {
    pub(crate) fn new(state: SharedState, settings: DashboardSettings) -> Self {
        Self { state, settings }
    }

    /// The longest a session cookie needs to live.
    pub(crate) fn cookie_max_age(&self) -> i64 {
        secs(self.settings.absolute_timeout)
    }

    /// How stale `seen` may get before it is written again: a quarter of the
    /// idle timeout, at most a minute, so a busy session costs at most one
    /// write a minute and the idle timeout is kept within that.
    fn touch_every(&self) -> i64 {
        (secs(self.settings.idle_timeout) / 4).clamp(0, 60)
    }

    /// How long the record must still be kept: until it goes idle or reaches
    /// its absolute end, whichever is sooner.
    fn ttl(&self, record: &Record, now: i64) -> Option<Duration> {
        let idle_end = record.seen + secs(self.settings.idle_timeout);
        let hard_end = record.created + secs(self.settings.absolute_timeout);
        let left = idle_end.min(hard_end) - now;
        (left > 0).then(|| Duration::from_secs(left.unsigned_abs()))
    }

    /// Starts a session for a management session token; the cookie value.
    pub(crate) async fn create(&self, jwt: String) -> Result<(String, Record), Error> {
        let token = random_token();
        let now = now();
        let record = Record {
            jwt,
            csrf: random_token(),
            created: now,
            seen: now,
        };
        if let Some(ttl) = self.ttl(&record, now) {
            self.state.cache_set(&key(&token), &record, ttl).await?;
        }
        Ok((token, record))
    }

    /// The live session of `token`; `touch` records this use (a page the
    /// person asked for, not the overview's background refresh, which must
    /// not keep an unattended session alive).
    pub(crate) async fn load(&self, token: &str, touch: bool) -> Result<Option<Record>, Error> {
        let key = key(token);
        let Some(mut record) = self.state.cache_get::<Record>(&key).await? else {
            return Ok(None);
        };
        let now = now();
        // The store's expiry is the bound; this check also holds where an
        // entry outlives it (an in-process fallback while Redis is away).
        if self.ttl(&record, now).is_none() {
            self.state.cache_delete(&key).await?;
            return Ok(None);
        }
        if touch && now - record.seen >= self.touch_every() {
            record.seen = now;
            if let Some(ttl) = self.ttl(&record, now) {
                self.state.cache_set(&key, &record, ttl).await?;
            }
        }
        Ok(Some(record))
    }

    /// Replaces the management token of a session (after a password change,
    /// which ends every other session of the user).
    pub(crate) async fn replace_jwt(&self, token: &str, jwt: String) -> Result<(), Error> {
        let key = key(token);
        if let Some(mut record) = self.state.cache_get::<Record>(&key).await? {
            record.jwt = jwt;
            if let Some(ttl) = self.ttl(&record, now()) {
                self.state.cache_set(&key, &record, ttl).await?;
            }
        }
        Ok(())
    }

    /// Ends a session everywhere.
    pub(crate) async fn end(&self, token: &str) -> Result<(), Error> {
        self.state.cache_delete(&key(token)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(http::header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("aigw_session=tok"),
        );
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie(COOKIE, "v", "/", 10, true);
        assert_eq!(
            c,
            "aigw_session=v; Path=/; Max-Age=10; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[tokio::test]
    async fn only_a_touching_load_records_use() {
        let s = Sessions::new(
            SharedState::InProcess(aigw_repository::state::InProcessState::new(
                &aigw_repository::state::StateConfig::in_process(),
            )),
            DashboardSettings::default(),
        );
        let (token, mut record) = s.create("jwt".to_owned()).await.unwrap();
        record.seen -= 120;
        s.state
            .cache_set(&key(&token), &record, Duration::from_secs(600))
            .await
            .unwrap();
        let untouched = s.load(&token, false).await.unwrap().unwrap();
        assert_eq!(untouched.seen, record.seen);
        let touched = s.load(&token, true).await.unwrap().unwrap();
        assert!(touched.seen > record.seen);
        s.end(&token).await.unwrap();
        assert!(s.load(&token, true).await.unwrap().is_none());
    }

    #[test]
    fn records_expire_when_idle_or_old() {
        let s = Sessions {
            state: SharedState::InProcess(aigw_repository::state::InProcessState::new(
                &aigw_repository::state::StateConfig::in_process(),
            )),
            settings: DashboardSettings {
                idle_timeout: Duration::from_secs(100),
                absolute_timeout: Duration::from_secs(1000),
            },
        };
        let r = |created, seen| Record {
            jwt: String::new(),
            csrf: String::new(),
            created,
            seen,
        };
        assert_eq!(s.ttl(&r(0, 0), 10), Some(Duration::from_secs(90)));
        assert_eq!(s.ttl(&r(0, 0), 100), None);
        assert_eq!(s.ttl(&r(0, 950), 960), Some(Duration::from_secs(40)));
        assert_eq!(s.ttl(&r(0, 999), 1000), None);
        assert_eq!(s.touch_every(), 25);
    }
}
