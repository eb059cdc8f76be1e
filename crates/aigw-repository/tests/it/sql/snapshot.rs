//! The snapshot load: every row the routing snapshot needs, in one consistent read.

use aigw_domain::{NewApiKey, NewProxy, Role};
use aigw_repository::SqlRepository;

use super::fixtures::{api_key_account, new_user, provider};

async fn loads_everything(repo: SqlRepository) {
    let empty = repo.load_snapshot().await.unwrap();
    assert!(empty.providers.is_empty() && empty.accounts.is_empty());

    let openai = provider(&repo, "openai").await;
    provider(&repo, "gemini").await;
    let proxy = repo
        .insert_proxy(&NewProxy::new("http://p:1"))
        .await
        .unwrap();
    let mut on_proxy = api_key_account(&openai, "a");
    on_proxy.proxy_id = Some(proxy.id);
    let a = repo.insert_account(&on_proxy).await.unwrap();
    let mut inactive = api_key_account(&openai, "b");
    inactive.is_active = false;
    repo.insert_account(&inactive).await.unwrap();
    let user = repo.insert_user(&new_user("u", Role::Admin)).await.unwrap();
    repo.insert_api_key(&NewApiKey {
        user_id: user.id,
        key_hash: "h".into(),
        key_prefix: "ak_".into(),
        label: None,
        is_active: true,
    })
    .await
    .unwrap();

    let snapshot = repo.load_snapshot().await.unwrap();
    assert_eq!(snapshot.providers.len(), 2);
    assert_eq!(snapshot.accounts.len(), 2, "inactive accounts are included");
    assert_eq!(snapshot.proxies.len(), 1);
    assert_eq!(snapshot.proxies[0].current_accounts, 1);
    assert_eq!(snapshot.api_keys.len(), 1);
    assert_eq!(snapshot.users.len(), 1);
    assert!(snapshot.model_mappings.is_empty());
    let loaded = snapshot.accounts.iter().find(|x| x.id == a.id).unwrap();
    assert_eq!(loaded, &a);
}

aigw_test_support::backend_tests!(loads_everything);
