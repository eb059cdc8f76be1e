//! Proxy assignment of new accounts against a real database: the limit of a
//! proxy holds however two creations that chose its last place interleave.

use aigw_domain::{AuthData, NewAccount, NewProxy, ProviderId, ProviderKind, Secret};
use aigw_services::proxy_assign::settle_new_account;
use aigw_test_support::{Fixture as _, Sqlite};

use crate::credentials::support::{provider, sql_options};

fn account(provider: &ProviderId, label: &str, proxy: aigw_domain::ProxyId) -> NewAccount {
    let mut new = NewAccount::new(
        provider.clone(),
        label,
        AuthData::ApiKey {
            api_key: Secret::new(format!("sk-{label}")),
        },
    );
    new.proxy_id = Some(proxy);
    new
}

/// Both creations chose the last place of the first proxy and only the
/// older one's check runs after both are in (the newer's ran before the
/// older was inserted, or their stamps tie): the account past the limit
/// still moves to the next proxy.
#[tokio::test]
async fn the_check_that_sees_the_excess_moves_the_account_past_the_limit() {
    Sqlite(sql_options())
        .run(|repo| async move {
            let openai = provider(&repo, "openai", ProviderKind::Openai).await;
            let mut first = NewProxy::new("http://127.0.0.1:3128");
            first.max_accounts = 1;
            first.priority = 10;
            let first = repo.insert_proxy(&first).await.unwrap();
            let mut second = NewProxy::new("http://127.0.0.1:3129");
            second.max_accounts = 1;
            let second = repo.insert_proxy(&second).await.unwrap();

            let older = repo
                .insert_account(&account(&openai, "older", first.id))
                .await
                .unwrap();
            let newer = repo
                .insert_account(&account(&openai, "newer", first.id))
                .await
                .unwrap();
            settle_new_account(&repo, older.id).await.unwrap();

            let older = repo.get_account(older.id).await.unwrap();
            let newer = repo.get_account(newer.id).await.unwrap();
            assert_eq!(
                older.proxy_id,
                Some(first.id),
                "the first in keeps its place"
            );
            assert_eq!(
                newer.proxy_id,
                Some(second.id),
                "the one past the limit moves"
            );
        })
        .await;
}
