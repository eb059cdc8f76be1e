//! The providers every gateway starts with, which the runtime seeds into
//! the database.

use aigw_domain::{AuthKind, NewProvider, ProviderId, ProviderKind};

use crate::upstream::default_base_url;

/// The providers every gateway starts with.
pub fn builtin_providers() -> Vec<NewProvider> {
    // The ids are literals that satisfy the id rules, so `new` cannot fail
    // for them; a failure would drop that provider rather than panic.
    let provider = |id: &str,
                    name: &str,
                    kind: ProviderKind,
                    base: &str,
                    auth: &[AuthKind],
                    models: &[&str]| {
        Some(NewProvider {
            id: ProviderId::new(id).ok()?,
            name: name.to_owned(),
            kind,
            base_url: base.to_owned(),
            fallback_base_urls: Vec::new(),
            supported_auth_types: auth.to_vec(),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            is_active: true,
            is_builtin: true,
            config: serde_json::Value::Object(serde_json::Map::new()),
            native_responses: false,
            selection_strategy: Default::default(),
            session_affinity: false,
        })
    };
    let mut antigravity = provider(
        "antigravity",
        "Google Antigravity",
        ProviderKind::Antigravity,
        default_base_url(ProviderKind::Antigravity),
        &[AuthKind::Oauth],
        &[
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-2.5-pro",
            "gemini-2.5-computer-use-preview-10-2025",
            "gemini-3-pro-preview",
            "gemini-3-pro-image-preview",
            "gemini-3-flash-preview",
            "gemini-claude-sonnet-4-5",
            "gemini-claude-sonnet-4-5-thinking",
            "gemini-claude-opus-4-5",
            "gemini-claude-opus-4-5-thinking",
        ],
    );
    if let Some(antigravity) = antigravity.as_mut() {
        antigravity.fallback_base_urls = vec![
            "https://daily-cloudcode-pa.sandbox.googleapis.com".to_owned(),
            "https://cloudcode-pa.googleapis.com".to_owned(),
        ];
    }
    // api.openai.com serves the Responses API: Responses clients go there natively.
    let mut openai = provider(
        "openai",
        "OpenAI",
        ProviderKind::Openai,
        default_base_url(ProviderKind::Openai),
        &[AuthKind::ApiKey, AuthKind::Bearer, AuthKind::Oauth],
        &[
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4o",
            "gpt-4o-mini",
            "o3",
            "o4-mini",
        ],
    );
    if let Some(openai) = openai.as_mut() {
        openai.native_responses = true;
    }
    [
        openai,
        provider(
            "anthropic",
            "Anthropic",
            ProviderKind::Anthropic,
            default_base_url(ProviderKind::Anthropic),
            &[AuthKind::ApiKey, AuthKind::Oauth],
            &["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"],
        ),
        provider(
            "gemini",
            "Google Gemini",
            ProviderKind::Gemini,
            default_base_url(ProviderKind::Gemini),
            &[AuthKind::ApiKey],
            &["gemini-2.0-flash", "gemini-2.5-pro", "gemini-2.5-flash"],
        ),
        antigravity,
        provider(
            "codex",
            "OpenAI Codex (ChatGPT plan)",
            ProviderKind::Codex,
            default_base_url(ProviderKind::Codex),
            &[AuthKind::Oauth],
            &[
                "gpt-5-codex",
                "gpt-5.1-codex",
                "gpt-5.1-codex-max",
                "gpt-5.1-codex-mini",
                "codex-mini-latest",
            ],
        ),
        provider(
            "glm",
            "Zhipu GLM",
            ProviderKind::Openai,
            "https://open.bigmodel.cn/api/paas/v4",
            &[AuthKind::ApiKey, AuthKind::Bearer],
            &["glm-4.6", "glm-4.5", "glm-4.5-air"],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}
