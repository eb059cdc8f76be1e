//! Keeping an account's own credentials out of upstream error text.
//!
//! Upstreams echo what they were sent ("Incorrect API key provided: sk-…"),
//! and their error text goes on to clients and into the request log. Any run
//! of [`MIN_RUN`] or more bytes of one of the account's secrets is replaced
//! with [`REDACTED`]; a masked form such as `sk-abc...xyz` keeps no such run
//! and is left alone.

use std::borrow::Cow;
use std::collections::HashSet;

use aigw_domain::{Account, AuthData};
use aigw_formats::stream::StreamError;

/// The shortest run of a secret that is hidden.
pub const MIN_RUN: usize = 8;

/// What a hidden run is replaced with.
pub const REDACTED: &[u8] = b"[redacted]";

/// The secrets of one account that an upstream may echo: its API key or
/// bearer token, its OAuth tokens and client secret, and the access token
/// this attempt sent (fresher than the stored one after a refresh).
#[derive(Debug, Default)]
pub struct Secrets<'a> {
    values: Vec<&'a str>,
}

impl<'a> Secrets<'a> {
    /// The secrets of `account`, plus `sent`, the OAuth token used.
    pub fn of(account: &'a Account, sent: Option<&'a str>) -> Self {
        let mut values = Vec::with_capacity(4);
        match &account.auth_data {
            AuthData::ApiKey { api_key } => values.push(api_key.expose()),
            AuthData::Bearer { token } => values.push(token.expose()),
            AuthData::Oauth(o) => {
                values.extend(
                    [&o.access_token, &o.refresh_token, &o.client_secret]
                        .into_iter()
                        .flatten()
                        .map(|s| s.expose()),
                );
            }
        }
        values.extend(sent);
        values.retain(|v| !v.is_empty());
        Self { values }
    }

    /// Secrets given as they are (tests, and callers holding other secrets).
    pub fn new(values: Vec<&'a str>) -> Self {
        Self { values }
    }

    /// `text` with every run of [`MIN_RUN`] or more bytes of a secret (and
    /// every whole occurrence of a shorter secret) replaced by [`REDACTED`];
    /// borrowed when nothing was found. Hidden runs are widened to whole
    /// UTF-8 characters, so valid UTF-8 stays valid.
    pub fn redact<'t>(&self, text: &'t [u8]) -> Cow<'t, [u8]> {
        let hidden = self.hidden(text);
        if !hidden.contains(&true) {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            if hidden[i] {
                out.extend_from_slice(REDACTED);
                while i < text.len() && hidden[i] {
                    i += 1;
                }
            } else {
                out.push(text[i]);
                i += 1;
            }
        }
        Cow::Owned(out)
    }

    /// `error` with the upstream text it carries redacted, so it can be
    /// kept typed and still be printed into the request log.
    pub fn redact_stream_error(&self, error: StreamError) -> StreamError {
        match error {
            StreamError::Upstream(mut e) => {
                e.message = self.redact_str(&e.message).into_owned();
                StreamError::Upstream(e)
            }
            StreamError::Malformed { event, message } => StreamError::Malformed {
                event: self.redact_str(&event).into_owned(),
                message: self.redact_str(&message).into_owned(),
            },
            StreamError::Serialize { message } => StreamError::Serialize {
                message: self.redact_str(&message).into_owned(),
            },
            e @ (StreamError::Sse(_)
            | StreamError::Truncated
            | StreamError::UnsupportedPair { .. }) => e,
        }
    }

    /// [`Secrets::redact`] on a string.
    pub fn redact_str<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.redact(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// Which bytes of `text` belong to a secret's run.
    fn hidden(&self, text: &[u8]) -> Vec<bool> {
        let mut hidden = vec![false; text.len()];
        let windows: HashSet<&[u8]> = self
            .values
            .iter()
            .map(|s| s.as_bytes())
            .filter(|s| s.len() >= MIN_RUN)
            .flat_map(|s| s.windows(MIN_RUN))
            .collect();
        if !windows.is_empty() && text.len() >= MIN_RUN {
            for start in 0..=text.len() - MIN_RUN {
                if windows.contains(&text[start..start + MIN_RUN]) {
                    hidden[start..start + MIN_RUN].fill(true);
                }
            }
        }
        for short in self
            .values
            .iter()
            .map(|s| s.as_bytes())
            .filter(|s| !s.is_empty() && s.len() < MIN_RUN)
        {
            for start in 0..text.len().saturating_sub(short.len() - 1) {
                if text[start..].starts_with(short) {
                    hidden[start..start + short.len()].fill(true);
                }
            }
        }
        widen_to_chars(text, &mut hidden);
        hidden
    }
}

/// Extends every hidden run over the rest of the UTF-8 characters it cuts.
fn widen_to_chars(text: &[u8], hidden: &mut [bool]) {
    let continuation = |b: u8| b & 0b1100_0000 == 0b1000_0000;
    for i in 1..text.len() {
        // Forward: a continuation byte after a hidden byte is hidden.
        if hidden[i - 1] && !hidden[i] && continuation(text[i]) {
            hidden[i] = true;
        }
    }
    for i in (0..text.len().saturating_sub(1)).rev() {
        // Backward: the bytes of a character whose tail is hidden are hidden.
        if hidden[i + 1] && !hidden[i] && continuation(text[i + 1]) {
            hidden[i] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";

    fn redact(secrets: &[&str], text: &str) -> String {
        let secrets = Secrets::new(secrets.to_vec());
        String::from_utf8(secrets.redact(text.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn whole_secrets_and_long_runs_are_hidden() {
        assert_eq!(
            redact(
                &[KEY],
                &format!("Incorrect API key provided: Bearer {KEY}.")
            ),
            "Incorrect API key provided: Bearer [redacted]."
        );
        // Any 8-byte run of the secret, wherever it starts.
        assert_eq!(
            redact(&[KEY], "key ending in IjKlMnOpQr was refused"),
            "key ending in [redacted] was refused"
        );
        assert_eq!(redact(&[KEY], "run AbCdEfGh!"), "run [redacted]!");
        // Two occurrences, and two secrets.
        assert_eq!(
            redact(
                &[KEY, "refresh-token-value"],
                &format!("{KEY} and {KEY}, then refresh-token-value")
            ),
            "[redacted] and [redacted], then [redacted]"
        );
    }

    #[test]
    fn stream_errors_keep_their_type_without_the_secret() {
        let secrets = Secrets::new(vec![KEY]);
        let error = secrets.redact_stream_error(StreamError::Malformed {
            event: "error".to_owned(),
            message: format!("expected a string near {KEY}"),
        });
        assert_eq!(
            error,
            StreamError::Malformed {
                event: "error".to_owned(),
                message: "expected a string near [redacted]".to_owned(),
            }
        );
        assert_eq!(
            secrets.redact_stream_error(StreamError::Truncated),
            StreamError::Truncated
        );
    }

    #[test]
    fn masked_forms_and_short_runs_stay() {
        let masked = "Incorrect API key provided: sk-proj...6789. You can find it at …";
        assert_eq!(redact(&[KEY], masked), masked);
        // Seven bytes of the secret are not enough to hide.
        assert_eq!(redact(&[KEY], "AbCdEfG"), "AbCdEfG");
        assert!(matches!(
            Secrets::new(vec![KEY]).redact(masked.as_bytes()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_short_secret_is_hidden_whole() {
        assert_eq!(
            redact(&["abc12"], "key abc12 refused"),
            "key [redacted] refused"
        );
        assert_eq!(redact(&["abc12"], "key abc1 refused"), "key abc1 refused");
    }

    #[test]
    fn json_stays_valid_and_utf8_is_not_cut() {
        let secret = "ééééé-token-ü";
        let body = format!(r#"{{"error":{{"message":"bad token {secret}é"}}}}"#);
        let out = redact(&[secret], &body);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(!message.contains("-token-"), "{message}");
        assert!(message.starts_with("bad token [redacted]"), "{message}");
    }

    #[test]
    fn an_accounts_secrets_are_collected() {
        let account = |auth| {
            Account::from_new(
                aigw_domain::AccountId::new(),
                aigw_domain::NewAccount::new("openai".parse().unwrap(), "a", auth),
                chrono::Utc::now(),
            )
        };
        let oauth = account(AuthData::Oauth(Box::new(aigw_domain::OAuthCredentials {
            access_token: Some(aigw_domain::Secret::new("stored-access-token")),
            refresh_token: Some(aigw_domain::Secret::new("stored-refresh-token")),
            ..Default::default()
        })));
        let secrets = Secrets::of(&oauth, Some("fresh-access-token"));
        let text = "a stored-access-token b stored-refresh-token c fresh-access-token";
        assert_eq!(
            String::from_utf8(secrets.redact(text.as_bytes()).into_owned()).unwrap(),
            "a [redacted] b [redacted] c [redacted]"
        );
        let key = account(AuthData::ApiKey {
            api_key: aigw_domain::Secret::new(KEY),
        });
        assert_eq!(
            Secrets::of(&key, None).redact_str(&format!("x{KEY}x")),
            "x[redacted]x"
        );
    }
}
