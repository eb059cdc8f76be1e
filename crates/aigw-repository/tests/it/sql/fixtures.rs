//! Builders for test rows.

use aigw_domain::{
    AuthData, AuthKind, NewAccount, NewProvider, NewUser, ProviderId, ProviderKind, Role, Secret,
};
use aigw_repository::SqlRepository;
use serde_json::json;

pub fn pid(id: &str) -> ProviderId {
    ProviderId::new(id).unwrap()
}

pub fn new_provider(id: &str, kind: ProviderKind) -> NewProvider {
    NewProvider {
        id: pid(id),
        name: format!("{id} name"),
        kind,
        base_url: format!("https://{id}.example"),
        fallback_base_urls: vec![],
        supported_auth_types: vec![AuthKind::ApiKey],
        models: vec![],
        is_active: true,
        is_builtin: false,
        config: json!({}),
        native_responses: false,
        selection_strategy: Default::default(),
        session_affinity: false,
    }
}

/// Creates an OpenAI-kind provider `id` and returns its id.
pub async fn provider(repo: &SqlRepository, id: &str) -> ProviderId {
    repo.insert_provider(&new_provider(id, ProviderKind::Openai))
        .await
        .unwrap()
        .id
}

pub fn api_key_account(provider: &ProviderId, label: &str) -> NewAccount {
    NewAccount::new(
        provider.clone(),
        label,
        AuthData::ApiKey {
            api_key: Secret::new(format!("sk-{label}-0123456789abcdef")),
        },
    )
}

pub fn new_user(username: &str, role: Role) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password_hash: format!("$argon2id$hash-of-{username}"),
        role,
        access_key_hash: None,
        access_key_prefix: None,
        is_active: true,
    }
}
