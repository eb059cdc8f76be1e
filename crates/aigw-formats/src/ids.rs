//! Deterministic ids for what the upstream leaves unnamed (Gemini tool calls).
//!
//! Ids are derived from a per-response seed (the gateway's request id) and the
//! call's position, so the same upstream response always yields the same ids
//! (reproducible fixtures, stream and non-stream agree) while two responses
//! never share one.

use aigw_domain::Format;

/// An id for the `index`-th tool call of the response identified by `seed`,
/// shaped as the client format expects: `toolu_…` for Anthropic, `call_…` otherwise.
pub fn tool_call_id(client: Format, seed: &str, index: usize) -> String {
    let prefix = match client {
        Format::AnthropicMessages => "toolu_",
        Format::OpenAiChat | Format::OpenAiResponses | Format::Gemini | Format::Antigravity => {
            "call_"
        }
    };
    hashed(prefix, seed, index)
}

/// An id for the Responses output item at `output_index` of the response
/// identified by `seed`: `prefix` is the item type's (`msg`, `fc`, `rs`).
pub fn item_id(prefix: &str, seed: &str, output_index: usize) -> String {
    hashed(&format!("{prefix}_"), seed, output_index)
}

fn hashed(prefix: &str, seed: &str, index: usize) -> String {
    let mut hash = Fnv::new();
    hash.write(seed.as_bytes());
    hash.write(&[0xff]);
    hash.write(&(index as u64).to_le_bytes());
    let low = hash.finish();
    hash.write(b"hi");
    let high = hash.finish();
    format!("{prefix}{high:016x}{low:08x}", low = low & 0xffff_ffff)
}

/// 64-bit FNV-1a: tiny, stable across platforms and releases (unlike `DefaultHasher`).
struct Fnv(u64);

impl Fnv {
    const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    const fn finish(&self) -> u64 {
        self.0
    }
}

/// `id` as Anthropic accepts tool ids (`^[a-zA-Z0-9_-]+$`): other characters
/// become `_`. Deterministic, so a `tool_use` and its `tool_result` still match.
pub fn anthropic_tool_id(id: &str) -> std::borrow::Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.chars().all(ok) {
        return std::borrow::Cow::Borrowed(id);
    }
    if id.is_empty() {
        return std::borrow::Cow::Borrowed("toolu_empty");
    }
    std::borrow::Cow::Owned(id.chars().map(|c| if ok(c) { c } else { '_' }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = tool_call_id(Format::AnthropicMessages, "req-1", 0);
        assert_eq!(a, tool_call_id(Format::AnthropicMessages, "req-1", 0));
        assert_ne!(a, tool_call_id(Format::AnthropicMessages, "req-1", 1));
        assert_ne!(a, tool_call_id(Format::AnthropicMessages, "req-2", 0));
        assert!(
            a.starts_with("toolu_") && a.len() == "toolu_".len() + 24,
            "{a}"
        );
        assert!(tool_call_id(Format::OpenAiChat, "req-1", 0).starts_with("call_"));
        let msg = item_id("msg", "req-1", 0);
        assert!(
            msg.starts_with("msg_") && msg != item_id("msg", "req-1", 1),
            "{msg}"
        );
    }

    #[test]
    fn anthropic_ids_are_sanitised() {
        assert_eq!(anthropic_tool_id("toolu_01-A"), "toolu_01-A");
        assert_eq!(
            anthropic_tool_id("functions.get_weather:0"),
            "functions_get_weather_0"
        );
        assert_eq!(anthropic_tool_id(""), "toolu_empty");
    }
}
