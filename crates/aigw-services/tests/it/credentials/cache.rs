//! Where tokens come from: the in-process cache, the shared cache, the stored token, and a
//! refresh that is stored and cached.

use aigw_domain::{AuthData, ProviderKind};
use aigw_mock_upstream::{Endpoint, MockUpstream};
use aigw_repository::SqlRepository;
use aigw_services::client_pool::Egress;

use super::support::{
    account, backend_tests, grant, in_process_pair, in_secs, provider, refresh_token, service,
    stored,
};

const KIND: ProviderKind = ProviderKind::Antigravity;

async fn fresh_token_is_served_without_refresh(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    let provider = provider(&repo, "antigravity-test", KIND).await;
    let rt = refresh_token();
    let account = account(&repo, &provider, grant(&mock, "ya29.fresh-0001", &rt, 3600)).await;
    let (state, peer_state) = in_process_pair();
    let one = service(&repo, state);

    for _ in 0..3 {
        let token = one.token(&account, KIND, &Egress::Direct).await.unwrap();
        assert_eq!(token.expose(), "ya29.fresh-0001");
        assert_eq!(token.expires_at(), account.auth_data.expires_at());
    }

    // Another instance holding an outdated copy of the account finds the stored token in the
    // database instead of refreshing.
    let mut outdated = account.clone();
    outdated.auth_data = AuthData::Oauth(Box::new(grant(&mock, "ya29.old", &rt, -10)));
    let two = service(&repo, peer_state);
    let token = two.token(&outdated, KIND, &Egress::Direct).await.unwrap();
    assert_eq!(token.expose(), "ya29.fresh-0001");

    assert_eq!(mock.oauth().total_calls(), 0);
    assert_eq!(one.refresh_calls() + two.refresh_calls(), 0);
}

async fn expiring_token_is_refreshed_stored_and_cached(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    let provider = provider(&repo, "antigravity-test", KIND).await;
    let rt = refresh_token();
    // One minute left: inside the default five-minute skew.
    let account = account(&repo, &provider, grant(&mock, "ya29.expiring", &rt, 60)).await;
    let (state, peer_state) = in_process_pair();
    let one = service(&repo, state);

    let token = one.token(&account, KIND, &Egress::Direct).await.unwrap();
    assert_ne!(token.expose(), "ya29.expiring");
    assert_eq!(
        Some(token.expose()),
        mock.oauth().last_access_token_for(&rt).as_deref()
    );
    assert_eq!(mock.oauth().calls_for(&rt), 1);
    let expires_at = token.expires_at().unwrap();
    assert!(expires_at > in_secs(3000), "{expires_at}");

    // Stored: auth_data and the expires_at column, the rest of the grant kept.
    let (reloaded, grant) = stored(&repo, &account).await;
    assert_eq!(
        grant.access_token.as_ref().map(|t| t.expose()),
        Some(token.expose())
    );
    assert_eq!(grant.expires_at, Some(expires_at));
    assert_eq!(reloaded.expires_at, Some(expires_at));
    assert_eq!(
        grant.refresh_token.as_ref().map(|t| t.expose()),
        Some(rt.as_str()),
        "Google returns no new refresh token: the old one stays"
    );
    assert_eq!(grant.project_id.as_deref(), Some("test-project"));
    assert_eq!(grant.client_id.as_deref(), Some("test-client-id"));

    // Google's shape: a form with the account's client.
    let requests = mock.requests_to(Endpoint::OAuthToken);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("client_id", "test-client-id"),
            ("client_secret", "test-client-secret"),
            ("refresh_token", rt.as_str()),
            ("grant_type", "refresh_token"),
        ]
    );

    // Cached here (even for the caller's outdated copy of the account) and shared.
    let again = one.token(&account, KIND, &Egress::Direct).await.unwrap();
    assert_eq!(again, token);
    let two = service(&repo, peer_state);
    let shared = two.token(&account, KIND, &Egress::Direct).await.unwrap();
    assert_eq!(shared, token);
    assert_eq!(mock.oauth().calls_for(&rt), 1);
    assert_eq!(one.refresh_calls() + two.refresh_calls(), 1);
}

async fn refresh_goes_through_the_accounts_proxy(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    let proxy = aigw_mock_upstream::MockProxy::start(None).await.unwrap();
    let egress = Egress::for_proxy_url(Some(&proxy.url())).unwrap();
    let provider = provider(&repo, "antigravity-test", KIND).await;
    let rt = refresh_token();
    let account = account(&repo, &provider, grant(&mock, "ya29.expiring", &rt, 60)).await;
    let (state, _) = in_process_pair();

    let token = service(&repo, state)
        .token(&account, KIND, &egress)
        .await
        .unwrap();
    assert_eq!(
        Some(token.expose()),
        mock.oauth().last_access_token_for(&rt).as_deref()
    );
    assert_eq!(proxy.tunnels(), 1, "the refresh went through the proxy");
    assert_eq!(
        proxy.targets(),
        vec![mock.addr().to_string()],
        "to the token endpoint"
    );
}

/// An operator replaces an account's credential while a request on a peer still holds the
/// snapshot with the old one: that request may use the old token, but once the peers hold the
/// new snapshot, no instance serves the old token from either cache.
async fn a_replaced_credential_is_not_served_after_the_new_snapshot_arrives(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    let provider = provider(&repo, "antigravity-test", KIND).await;
    let old = account(
        &repo,
        &provider,
        grant(&mock, "ya29.old-credential", &refresh_token(), 3600),
    )
    .await;
    let (state, peer_state) = in_process_pair();
    let (one, two) = (service(&repo, state), service(&repo, peer_state));
    for instance in [&one, &two] {
        let token = instance.token(&old, KIND, &Egress::Direct).await.unwrap();
        assert_eq!(token.expose(), "ya29.old-credential");
    }

    // The operator's write on instance one; instance two hears of it and forgets the account.
    let new_grant = AuthData::Oauth(Box::new(grant(
        &mock,
        "ya29.new-credential",
        &refresh_token(),
        3600,
    )));
    repo.update_account_credentials(old.id, &new_grant)
        .await
        .unwrap();
    one.invalidate(old.id).await.unwrap();
    two.forget(old.id);
    // A request on instance two that loaded the old snapshot before the rebuild.
    let late = two.token(&old, KIND, &Egress::Direct).await.unwrap();
    assert_eq!(late.expose(), "ya29.old-credential");

    let (new, _) = stored(&repo, &old).await;
    for instance in [&two, &one, &two] {
        let token = instance.token(&new, KIND, &Egress::Direct).await.unwrap();
        assert_eq!(token.expose(), "ya29.new-credential");
    }
    assert_eq!(mock.oauth().total_calls(), 0);
}

backend_tests!(
    a_replaced_credential_is_not_served_after_the_new_snapshot_arrives,
    fresh_token_is_served_without_refresh,
    expiring_token_is_refreshed_stored_and_cached,
    refresh_goes_through_the_accounts_proxy,
);
