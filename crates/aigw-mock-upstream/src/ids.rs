//! Ids and timestamps shaped like the real providers' (`chatcmpl-…`, `msg_01…`, `call_…`, `toolu_01…`).
//!
//! The ids only need to look real and be distinct within a run, so a lock-free
//! counter run through a bit mixer is enough; no random-number crate is needed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^10 fits in a u64, so each mixed word yields ten base-62 digits.
const DIGITS_PER_WORD: usize = 10;

/// Generates provider-shaped ids without locks.
#[derive(Debug)]
pub(crate) struct IdGen {
    state: AtomicU64,
}

impl IdGen {
    pub(crate) fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            state: AtomicU64::new(nanos ^ (u64::from(std::process::id()) << 32)),
        }
    }

    /// The next pseudo-random word (splitmix64 over a Weyl sequence).
    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `prefix` followed by `len` base-62 characters.
    pub(crate) fn with_prefix(&self, prefix: &str, len: usize) -> String {
        let mut out = String::with_capacity(prefix.len() + len);
        out.push_str(prefix);
        let mut word = 0;
        for i in 0..len {
            if i % DIGITS_PER_WORD == 0 {
                word = self.next_u64();
            }
            out.push(char::from(ALPHABET[(word % 62) as usize]));
            word /= 62;
        }
        out
    }

    pub(crate) fn chat_completion(&self) -> String {
        self.with_prefix("chatcmpl-", 29)
    }

    pub(crate) fn openai_call(&self) -> String {
        self.with_prefix("call_", 24)
    }

    pub(crate) fn anthropic_message(&self) -> String {
        self.with_prefix("msg_01", 22)
    }

    pub(crate) fn anthropic_tool_use(&self) -> String {
        self.with_prefix("toolu_01", 22)
    }

    pub(crate) fn request_id(&self) -> String {
        self.with_prefix("req_", 24)
    }

    pub(crate) fn gemini_response(&self) -> String {
        self.with_prefix("", 22)
    }
}

/// Seconds since the Unix epoch, as the `created` fields carry it.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_provider_shapes_and_differ() {
        let ids = IdGen::new();
        let a = ids.anthropic_message();
        let b = ids.anthropic_message();
        assert!(a.starts_with("msg_01"));
        assert_eq!(a.len(), "msg_01".len() + 22);
        assert_ne!(a, b);
        assert!(ids.chat_completion().starts_with("chatcmpl-"));
        assert!(ids.openai_call().starts_with("call_"));
        assert!(ids.anthropic_tool_use().starts_with("toolu_01"));
        assert!(
            ids.gemini_response()
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
    }
}
