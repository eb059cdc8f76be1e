//! Users and API keys: CRUD, unique keys, lookups by hash, cascades, filters.

use aigw_domain::{
    AccountPatch, ApiKeyFilter, ApiKeyId, ApiKeyPatch, NewApiKey, Page, Role, UserFilter, UserId,
    UserPatch,
};
use aigw_repository::{Error, SqlRepository};

use super::fixtures::{api_key_account, new_user, provider};

fn new_key(user: UserId, hash: &str) -> NewApiKey {
    NewApiKey {
        user_id: user,
        key_hash: hash.to_owned(),
        key_prefix: "ak_0123456".to_owned(),
        label: Some("ci".to_owned()),
        is_active: true,
    }
}

async fn user_crud(repo: SqlRepository) {
    let mut new = new_user("alice", Role::Admin);
    new.access_key_hash = Some("hash-of-uk".into());
    new.access_key_prefix = Some("uk_abcd".into());
    let created = repo.insert_user(&new).await.unwrap();
    assert_eq!(created.username, "alice");
    assert_eq!(created.role, Role::Admin);
    assert_eq!(created.password_hash, new.password_hash);
    assert_eq!(repo.get_user(created.id).await.unwrap(), created);
    assert_eq!(
        repo.get_user_by_username("alice").await.unwrap().id,
        created.id
    );
    assert_eq!(
        repo.get_user_by_access_key_hash("hash-of-uk")
            .await
            .unwrap()
            .id,
        created.id
    );
    assert_eq!(repo.count_users().await.unwrap(), 1);

    let err = repo
        .insert_user(&new_user("alice", Role::User))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                context: "users.insert",
                ..
            }
        ),
        "{err:?}"
    );

    let patched = repo
        .update_user(
            created.id,
            &UserPatch {
                role: Some(Role::User),
                access_key_hash: Some(None),
                access_key_prefix: Some(None),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.role, Role::User);
    assert_eq!(patched.access_key_hash, None);
    assert_eq!(
        patched.password_hash, created.password_hash,
        "omitted fields are kept"
    );
    assert!(patched.is_active);
    assert!(
        repo.get_user_by_access_key_hash("hash-of-uk")
            .await
            .unwrap_err()
            .is_not_found()
    );

    repo.delete_user(created.id).await.unwrap();
    assert!(matches!(
        repo.get_user(created.id).await,
        Err(Error::NotFound { entity: "user", .. })
    ));
    assert!(
        repo.delete_user(created.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        repo.get_user_by_username("alice")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn user_filters(repo: SqlRepository) {
    for (name, role, active) in [
        ("a", Role::Admin, true),
        ("b", Role::User, true),
        ("c", Role::User, false),
        ("d", Role::Provider, true),
    ] {
        let mut new = new_user(name, role);
        new.is_active = active;
        repo.insert_user(&new).await.unwrap();
    }
    let users = repo
        .list_users(
            &UserFilter {
                role: Some(Role::User),
                is_active: None,
            },
            Page::default(),
        )
        .await
        .unwrap();
    let names: Vec<_> = users.data.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["c", "b"], "newest first");
    assert!(!users.data[0].is_active, "an inactive user can be created");
    let active = repo
        .list_users(
            &UserFilter {
                role: None,
                is_active: Some(true),
            },
            Page::new(2, 2),
        )
        .await
        .unwrap();
    assert_eq!((active.total, active.data.len()), (3, 1));
    assert_eq!(active.data[0].username, "a");
}

async fn api_key_crud(repo: SqlRepository) {
    let user = repo
        .insert_user(&new_user("bob", Role::User))
        .await
        .unwrap()
        .id;
    let key = repo.insert_api_key(&new_key(user, "h1")).await.unwrap();
    assert_eq!((key.user_id, key.key_hash.as_str()), (user, "h1"));
    assert_eq!(key.label.as_deref(), Some("ci"));
    assert!(key.is_active && key.last_used_at.is_none());
    assert_eq!(repo.get_api_key(key.id).await.unwrap(), key);
    assert_eq!(repo.get_api_key_by_hash("h1").await.unwrap().id, key.id);

    let err = repo.insert_api_key(&new_key(user, "h1")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                context: "api_keys.insert",
                ..
            }
        ),
        "{err:?}"
    );
    let err = repo
        .insert_api_key(&new_key(UserId::new(), "h2"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ForeignKey { .. }), "{err:?}");

    repo.touch_api_key(key.id).await.unwrap();
    let revoked = repo
        .update_api_key(
            key.id,
            &ApiKeyPatch {
                is_active: Some(false),
                ..ApiKeyPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!revoked.is_active);
    assert!(revoked.last_used_at.is_some());
    assert_eq!(
        revoked.label.as_deref(),
        Some("ci"),
        "omitted fields are kept"
    );

    repo.delete_api_key(key.id).await.unwrap();
    assert!(matches!(
        repo.get_api_key(key.id).await,
        Err(Error::NotFound {
            entity: "api key",
            ..
        })
    ));
    assert!(
        repo.touch_api_key(ApiKeyId::new())
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        repo.get_api_key_by_hash("h1")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn api_key_filters_and_cascade(repo: SqlRepository) {
    let u1 = repo
        .insert_user(&new_user("u1", Role::User))
        .await
        .unwrap()
        .id;
    let u2 = repo
        .insert_user(&new_user("u2", Role::User))
        .await
        .unwrap()
        .id;
    let k1 = repo.insert_api_key(&new_key(u1, "a")).await.unwrap().id;
    let mut off = new_key(u1, "b");
    off.is_active = false;
    repo.insert_api_key(&off).await.unwrap();
    repo.insert_api_key(&new_key(u2, "c")).await.unwrap();

    let u1_active = repo
        .list_api_keys(
            &ApiKeyFilter {
                user_id: Some(u1),
                is_active: Some(true),
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        u1_active.data.iter().map(|k| k.id).collect::<Vec<_>>(),
        [k1]
    );
    let all = repo
        .list_api_keys(&ApiKeyFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 3);

    // Deleting a user deletes their keys; accounts they created stay, unowned.
    let provider = provider(&repo, "openai").await;
    let mut account = api_key_account(&provider, "owned");
    account.created_by = Some(u1);
    let account = repo.insert_account(&account).await.unwrap().id;
    repo.delete_user(u1).await.unwrap();
    let left = repo
        .list_api_keys(&ApiKeyFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(left.total, 1);
    assert_eq!(repo.get_account(account).await.unwrap().created_by, None);
    // And the account can still be patched.
    repo.update_account(account, &AccountPatch::default())
        .await
        .unwrap();
}

aigw_test_support::backend_tests!(
    user_crud,
    user_filters,
    api_key_crud,
    api_key_filters_and_cascade
);
