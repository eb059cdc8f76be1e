//! The conversation a request belongs to, as far as clients say it: the key
//! session affinity pins an upstream account to.
//!
//! Clients name their conversations in different places:
//!
//! - Claude Code: `metadata.user_id`, `user_<hash>_account_<uuid>_session_<uuid>`
//!   up to v2.1.77 and a JSON text `{"device_id":…,"account_uuid":…,"session_id":…}`
//!   since, plus an `X-Claude-Code-Session-Id` header since v2.1.86: the session part.
//! - Codex CLI: `prompt_cache_key` (its conversation id) and a `session_id`
//!   header holding the same id (older versions: `conversation_id`).
//! - OpenAI SDK clients: `prompt_cache_key`, else `user`.
//! - Gemini: a Code Assist body's `session_id` (Gemini CLI's OAuth mode); Gemini
//!   CLI on an API key sends the plain Gemini API body, which names no session.
//!
//! A request naming none is keyed by its first turns: the system prompt and
//! the messages up to the first user message, which stay the same for the
//! whole conversation. Every key is a 128-bit hash, so its size does not
//! depend on what the client sends; the same id in a header and in the body
//! gives the same key.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The key of one conversation: a stable 128-bit hash (the same in every
/// instance and every build), of the id the client gave or of its first turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConversationKey(u128);

impl ConversationKey {
    /// The key of a conversation the client names `id`; `None` for an empty id.
    pub fn named(id: &str) -> Option<Self> {
        let id = id.trim();
        if id.is_empty() {
            return None;
        }
        Some(Self(Fnv::new().bytes(b"id:").bytes(id.as_bytes()).0))
    }

    /// The key of the conversation of an Anthropic `metadata.user_id`: its
    /// session part when it is Claude Code's (either shape), else the whole
    /// value (one per user).
    pub fn from_anthropic_user_id(user_id: &str) -> Option<Self> {
        Self::named(&claude_code_session(user_id))
    }

    /// The hash itself.
    pub const fn value(self) -> u128 {
        self.0
    }

    /// This key mixed with `bytes` (the client key, so that two clients'
    /// equal ids never share an account pin).
    #[must_use]
    pub fn mixed_with(self, bytes: &[u8]) -> Self {
        Self(Fnv(self.0).bytes(b"|").bytes(bytes).0)
    }
}

/// The session part of Claude Code's `metadata.user_id`: the JSON shape's
/// `session_id`, the legacy shape's text after `_session_`, else the whole id.
fn claude_code_session(user_id: &str) -> Cow<'_, str> {
    #[derive(Deserialize)]
    struct Shaped<'a> {
        #[serde(borrow, default)]
        session_id: Option<Cow<'a, str>>,
    }
    let trimmed = user_id.trim();
    if trimmed.starts_with('{') {
        if let Ok(Shaped {
            session_id: Some(session),
        }) = serde_json::from_str::<Shaped<'_>>(trimmed)
            && !session.trim().is_empty()
        {
            return session;
        }
        return Cow::Borrowed(user_id);
    }
    match user_id.rfind("_session_") {
        Some(at) if at + 9 < user_id.len() => Cow::Borrowed(&user_id[at + 9..]),
        _ => Cow::Borrowed(user_id),
    }
}

/// The text of a JSON value that is a string, decoded; `None` for anything else.
pub(crate) fn raw_text(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let raw = raw?;
    if !raw.get().starts_with('"') {
        return None;
    }
    serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()
}

/// FNV-1a, 128 bits: stable across processes and builds (unlike the standard
/// library's hasher), and good enough to tell conversations apart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u128);

impl Fnv {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    pub(crate) const fn new() -> Self {
        Self(Self::OFFSET)
    }

    #[must_use]
    pub(crate) fn bytes(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
        self
    }
}

/// The first turns of a conversation as the first look at the body reads
/// them: the system prompt and every message up to and including the first
/// user message, hashed as they come (only the role and content of each).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FirstTurns {
    hash: Option<Fnv>,
    /// The first user message has been hashed: later messages are not.
    complete: bool,
}

impl FirstTurns {
    /// Adds one leading message; whether it was the first user message.
    pub(crate) fn push(&mut self, role: Option<&str>, content: Option<&RawValue>) {
        if self.complete {
            return;
        }
        let mut hash = self.hash.unwrap_or_else(Fnv::new).bytes(b"turn:");
        if let Some(role) = role {
            hash = hash.bytes(role.as_bytes());
        }
        hash = hash.bytes(b":");
        if let Some(content) = content {
            hash = hash.bytes(content.get().as_bytes());
        }
        self.hash = Some(hash);
        self.complete = role.is_none_or(|r| r == "user");
    }

    /// Adds a string-form input (one user message).
    pub(crate) fn push_text(&mut self, text: &str) {
        if self.complete {
            return;
        }
        self.hash = Some(
            self.hash
                .unwrap_or_else(Fnv::new)
                .bytes(b"turn:user:")
                .bytes(text.as_bytes()),
        );
        self.complete = true;
    }

    /// Whether the first user message is in.
    pub(crate) const fn complete(&self) -> bool {
        self.complete
    }

    /// The conversation's key: these turns with the system prompt, if any
    /// turn was seen.
    pub(crate) fn key(&self, system: Option<&RawValue>) -> Option<ConversationKey> {
        let turns = self.hash?;
        let mut hash = Fnv::new().bytes(b"turns:");
        if let Some(system) = system {
            hash = hash.bytes(system.get().as_bytes());
        }
        Some(ConversationKey(
            hash.bytes(b"|").bytes(&turns.0.to_le_bytes()).0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_session_comes_from_either_shape() {
        assert_eq!(
            claude_code_session("user_2f9c0a_account__session_6e1b6b3c-1f3a"),
            "6e1b6b3c-1f3a"
        );
        assert_eq!(
            claude_code_session(
                r#"{"device_id":"d1","account_uuid":"","session_id":"54c1eb09-bc4c"}"#
            ),
            "54c1eb09-bc4c"
        );
        assert_eq!(
            claude_code_session("someone@example.com"),
            "someone@example.com"
        );
        assert_eq!(claude_code_session("user_x_session_"), "user_x_session_");
    }

    #[test]
    fn keys_are_stable_and_mixed_per_client() {
        let a = ConversationKey::named("c1").unwrap();
        assert_eq!(Some(a), ConversationKey::named(" c1 "));
        assert_ne!(Some(a), ConversationKey::named("c2"));
        assert!(ConversationKey::named("  ").is_none());
        // A fixed value: the key must not change between builds or instances.
        assert_eq!(a.value(), ConversationKey::named("c1").unwrap().value());
        assert_ne!(a.mixed_with(b"k1"), a.mixed_with(b"k2"));
    }
}
