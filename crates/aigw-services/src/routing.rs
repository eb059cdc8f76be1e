//! Model routing: which providers may serve a model name, and under which
//! upstream model name.
//!
//! Order of precedence: an enabled model mapping for the alias (an owner's
//! own mapping before a global one), then the ordered prefix rules. Every
//! matching rule yields a candidate; the selector serves the request from the
//! first candidate that has a usable account.

use aigw_domain::ProviderId;
use serde::{Deserialize, Serialize};

/// One prefix rule: model names starting with `prefix` may go to `provider`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixRule {
    /// A model-name prefix; a trailing `*` is accepted and ignored
    /// (`gpt-*` and `gpt-` are the same rule). A `*` elsewhere stands for
    /// any run of characters: `*codex` matches every name containing `codex`.
    pub prefix: String,
    /// The provider id that serves matching models.
    pub provider: String,
}

impl PrefixRule {
    /// A rule sending models that start with `prefix` to `provider`.
    pub fn new(prefix: &str, provider: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            provider: provider.to_owned(),
        }
    }

    fn bare_prefix(&self) -> &str {
        self.prefix.strip_suffix('*').unwrap_or(&self.prefix)
    }

    /// Whether `model` falls under this rule.
    pub fn matches(&self, model: &str) -> bool {
        matches_prefix(self.bare_prefix(), model)
    }
}

/// Whether `model` starts with `pattern`, where each `*` in the pattern
/// stands for any run of characters (none included).
fn matches_prefix(pattern: &str, model: &str) -> bool {
    // The literal start, byte by byte up to the first `*`: most patterns have
    // none, and most rules fail on their first bytes (every request tries the
    // rules in order, so this runs a dozen times per request).
    let (p, m) = (pattern.as_bytes(), model.as_bytes());
    let mut at = 0;
    while let Some(&c) = p.get(at) {
        if c == b'*' {
            break;
        }
        if m.get(at) != Some(&c) {
            return false;
        }
        at += 1;
    }
    if at == p.len() {
        return true;
    }
    // `at` is the `*` (ASCII) in `pattern`, and `model` has the same bytes
    // before it, so both are cut on a character boundary.
    let mut rest = &model[at..];
    for piece in pattern[at + 1..].split('*') {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The default rule table: the original gateway's, with Anthropic and Gemini
/// added after the more specific Antigravity prefixes.
pub fn default_rules() -> Vec<PrefixRule> {
    [
        // Codex models (`gpt-5-codex`, `gpt-5.1-codex-max`, `codex-mini-latest`)
        // go to the ChatGPT Codex backend first, whatever their prefix.
        ("*codex", "codex"),
        ("gemini-2.5-", "antigravity"),
        ("gemini-3-", "antigravity"),
        ("gemini-claude-", "antigravity"),
        ("gpt-", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("o4", "openai"),
        ("glm-", "glm"),
        ("claude-", "anthropic"),
        ("gemini-", "gemini"),
    ]
    .into_iter()
    .map(|(prefix, provider)| PrefixRule::new(prefix, provider))
    .collect()
}

/// A compiled, immutable rule table.
#[derive(Debug, Clone, Default)]
pub struct RuleTable {
    rules: Vec<(String, ProviderId)>,
}

impl RuleTable {
    /// Compiles `rules`, dropping (and reporting) any whose provider id is
    /// not a valid id.
    pub fn new(rules: &[PrefixRule]) -> Result<Self, crate::StartError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            let provider = ProviderId::new(rule.provider.clone()).map_err(|_| {
                crate::StartError::InvalidRoutingRule {
                    prefix: rule.prefix.clone(),
                    provider: rule.provider.clone(),
                }
            })?;
            compiled.push((rule.bare_prefix().to_owned(), provider));
        }
        Ok(Self { rules: compiled })
    }

    /// The providers whose rules match `model`, in rule order, without duplicates.
    pub fn providers_for<'a>(
        &'a self,
        model: &'a str,
    ) -> impl Iterator<Item = &'a ProviderId> + 'a {
        self.rules
            .iter()
            .enumerate()
            .filter(move |(i, (prefix, provider))| {
                matches_prefix(prefix, model)
                    // A provider named by two matching rules is one candidate.
                    && !self.rules[..*i]
                        .iter()
                        .any(|(p, prev)| prev == provider && matches_prefix(p, model))
            })
            .map(|(_, (_, provider))| provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(table: &RuleTable, model: &str) -> Vec<String> {
        table
            .providers_for(model)
            .map(|p| p.as_str().to_owned())
            .collect()
    }

    #[test]
    fn default_rules_reproduce_the_original_table() {
        let table = RuleTable::new(&default_rules()).unwrap();
        assert_eq!(providers(&table, "gpt-4o"), ["openai"]);
        assert_eq!(providers(&table, "o3-mini"), ["openai"]);
        assert_eq!(providers(&table, "glm-4.6"), ["glm"]);
        assert_eq!(providers(&table, "claude-sonnet-4-5"), ["anthropic"]);
        assert_eq!(
            providers(&table, "gemini-2.5-pro"),
            ["antigravity", "gemini"]
        );
        assert_eq!(
            providers(&table, "gemini-claude-sonnet-4-5"),
            ["antigravity", "gemini"]
        );
        assert_eq!(providers(&table, "gemini-1.5-flash"), ["gemini"]);
        assert!(providers(&table, "llama-3").is_empty());
    }

    #[test]
    fn codex_models_go_to_codex_first() {
        let table = RuleTable::new(&default_rules()).unwrap();
        for model in ["gpt-5-codex", "gpt-5.1-codex", "gpt-5.1-codex-max"] {
            assert_eq!(providers(&table, model), ["codex", "openai"], "{model}");
        }
        assert_eq!(providers(&table, "codex-mini-latest"), ["codex"]);
        assert_eq!(providers(&table, "gpt-5.1"), ["openai"]);
    }

    #[test]
    fn the_byte_wise_start_agrees_with_splitting_on_stars() {
        fn by_pieces(pattern: &str, model: &str) -> bool {
            let mut pieces = pattern.split('*');
            let first = pieces.next().unwrap_or_default();
            let Some(mut rest) = model.strip_prefix(first) else {
                return false;
            };
            for piece in pieces {
                match rest.find(piece) {
                    Some(at) => rest = &rest[at + piece.len()..],
                    None => return false,
                }
            }
            true
        }
        let patterns = [
            "",
            "*",
            "**",
            "gpt-",
            "gpt-*-mini",
            "*codex",
            "é*",
            "gé*x",
            "gpt-4o",
            "a*b*c",
            "claude-",
        ];
        let models = [
            "",
            "gpt-",
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-5-codex",
            "éx",
            "gé-x",
            "gx",
            "abc",
            "acb",
            "claude-3",
            "g",
        ];
        for pattern in patterns {
            for model in models {
                assert_eq!(
                    matches_prefix(pattern, model),
                    by_pieces(pattern, model),
                    "{pattern:?} {model:?}"
                );
            }
        }
    }

    #[test]
    fn a_star_inside_a_pattern_matches_any_run() {
        assert!(matches_prefix("*codex", "codex-mini"));
        assert!(matches_prefix("*codex", "gpt-5-codex-max"));
        assert!(!matches_prefix("*codex", "gpt-5"));
        assert!(matches_prefix("gpt-*-mini", "gpt-4o-mini-2024"));
        assert!(!matches_prefix("gpt-*-mini", "gpt-4o"));
        assert!(matches_prefix("", "anything"));
    }

    #[test]
    fn trailing_star_is_optional_and_duplicates_collapse() {
        let table = RuleTable::new(&[
            PrefixRule::new("gpt-*", "openai"),
            PrefixRule::new("gpt-4", "openai"),
            PrefixRule::new("gpt-4", "azure"),
        ])
        .unwrap();
        assert_eq!(providers(&table, "gpt-4o"), ["openai", "azure"]);
    }
}
