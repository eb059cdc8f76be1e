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

/// FNV-1a, 128 bits, over 16-byte words (then the tail byte by byte):
/// stable across processes and builds (unlike the standard library's
/// hasher), cheap on a long system prompt, and good enough to tell
/// conversations apart.
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
        let mut words = bytes.chunks_exact(16);
        for word in &mut words {
            let mut le = [0u8; 16];
            le.copy_from_slice(word);
            self.0 ^= u128::from_le_bytes(le);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
        for &b in words.remainder() {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
        self
    }
}

/// Leading messages whose content is kept for the key; the roles of any
/// more still count.
const KEPT_TURNS: usize = 4;

/// The first turns of a conversation as the first look at the body reads
/// them: every message up to and including the first user message. Only
/// where their contents lie is noted while parsing; they are hashed only if
/// the key is asked for ([`ConversationSource::key`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FirstTurns<'a> {
    roles: Option<Fnv>,
    contents: [Option<&'a str>; KEPT_TURNS],
    seen: usize,
    /// The first user message is in: later messages are not noted.
    complete: bool,
}

impl<'a> FirstTurns<'a> {
    /// Notes one leading message (a missing role counts as the user's).
    pub(crate) fn push(&mut self, role: Option<&str>, content: Option<&'a RawValue>) {
        if self.complete {
            return;
        }
        let roles = self.roles.unwrap_or_else(Fnv::new).bytes(b"role:");
        self.roles = Some(match role {
            Some(role) => roles.bytes(role.as_bytes()),
            None => roles,
        });
        if let Some(slot) = self.contents.get_mut(self.seen) {
            *slot = content.map(RawValue::get);
        }
        self.seen += 1;
        self.complete = role.is_none_or(|r| r == "user");
    }

    /// Notes a string-form input (one user message) that lies in the body.
    pub(crate) fn push_text(&mut self, text: &'a str) {
        self.push_user_text(Some(text), "");
    }

    /// Notes a string-form input that had to be unescaped (so it is not a
    /// slice of the body): its text is hashed now.
    pub(crate) fn push_unescaped_text(&mut self, text: &str) {
        self.push_user_text(None, text);
    }

    fn push_user_text(&mut self, in_body: Option<&'a str>, unescaped: &str) {
        if self.complete {
            return;
        }
        let roles = self.roles.unwrap_or_else(Fnv::new).bytes(b"role:user:");
        self.roles = Some(roles.bytes(unescaped.as_bytes()));
        if let Some(slot) = self.contents.get_mut(self.seen) {
            *slot = in_body;
        }
        self.seen += 1;
        self.complete = true;
    }

    /// Whether the first user message is in.
    pub(crate) const fn complete(&self) -> bool {
        self.complete
    }

    /// Where the key of these turns comes from, with the system prompt,
    /// as offsets into `body` (which every noted slice lies in); `None` if
    /// no turn was seen.
    pub(crate) fn source(
        &self,
        system: Option<&RawValue>,
        body: &[u8],
    ) -> Option<ConversationSource> {
        let roles = self.roles?;
        let mut spans = [None; KEPT_TURNS + 1];
        spans[0] = system.and_then(|r| Span::within(body, r.get()));
        for (slot, content) in spans.iter_mut().skip(1).zip(self.contents) {
            *slot = content.and_then(|c| Span::within(body, c));
        }
        Some(ConversationSource::FirstTurns {
            roles: roles.0,
            spans,
        })
    }
}

/// Where a slice of the body lies in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// The span of `part` inside `body`, if it lies there.
    fn within(body: &[u8], part: &str) -> Option<Self> {
        let base = body.as_ptr() as usize;
        let at = (part.as_ptr() as usize).checked_sub(base)?;
        let end = at.checked_add(part.len())?;
        (end <= body.len()).then_some(())?;
        Some(Self {
            start: u32::try_from(at).ok()?,
            len: u32::try_from(part.len()).ok()?,
        })
    }

    fn of<'b>(&self, body: &'b [u8]) -> &'b [u8] {
        let start = self.start as usize;
        body.get(start..start + self.len as usize)
            .unwrap_or_default()
    }
}

/// Where a request's conversation key comes from: an id it names (already
/// hashed), or its first turns, hashed only when the key is asked for, so
/// that requests to providers without session affinity never pay for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationSource {
    /// The client named its conversation.
    Named(ConversationKey),
    /// The system prompt and first turns: the roles' hash and where the
    /// contents lie in the body.
    FirstTurns {
        /// The hash of the leading messages' roles.
        roles: u128,
        /// The system prompt, then the contents of the leading messages.
        spans: [Option<Span>; KEPT_TURNS + 1],
    },
}

impl ConversationSource {
    /// The key, given the body the request was parsed from.
    pub fn key(&self, body: &[u8]) -> ConversationKey {
        match self {
            Self::Named(key) => *key,
            Self::FirstTurns { roles, spans } => {
                let mut hash = Fnv::new().bytes(b"turns:").bytes(&roles.to_le_bytes());
                for span in spans {
                    hash = hash.bytes(b"|");
                    if let Some(span) = span {
                        hash = hash.bytes(span.of(body));
                    }
                }
                ConversationKey(hash.0)
            }
        }
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
