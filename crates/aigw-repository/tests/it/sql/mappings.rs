//! Model mappings and quota patterns: CRUD, unique keys, ownership filters, cascades.

use aigw_domain::{
    MappingId, MappingOwnership, ModelMappingFilter, ModelMappingPatch, NewModelMapping,
    NewQuotaPattern, Page, QuotaPatternFilter, QuotaPatternId, QuotaPatternPatch, Role,
};
use aigw_repository::{Error, SqlRepository};
use chrono::Utc;

use super::fixtures::{api_key_account, new_user, pid, provider};

fn mapping(alias: &str, provider: &str) -> NewModelMapping {
    NewModelMapping {
        alias: alias.to_owned(),
        provider_id: pid(provider),
        model_name: format!("{alias}-upstream"),
        description: Some("note".to_owned()),
        enabled: true,
        priority: 0,
        owner_id: None,
    }
}

async fn mapping_crud(repo: SqlRepository) {
    provider(&repo, "openai").await;
    provider(&repo, "gemini").await;
    let created = repo
        .insert_model_mapping(&mapping("fast", "openai"))
        .await
        .unwrap();
    assert_eq!(created.alias, "fast");
    assert_eq!(created.model_name, "fast-upstream");
    assert_eq!(repo.get_model_mapping(created.id).await.unwrap(), created);
    assert_eq!(
        repo.get_model_mapping_by_alias("fast", None).await.unwrap(),
        created
    );

    let err = repo
        .insert_model_mapping(&mapping("fast", "gemini"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    let err = repo
        .insert_model_mapping(&mapping("x", "nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ForeignKey { .. }), "{err:?}");

    let renamed = repo
        .update_model_mapping(
            created.id,
            &ModelMappingPatch {
                alias: Some("quick".into()),
                provider_id: Some(pid("gemini")),
                description: Some(None),
                enabled: Some(false),
                ..ModelMappingPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.alias, "quick");
    assert_eq!(renamed.provider_id, pid("gemini"));
    assert_eq!(renamed.description, None);
    assert!(!renamed.enabled, "false can be set");
    assert_eq!(
        renamed.model_name, created.model_name,
        "omitted fields are kept"
    );
    assert!(
        repo.get_model_mapping_by_alias("fast", None)
            .await
            .unwrap_err()
            .is_not_found()
    );

    repo.delete_model_mapping(created.id).await.unwrap();
    assert!(matches!(
        repo.get_model_mapping(created.id).await,
        Err(Error::NotFound {
            entity: "model mapping",
            ..
        })
    ));
    assert!(
        repo.delete_model_mapping(MappingId::new(12345))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn mapping_visibility_and_order(repo: SqlRepository) {
    provider(&repo, "openai").await;
    let alice = repo
        .insert_user(&new_user("alice", Role::User))
        .await
        .unwrap()
        .id;
    let bob = repo
        .insert_user(&new_user("bob", Role::User))
        .await
        .unwrap()
        .id;
    for (alias, owner, priority, enabled) in [
        ("g-low", None, 0, true),
        ("g-high", None, 10, true),
        ("a-own", Some(alice), 5, true),
        ("b-own", Some(bob), 5, false),
    ] {
        let mut new = mapping(alias, "openai");
        new.owner_id = owner;
        new.priority = priority;
        new.enabled = enabled;
        repo.insert_model_mapping(&new).await.unwrap();
    }
    let aliases = async |filter: ModelMappingFilter| {
        repo.list_model_mappings(&filter, Page::default())
            .await
            .unwrap()
            .data
            .into_iter()
            .map(|m| m.alias)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        aliases(ModelMappingFilter::default()).await,
        ["g-high", "a-own", "b-own", "g-low"],
        "priority desc, then alias"
    );
    assert_eq!(
        aliases(ModelMappingFilter {
            ownership: Some(MappingOwnership::VisibleTo(alice)),
            ..ModelMappingFilter::default()
        })
        .await,
        ["g-high", "a-own", "g-low"]
    );
    assert_eq!(
        aliases(ModelMappingFilter {
            ownership: Some(MappingOwnership::Global),
            ..ModelMappingFilter::default()
        })
        .await,
        ["g-high", "g-low"]
    );
    assert_eq!(
        aliases(ModelMappingFilter {
            ownership: Some(MappingOwnership::OwnedBy(bob)),
            ..ModelMappingFilter::default()
        })
        .await,
        ["b-own"]
    );
    assert_eq!(
        aliases(ModelMappingFilter {
            enabled: Some(false),
            provider_id: Some(pid("openai")),
            ..ModelMappingFilter::default()
        })
        .await,
        ["b-own"]
    );
    // A user's own mappings go with the user.
    repo.delete_user(bob).await.unwrap();
    assert_eq!(aliases(ModelMappingFilter::default()).await.len(), 3);
}

/// An alias is unique per owner: users hold the same alias independently of each other
/// and of the global one, while one owner (or the global mappings) cannot hold it twice.
async fn aliases_are_unique_per_owner(repo: SqlRepository) {
    provider(&repo, "openai").await;
    let alice = repo
        .insert_user(&new_user("alice", Role::User))
        .await
        .unwrap()
        .id;
    let bob = repo
        .insert_user(&new_user("bob", Role::User))
        .await
        .unwrap()
        .id;
    let owned = |owner: Option<aigw_domain::UserId>, model: &str| {
        let mut new = mapping("fast", "openai");
        new.owner_id = owner;
        new.model_name = model.to_owned();
        new
    };
    for (owner, model) in [(Some(alice), "a"), (Some(bob), "b"), (None, "g")] {
        repo.insert_model_mapping(&owned(owner, model))
            .await
            .unwrap();
    }
    for owner in [Some(alice), None] {
        let err = repo
            .insert_model_mapping(&owned(owner, "again"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{owner:?}: {err:?}");
    }
    for (owner, model) in [(Some(alice), "a"), (Some(bob), "b"), (None, "g")] {
        let found = repo
            .get_model_mapping_by_alias("fast", owner)
            .await
            .unwrap();
        assert_eq!((found.owner_id, found.model_name.as_str()), (owner, model));
    }

    // Renaming into an alias the owner already holds collides; into another owner's
    // alias it does not.
    let other = repo
        .insert_model_mapping(&{
            let mut new = mapping("slow", "openai");
            new.owner_id = Some(alice);
            new
        })
        .await
        .unwrap();
    let rename = |alias: &str| ModelMappingPatch {
        alias: Some(alias.to_owned()),
        ..ModelMappingPatch::default()
    };
    let err = repo
        .update_model_mapping(other.id, &rename("fast"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    let mut bobs = mapping("slow", "openai");
    bobs.owner_id = Some(bob);
    repo.insert_model_mapping(&bobs).await.unwrap();
    // Making alice's `slow` global is fine; a second global `fast` is not.
    let global = repo
        .update_model_mapping(
            other.id,
            &ModelMappingPatch {
                owner_id: Some(None),
                ..ModelMappingPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(global.owner_id, None);
    let err = repo
        .update_model_mapping(global.id, &rename("fast"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}

async fn quota_crud(repo: SqlRepository) {
    let provider = provider(&repo, "antigravity").await;
    let account = repo
        .insert_account(&api_key_account(&provider, "q"))
        .await
        .unwrap()
        .id;
    let new = NewQuotaPattern {
        account_id: account,
        model: "gemini-2.5-pro".into(),
        est_request_limit: Some(250),
        est_token_limit: None,
        confidence: 0.1,
        sample_count: 1,
        last_exhausted_at: Some(chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap()),
        last_reset_at: None,
    };
    let created = repo.insert_quota_pattern(&new).await.unwrap();
    assert_eq!(created.est_request_limit, Some(250));
    assert_eq!(created.last_exhausted_at, new.last_exhausted_at);
    assert_eq!(
        repo.get_quota_pattern(account, "gemini-2.5-pro")
            .await
            .unwrap(),
        created
    );
    let err = repo.insert_quota_pattern(&new).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict { .. }),
        "unique (account, model): {err:?}"
    );

    let updated = repo
        .update_quota_pattern(
            created.id,
            &QuotaPatternPatch {
                est_token_limit: Some(Some(1_000_000)),
                confidence: Some(0.2),
                sample_count: Some(2),
                last_reset_at: Some(Some(Utc::now())),
                ..QuotaPatternPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.est_token_limit, Some(1_000_000));
    assert_eq!(
        updated.est_request_limit,
        Some(250),
        "omitted fields are kept"
    );
    assert!(updated.last_reset_at.is_some());

    let mut other = new.clone();
    other.model = "claude".into();
    repo.insert_quota_pattern(&other).await.unwrap();
    let listed = repo
        .list_quota_patterns(
            &QuotaPatternFilter {
                account_id: Some(account),
                model: None,
            },
            Page::default(),
        )
        .await
        .unwrap();
    let models: Vec<_> = listed.data.iter().map(|q| q.model.as_str()).collect();
    assert_eq!(models, ["claude", "gemini-2.5-pro"]);

    repo.delete_quota_pattern(created.id).await.unwrap();
    assert!(
        repo.delete_quota_pattern(QuotaPatternId::new(999))
            .await
            .unwrap_err()
            .is_not_found()
    );
    // Patterns go with their account.
    repo.delete_account(account).await.unwrap();
    let left = repo
        .list_quota_patterns(&QuotaPatternFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(left.total, 0);
}

aigw_test_support::backend_tests!(
    mapping_crud,
    mapping_visibility_and_order,
    aliases_are_unique_per_owner,
    quota_crud
);
