//! Providers: CRUD, idempotent seeding, filters.

use aigw_domain::{AuthKind, Page, ProviderFilter, ProviderKind, ProviderPatch};
use aigw_repository::{Error, SqlRepository};
use serde_json::json;

use super::fixtures::new_provider;

async fn crud(repo: SqlRepository) {
    let mut new = new_provider("antigravity", ProviderKind::Antigravity);
    new.fallback_base_urls = vec!["https://a.example".into(), "https://b.example".into()];
    new.supported_auth_types = vec![AuthKind::Oauth];
    new.models = vec!["gemini-2.5-pro".into()];
    new.config = json!({"x": 1});
    let created = repo.insert_provider(&new).await.unwrap();
    assert_eq!(created.id, new.id);
    assert_eq!(created.kind, ProviderKind::Antigravity);
    assert_eq!(created.fallback_base_urls, new.fallback_base_urls);
    assert_eq!(created.supported_auth_types, vec![AuthKind::Oauth]);
    assert_eq!(created.models, new.models);
    assert_eq!(created.config, json!({"x": 1}));

    let fetched = repo.get_provider(&new.id).await.unwrap();
    assert_eq!(fetched, created);

    let patched = repo
        .update_provider(
            &new.id,
            &ProviderPatch {
                is_active: Some(false),
                ..ProviderPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!patched.is_active);
    assert_eq!(patched.models, created.models, "omitted fields are kept");
    assert!(patched.updated_at >= created.updated_at);
    assert_eq!(patched.created_at, created.created_at);

    repo.delete_provider(&new.id).await.unwrap();
    assert!(matches!(
        repo.get_provider(&new.id).await,
        Err(Error::NotFound {
            entity: "provider",
            ..
        })
    ));
    assert!(
        repo.delete_provider(&new.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn conflict_and_seed(repo: SqlRepository) {
    let new = new_provider("openai", ProviderKind::Openai);
    repo.insert_provider(&new).await.unwrap();
    let err = repo.insert_provider(&new).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert!(!repo.insert_provider_if_absent(&new).await.unwrap());
    let other = new_provider("gemini", ProviderKind::Gemini);
    assert!(repo.insert_provider_if_absent(&other).await.unwrap());
}

async fn list_and_filter(repo: SqlRepository) {
    for (id, kind, active) in [
        ("a", ProviderKind::Openai, true),
        ("b", ProviderKind::Openai, false),
        ("c", ProviderKind::Gemini, true),
    ] {
        let mut new = new_provider(id, kind);
        new.is_active = active;
        repo.insert_provider(&new).await.unwrap();
    }
    let all = repo
        .list_providers(&ProviderFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 3);
    let ids: Vec<_> = all.data.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert!(
        !all.data[1].is_active,
        "an explicit inactive flag is kept on insert"
    );

    let active_openai = repo
        .list_providers(
            &ProviderFilter {
                is_active: Some(true),
                kind: Some(ProviderKind::Openai),
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(active_openai.total, 1);
    assert_eq!(active_openai.data[0].id.as_str(), "a");

    let second = repo
        .list_providers(&ProviderFilter::default(), Page::new(1, 1))
        .await
        .unwrap();
    assert_eq!((second.total, second.data.len()), (3, 1));
    assert_eq!(second.data[0].id.as_str(), "b");
}

aigw_test_support::backend_tests!(crud, conflict_and_seed, list_and_filter);
