//! The Redis key layout: every key and channel the store uses, under one
//! prefix and one namespace per kind of value.

use chrono::NaiveDate;

use super::live::LiveScope;

/// Which of the two live counters of a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveField {
    /// All requests.
    Requests,
    /// Failed requests.
    Failures,
}

impl LiveField {
    fn as_str(self) -> &'static str {
        match self {
            LiveField::Requests => "requests",
            LiveField::Failures => "failures",
        }
    }
}

/// Builds Redis keys. Kinds are namespaced (`counter:`, `cache:`, `lock:`,
/// …) so that a counter and a cached value given the same logical key never
/// clash with a type error.
#[derive(Clone, Debug)]
pub struct KeyLayout {
    prefix: String,
}

impl KeyLayout {
    /// A layout under `prefix` (e.g. `aigw:`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}counter:{key}`: an `INCR` counter without expiry.
    pub fn counter(&self, key: &str) -> String {
        self.join("counter:", key)
    }

    /// `{prefix}window:{key}`: an attempt counter that expires with its window.
    pub fn window(&self, key: &str) -> String {
        self.join("window:", key)
    }

    /// `{prefix}cache:{key}`: a JSON value with a TTL.
    pub fn cache(&self, key: &str) -> String {
        self.join("cache:", key)
    }

    /// `{prefix}lock:{key}`: a single-flight lock holding its owner's token.
    pub fn lock(&self, key: &str) -> String {
        self.join("lock:", key)
    }

    /// `{prefix}live:{scope}:{id}:{yyyymmdd}:{requests|failures}`.
    pub fn live(&self, scope: LiveScope, id: &str, day: NaiveDate, field: LiveField) -> String {
        format!(
            "{}live:{}:{}:{}:{}",
            self.prefix,
            scope.as_str(),
            id,
            day.format("%Y%m%d"),
            field.as_str()
        )
    }

    /// `{prefix}error_logs`: the error-log sorted set (score = unix ms).
    pub fn error_log(&self) -> String {
        self.join("error_logs", "")
    }

    /// `{prefix}invalidation`: the pub/sub channel of invalidations.
    pub fn invalidation_channel(&self) -> String {
        self.join("invalidation", "")
    }

    fn join(&self, namespace: &str, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + namespace.len() + key.len());
        out.push_str(&self.prefix);
        out.push_str(namespace);
        out.push_str(key);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let keys = KeyLayout::new("aigw:");
        assert_eq!(
            keys.counter("rr:openai:gpt-4o"),
            "aigw:counter:rr:openai:gpt-4o"
        );
        assert_eq!(
            keys.cache("auth:anthropic:7"),
            "aigw:cache:auth:anthropic:7"
        );
        assert_eq!(keys.lock("refresh:7"), "aigw:lock:refresh:7");
        assert_eq!(keys.window("login:user:ab"), "aigw:window:login:user:ab");
        let day = NaiveDate::from_ymd_opt(2025, 3, 9).unwrap();
        assert_eq!(
            keys.live(LiveScope::Proxy, "12", day, LiveField::Failures),
            "aigw:live:proxy:12:20250309:failures"
        );
        assert_eq!(keys.error_log(), "aigw:error_logs");
        assert_eq!(keys.invalidation_channel(), "aigw:invalidation");
    }
}
