//! `application/x-www-form-urlencoded` bodies and query strings, read as
//! name/value pairs.

use bytes::Bytes;

use crate::Error;

/// The fields of a form or query string.
#[derive(Debug, Default, Clone)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// The fields of a urlencoded body.
    pub(crate) fn from_body(body: &Bytes) -> Result<Self, Error> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(|pairs| Self { pairs })
            .map_err(|_| Error::BadInput {
                field: "form",
                message: "the form could not be read",
            })
    }

    /// The fields of a query string (unreadable ones are dropped).
    pub(crate) fn from_query(query: Option<&str>) -> Self {
        let pairs = query
            .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
            .unwrap_or_default();
        Self { pairs }
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name` as sent (not trimmed), or "".
    pub(crate) fn raw(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether a checkbox `name` was ticked.
    pub(crate) fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// `name` as a number; `default` when absent, an error naming `field` when not a number.
    pub(crate) fn number<T: std::str::FromStr>(
        &self,
        name: &str,
        field: &'static str,
        default: T,
    ) -> Result<T, Error> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| Error::BadInput {
                field,
                message: "must be a whole number",
            }),
        }
    }

    /// The 0-based page number of a list (`page`, 1-based in URLs).
    pub(crate) fn page(&self) -> i64 {
        self.get("page")
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(0, |p| (p - 1).clamp(0, 1_000_000))
    }
}

/// A query string of the non-empty `pairs`, for links (`?a=1&b=2`, or "").
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    if kept.is_empty() {
        return String::new();
    }
    let encoded = serde_urlencoded::to_string(kept).unwrap_or_default();
    format!("?{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_trimmed_and_blank_is_absent() {
        let f = Form::from_body(&Bytes::from_static(b"a=+x+&b=&c=%3Cb%3E&n=12")).unwrap();
        assert_eq!(f.get("a"), Some("x"));
        assert_eq!(f.get("b"), None);
        assert_eq!(f.get("c"), Some("<b>"));
        assert_eq!(f.number("n", "n", 0).unwrap(), 12);
        assert!(f.number::<i64>("c", "c", 0).is_err());
        assert_eq!(query_string(&[("a", "1 2"), ("b", "")]), "?a=1+2");
        assert_eq!(Form::from_query(Some("page=3")).page(), 2);
        assert_eq!(Form::from_query(Some("page=x")).page(), 0);
    }
}
