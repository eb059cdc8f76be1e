//! Accounts: CRUD with typed credentials, partial updates, filters, pagination, counters.

use std::sync::Arc;

use aigw_domain::{
    AccountFilter, AccountId, AccountPatch, AuthData, HealthStatus, OAuthCredentials, Page,
    ProviderId, Role, Secret, TimeRange,
};
use aigw_repository::{Error, SqlRepository};
use chrono::{Duration, Utc};
use serde_json::json;
use tokio::task::JoinSet;

use super::fixtures::{api_key_account, new_provider, new_user, pid, provider};

fn oauth(expires_in_secs: i64) -> AuthData {
    AuthData::Oauth(Box::new(OAuthCredentials {
        access_token: Some(Secret::new("ya29.access-token-0123456789")),
        refresh_token: Some(Secret::new("1//refresh-token")),
        // Whole seconds: the stored precision is microseconds, and the comparison below is exact.
        expires_at: Some(
            chrono::DateTime::from_timestamp(Utc::now().timestamp() + expires_in_secs, 0).unwrap(),
        ),
        token_url: Some("https://oauth2.example/token".into()),
        client_id: Some("client-id".into()),
        client_secret: Some(Secret::new("client-secret")),
        project_id: Some("project-1".into()),
        scope: Some("cloud-platform".into()),
        token_type: Some("Bearer".into()),
        email: Some("someone@example.com".into()),
        account_id: Some("chatgpt-account-1".into()),
    }))
}

/// A `codex` provider can be stored (the kind migration), an OAuth account moves to it with
/// its credential, proxy and counters untouched, and accounts still need an existing
/// provider (SQLite rebuilds the providers table for the kind: its foreign keys hold).
async fn an_account_moves_to_a_codex_provider(repo: SqlRepository) {
    let openai = provider(&repo, "openai").await;
    let mut codex = new_provider("codex", aigw_domain::ProviderKind::Codex);
    codex.supported_auth_types = vec![aigw_domain::AuthKind::Oauth];
    let codex = repo.insert_provider(&codex).await.unwrap();
    assert_eq!(codex.kind, aigw_domain::ProviderKind::Codex);
    assert_eq!(
        repo.get_provider(&codex.id).await.unwrap().kind,
        aigw_domain::ProviderKind::Codex
    );

    let account = repo
        .insert_account(&aigw_domain::NewAccount::new(
            openai.clone(),
            "chatgpt",
            oauth(3600),
        ))
        .await
        .unwrap();
    repo.record_account_usage(account.id, 3).await.unwrap();
    repo.set_account_provider(account.id, &codex.id)
        .await
        .unwrap();
    let moved = repo.get_account(account.id).await.unwrap();
    assert_eq!(moved.provider_id, codex.id);
    assert_eq!(moved.auth_data, account.auth_data);
    assert_eq!(moved.usage_count, 3);
    let missing = repo
        .set_account_provider(AccountId::new(), &codex.id)
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");

    let orphan = repo
        .insert_account(&api_key_account(&pid("no-such-provider"), "orphan"))
        .await;
    assert!(
        orphan.is_err(),
        "an account of a missing provider was stored"
    );
}

async fn crud(repo: SqlRepository) {
    let provider = provider(&repo, "antigravity").await;
    let owner = repo
        .insert_user(&new_user("owner", Role::Provider))
        .await
        .unwrap();
    let mut new = api_key_account(&provider, "acc");
    new.auth_data = oauth(3600);
    new.metadata = json!({"tier": "pro"});
    new.created_by = Some(owner.id);

    let created = repo.insert_account(&new).await.unwrap();
    assert_eq!(created.provider_id, provider);
    assert_eq!(created.label, "acc");
    assert_eq!(
        created.auth_data, new.auth_data,
        "credentials round-trip exactly"
    );
    assert_eq!(created.metadata, json!({"tier": "pro"}));
    assert!(created.is_active);
    assert_eq!(created.health_status, HealthStatus::Healthy);
    assert_eq!((created.usage_count, created.failure_count), (0, 0));
    assert_eq!(
        created.expires_at,
        new.auth_data.expires_at(),
        "expires_at defaults to the token's expiry"
    );
    assert_eq!(created.created_by, Some(owner.id));

    assert_eq!(repo.get_account(created.id).await.unwrap(), created);

    // PATCH semantics: only the given fields change; nothing is zeroed.
    repo.record_account_usage(created.id, 3).await.unwrap();
    let patched = repo
        .update_account(
            created.id,
            &AccountPatch {
                label: Some("renamed".into()),
                ..AccountPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.label, "renamed");
    assert_eq!(patched.usage_count, 3);
    assert_eq!(patched.auth_data, created.auth_data);
    assert_eq!(patched.metadata, created.metadata);
    assert_eq!(patched.created_at, created.created_at);
    assert_eq!(patched.expires_at, created.expires_at);

    let cleared = repo
        .update_account(
            created.id,
            &AccountPatch {
                expires_at: Some(None),
                is_active: Some(false),
                ..AccountPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.expires_at, None);
    assert!(!cleared.is_active);
    assert_eq!(cleared.label, "renamed");

    repo.delete_account(created.id).await.unwrap();
    let err = repo.get_account(created.id).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { entity: "account", ref id } if *id == created.id.to_string())
    );
    assert!(
        repo.delete_account(created.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        repo.update_account(created.id, &AccountPatch::default())
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn inactive_on_create_is_kept(repo: SqlRepository) {
    let provider = provider(&repo, "openai").await;
    let mut new = api_key_account(&provider, "off");
    new.is_active = false;
    let created = repo.insert_account(&new).await.unwrap();
    assert!(!created.is_active);
    assert!(!repo.get_account(created.id).await.unwrap().is_active);
}

async fn unknown_provider_is_a_foreign_key_error(repo: SqlRepository) {
    let err = repo
        .insert_account(&api_key_account(&pid("nope"), "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ForeignKey {
                context: "accounts.insert",
                ..
            }
        ),
        "{err:?}"
    );

    // And a provider with accounts cannot be deleted from under them.
    let provider = provider(&repo, "openai").await;
    repo.insert_account(&api_key_account(&provider, "a"))
        .await
        .unwrap();
    let err = repo.delete_provider(&provider).await.unwrap_err();
    assert!(matches!(err, Error::ForeignKey { .. }), "{err:?}");
}

async fn filters_and_pagination(repo: SqlRepository) {
    let openai = provider(&repo, "openai").await;
    let gemini = provider(&repo, "gemini").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut new = api_key_account(&openai, &format!("o{i}"));
        new.is_active = i != 4;
        ids.push(repo.insert_account(&new).await.unwrap().id);
    }
    let g = repo
        .insert_account(&api_key_account(&gemini, "g"))
        .await
        .unwrap();
    repo.set_account_health(ids[0], HealthStatus::Down)
        .await
        .unwrap();

    let all = repo
        .list_accounts(&AccountFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 6);
    assert_eq!(all.data[0].id, g.id, "newest first");

    let by_provider = AccountFilter {
        provider_id: Some(openai.clone()),
        ..AccountFilter::default()
    };
    let page1 = repo
        .list_accounts(&by_provider, Page::new(2, 0))
        .await
        .unwrap();
    let page3 = repo
        .list_accounts(&by_provider, Page::new(2, 4))
        .await
        .unwrap();
    assert_eq!((page1.total, page1.data.len()), (5, 2));
    assert_eq!((page3.total, page3.data.len()), (5, 1));
    assert_eq!((page3.limit, page3.offset), (2, 4));
    let labels: Vec<_> = page1.data.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(labels, ["o4", "o3"]);
    assert_eq!(page3.data[0].label, "o0");

    let active = repo
        .list_accounts(
            &AccountFilter {
                provider_id: Some(openai.clone()),
                is_active: Some(true),
                ..AccountFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(active.total, 4);
    assert!(
        active
            .data
            .iter()
            .all(|a| a.is_active && a.provider_id == openai)
    );

    let down = repo
        .list_accounts(
            &AccountFilter {
                health_status: Some(HealthStatus::Down),
                ..AccountFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(down.data.iter().map(|a| a.id).collect::<Vec<_>>(), [ids[0]]);

    // Date range: everything was created just now.
    let now = Utc::now();
    let future = repo
        .list_accounts(
            &AccountFilter {
                created: TimeRange {
                    from: Some(now + Duration::hours(1)),
                    to: None,
                },
                ..AccountFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(future.total, 0);
    let recent = repo
        .list_accounts(
            &AccountFilter {
                created: TimeRange {
                    from: Some(now - Duration::hours(1)),
                    to: Some(now + Duration::hours(1)),
                },
                ..AccountFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(recent.total, 6);

    let active_openai = repo.list_active_accounts(Some(&openai)).await.unwrap();
    assert_eq!(active_openai.len(), 4);
    let mut sorted: Vec<AccountId> = active_openai.iter().map(|a| a.id).collect();
    sorted.sort();
    assert_eq!(
        sorted,
        active_openai.iter().map(|a| a.id).collect::<Vec<_>>(),
        "ordered by id"
    );
    assert_eq!(repo.list_active_accounts(None).await.unwrap().len(), 5);
}

async fn health_counters(repo: SqlRepository) {
    let provider = provider(&repo, "openai").await;
    let id = repo
        .insert_account(&api_key_account(&provider, "a"))
        .await
        .unwrap()
        .id;

    assert_eq!(
        repo.record_account_failure(id, "429 from upstream")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        repo.record_account_failure(id, "503 from upstream")
            .await
            .unwrap(),
        2
    );
    let failed = repo.get_account(id).await.unwrap();
    assert_eq!(failed.failure_count, 2);
    assert_eq!(failed.last_error_msg.as_deref(), Some("503 from upstream"));
    assert!(failed.last_error_at.is_some());

    repo.set_account_health(id, HealthStatus::Degraded)
        .await
        .unwrap();
    repo.record_account_success(id).await.unwrap();
    let ok = repo.get_account(id).await.unwrap();
    assert_eq!(ok.failure_count, 0);
    assert_eq!(ok.health_status, HealthStatus::Healthy);
    assert!(ok.last_success_at.is_some());
    assert_eq!(
        ok.last_error_msg.as_deref(),
        Some("503 from upstream"),
        "history is kept"
    );

    repo.record_account_usage(id, 5).await.unwrap();
    let used = repo.get_account(id).await.unwrap();
    assert_eq!(used.usage_count, 5);
    assert!(used.last_used_at.is_some());

    let missing = AccountId::new();
    assert!(
        repo.record_account_usage(missing, 1)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        repo.record_account_failure(missing, "x")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        repo.record_account_success(missing)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn credentials_update_keeps_expiry_column_in_step(repo: SqlRepository) {
    let provider = provider(&repo, "antigravity").await;
    let mut new = api_key_account(&provider, "a");
    new.auth_data = oauth(60);
    let id = repo.insert_account(&new).await.unwrap().id;

    let refreshed = oauth(7200);
    repo.update_account_credentials(id, &refreshed)
        .await
        .unwrap();
    let account = repo.get_account(id).await.unwrap();
    assert_eq!(account.auth_data, refreshed);
    assert_eq!(account.expires_at, refreshed.expires_at());
}

/// 50 concurrent tasks × 20 increments: the counter is an SQL expression, so exactly 1,000.
async fn concurrent_usage_increments_are_exact(repo: SqlRepository) {
    let provider = provider(&repo, "openai").await;
    let id = repo
        .insert_account(&api_key_account(&provider, "hot"))
        .await
        .unwrap()
        .id;
    let repo = Arc::new(repo);
    let mut tasks = JoinSet::new();
    for _ in 0..50 {
        let repo = Arc::clone(&repo);
        tasks.spawn(async move {
            for _ in 0..20 {
                repo.record_account_usage(id, 1).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(repo.get_account(id).await.unwrap().usage_count, 1_000);
}

async fn secrets_are_not_in_debug_output(repo: SqlRepository) {
    let provider: ProviderId = provider(&repo, "openai").await;
    let account = repo
        .insert_account(&api_key_account(&provider, "dbg"))
        .await
        .unwrap();
    let debug = format!("{account:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
}

aigw_test_support::backend_tests!(
    crud,
    inactive_on_create_is_kept,
    unknown_provider_is_a_foreign_key_error,
    filters_and_pagination,
    health_counters,
    credentials_update_keeps_expiry_column_in_step,
    concurrent_usage_increments_are_exact,
    secrets_are_not_in_debug_output,
    an_account_moves_to_a_codex_provider,
);
