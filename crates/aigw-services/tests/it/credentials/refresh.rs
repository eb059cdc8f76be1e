//! Refreshing on demand: rotated refresh tokens, the Anthropic and OpenAI request shapes,
//! `force_refresh` after an upstream 401, and a refresh that outlives its cancelled caller.

use std::time::Duration;

use aigw_domain::ProviderKind;
use aigw_mock_upstream::{Endpoint, MockUpstream, RecordedRequest};
use aigw_repository::SqlRepository;
use aigw_services::client_pool::Egress;
use tokio::task::JoinSet;

use super::support::{
    account, backend_tests, grant, in_process_pair, provider, refresh_token, service, slow_mock,
    stored,
};

fn token_request_for(mock: &MockUpstream, refresh_token: &str) -> RecordedRequest {
    let requests: Vec<_> = mock
        .requests_to(Endpoint::OAuthToken)
        .into_iter()
        .filter(|r| r.account_key.as_deref() == Some(refresh_token))
        .collect();
    assert_eq!(requests.len(), 1, "one request presented {refresh_token}");
    requests.into_iter().next().unwrap()
}

async fn rotated_refresh_token_is_stored_and_used_next(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    mock.oauth().set_rotate_refresh_tokens(true);
    let kind = ProviderKind::Anthropic;
    let provider = provider(&repo, "anthropic-test", kind).await;
    let rt = refresh_token();
    let account = account(
        &repo,
        &provider,
        grant(&mock, "sk-ant-oat-expiring", &rt, 60),
    )
    .await;
    let (state, _) = in_process_pair();
    let one = service(&repo, state);

    let first = one.token(&account, kind, &Egress::Direct).await.unwrap();
    let (_, grant) = stored(&repo, &account).await;
    let rotated = grant.refresh_token.unwrap().expose().to_owned();
    assert_ne!(rotated, rt, "the rotated refresh token is stored");
    assert_eq!(
        grant.access_token.as_ref().map(|t| t.expose()),
        Some(first.expose())
    );

    // Anthropic's shape: JSON.
    let request = token_request_for(&mock, &rt);
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(
        request.json().unwrap(),
        serde_json::json!({
            "grant_type": "refresh_token",
            "refresh_token": rt,
            "client_id": "test-client-id",
        })
    );

    // The next refresh uses the rotated token, although the caller's copy of the account
    // still holds the old (now revoked) one.
    let second = one
        .force_refresh(&account, kind, &Egress::Direct, &first)
        .await
        .unwrap();
    assert_ne!(second, first);
    assert_eq!(mock.oauth().calls_for(&rt), 1);
    assert_eq!(mock.oauth().calls_for(&rotated), 1);
    let (_, grant) = stored(&repo, &account).await;
    let third_rt = grant.refresh_token.unwrap().expose().to_owned();
    assert!(third_rt != rt && third_rt != rotated);
}

async fn openai_refresh_is_a_form_with_the_scope(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    let kind = ProviderKind::Openai;
    let provider = provider(&repo, "codex-test", kind).await;
    let rt = refresh_token();
    let account = account(&repo, &provider, grant(&mock, "codex-expiring", &rt, 60)).await;
    let (state, _) = in_process_pair();

    let token = service(&repo, state)
        .token(&account, kind, &Egress::Direct)
        .await
        .unwrap();
    assert_eq!(
        Some(token.expose()),
        mock.oauth().last_access_token_for(&rt).as_deref()
    );
    let request = token_request_for(&mock, &rt);
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("client_id", "test-client-id"),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("scope", "openid profile email"),
        ]
    );
}

async fn force_refresh_after_a_401_refreshes_once(repo: SqlRepository) {
    let mock = slow_mock(Duration::from_millis(200)).await;
    let kind = ProviderKind::Antigravity;
    let provider = provider(&repo, "antigravity-test", kind).await;
    let rt = refresh_token();
    // Fresh by its expiry, but the upstream will refuse it.
    let account = account(&repo, &provider, grant(&mock, "ya29.refused", &rt, 3600)).await;
    let (a, b) = in_process_pair();
    let services = [service(&repo, a), service(&repo, b)];
    let refused = services[0]
        .token(&account, kind, &Egress::Direct)
        .await
        .unwrap();
    assert_eq!(refused.expose(), "ya29.refused");
    assert_eq!(mock.oauth().total_calls(), 0);

    // Fifty requests got a 401 with that token at once, on two instances.
    let mut callers = JoinSet::new();
    for i in 0..50 {
        let service = services[i % 2].clone();
        let account = account.clone();
        let refused = refused.clone();
        callers.spawn(async move {
            service
                .force_refresh(&account, kind, &Egress::Direct, &refused)
                .await
                .unwrap()
        });
    }
    let replacements = callers.join_all().await;
    let replacement = replacements[0].clone();
    assert_ne!(replacement, refused);
    assert!(replacements.iter().all(|t| *t == replacement));
    assert_eq!(
        mock.oauth().calls_for(&rt),
        1,
        "one refresh for all of them"
    );

    // A late caller with the refused token gets the replacement without another refresh.
    let late = services[1]
        .force_refresh(&account, kind, &Egress::Direct, &refused)
        .await
        .unwrap();
    assert_eq!(late, replacement);
    assert_eq!(mock.oauth().calls_for(&rt), 1);

    // A 401 on the replacement refreshes again.
    let next = services[0]
        .force_refresh(&account, kind, &Egress::Direct, &replacement)
        .await
        .unwrap();
    assert_ne!(next, replacement);
    assert_eq!(mock.oauth().calls_for(&rt), 2);
    let (_, grant) = stored(&repo, &account).await;
    assert_eq!(
        grant.access_token.as_ref().map(|t| t.expose()),
        Some(next.expose())
    );
}

async fn a_refresh_outlives_its_cancelled_caller(repo: SqlRepository) {
    let mock = slow_mock(Duration::from_millis(300)).await;
    mock.oauth().set_rotate_refresh_tokens(true);
    let kind = ProviderKind::Anthropic;
    let provider = provider(&repo, "anthropic-test", kind).await;
    let rt = refresh_token();
    let account = account(
        &repo,
        &provider,
        grant(&mock, "sk-ant-oat-expiring", &rt, 60),
    )
    .await;
    let (state, _) = in_process_pair();
    let one = service(&repo, state);

    // The client goes away while the token endpoint is still answering.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        one.token(&account, kind, &Egress::Direct),
    )
    .await;
    assert!(gave_up.is_err(), "the caller gave up before the answer");

    // The refresh finished anyway and stored the rotated grant: the next caller waits for it
    // and gets its token without a second call (which would fail: the old refresh token was
    // revoked by the rotation).
    let token = one.token(&account, kind, &Egress::Direct).await.unwrap();
    assert_eq!(mock.oauth().calls_for(&rt), 1);
    let (_, grant) = stored(&repo, &account).await;
    assert_eq!(
        grant.access_token.as_ref().map(|t| t.expose()),
        Some(token.expose())
    );
    assert_ne!(grant.refresh_token.unwrap().expose(), rt);
}

backend_tests!(
    rotated_refresh_token_is_stored_and_used_next,
    openai_refresh_is_a_form_with_the_scope,
    force_refresh_after_a_401_refreshes_once,
    a_refresh_outlives_its_cancelled_caller,
);
