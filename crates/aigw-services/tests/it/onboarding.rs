//! OAuth onboarding against the mock OAuth server: init stores a session and builds the
//! authorisation URL; the redirect's code and state complete the flow once (PKCE checked by
//! the mock); a reused, tampered or missing state is refused; each flow names the account
//! from its own source (Google userinfo, the Codex id token). In process and on Redis.
#![cfg(test)]

use std::collections::HashMap;

use aigw_domain::{AuthData, ProviderKind};
use aigw_mock_upstream::MockUpstream;
use aigw_repository::state::{InProcessState, SharedState, StateConfig};
use aigw_services::AdminError;
use aigw_services::client_pool::{ClientPool, Egress, PoolConfig};
use aigw_services::onboarding::{
    FlowType, InitRequest, OAuthApp, Onboarding, OnboardingError, OnboardingSettings,
};
use aigw_test_support::{redis_config, redis_state};
use bytes::Bytes;
use http_body_util::Full;

const CALLBACK: &str = "http://127.0.0.1:9/api/v1/oauth/callback";

#[derive(Clone, Copy, Debug)]
enum Store {
    InProcess,
    Redis,
}

async fn state(store: Store) -> Option<SharedState> {
    match store {
        Store::InProcess => Some(SharedState::InProcess(InProcessState::new(
            &StateConfig::in_process(),
        ))),
        Store::Redis => redis_state(&redis_config("aigw-onboarding-test-"))
            .await
            .map(SharedState::Redis),
    }
}

fn app(mock: &MockUpstream, base: OAuthApp) -> OAuthApp {
    OAuthApp {
        authorize_url: format!("{}/oauth/authorize", mock.base_url()),
        token_url: format!("{}/oauth/token", mock.base_url()),
        client_id: Some("test-client".to_owned()),
        redirect_uri: None,
        userinfo_url: base
            .userinfo_url
            .as_ref()
            .map(|_| format!("{}/oauth2/v1/userinfo", mock.base_url())),
        ..base
    }
}

fn onboarding(mock: &MockUpstream, state: SharedState) -> Onboarding {
    let settings = OnboardingSettings {
        redirect_uri: CALLBACK.to_owned(),
        google: app(mock, OAuthApp::google()),
        anthropic: app(mock, OAuthApp::anthropic()),
        openai: app(mock, OAuthApp::openai()),
        ..OnboardingSettings::default()
    };
    Onboarding::new(settings, state, pool())
}

fn pool() -> ClientPool {
    ClientPool::new(PoolConfig::default()).unwrap()
}

fn init(provider: &str, project: Option<&str>) -> InitRequest {
    InitRequest {
        provider: provider.to_owned(),
        flow_type: FlowType::Auto,
        project_id: project.map(str::to_owned),
        created_by: None,
    }
}

/// Follows the authorisation URL as a browser would and returns the redirect's query.
async fn approve(auth_url: &str) -> HashMap<String, String> {
    let request = http::Request::get(auth_url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = pool().send(&Egress::Direct, request).await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn onboarding_error(error: AdminError) -> OnboardingError {
    match error {
        AdminError::Onboarding(e) => e,
        other => panic!("expected an onboarding error, got {other:?}"),
    }
}

async fn a_flow_completes_once_and_keeps_the_project_where_the_provider_reads_it(store: Store) {
    let Some(state) = state(store).await else {
        return;
    };
    let mock = MockUpstream::start().await.unwrap();
    mock.oauth().set_email("dev@example.com");
    let onboarding = onboarding(&mock, state);
    let started = onboarding
        .init(init("antigravity", Some("my-project")))
        .await
        .unwrap();
    assert!(started.state.len() >= 43, "at least 256 bits of state");
    let url = url::Url::parse(&started.auth_url).unwrap();
    let query: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["redirect_uri"], CALLBACK);
    assert_eq!(query["access_type"], "offline");
    assert!(
        !query.contains_key("code_verifier"),
        "the verifier stays secret"
    );

    let back = approve(&started.auth_url).await;
    assert_eq!(back["state"], started.state);
    let done = onboarding
        .complete(Some(&back["code"]), Some(&back["state"]), None)
        .await
        .unwrap();
    let account = &done.account;
    assert_eq!(account.provider_id.as_str(), "antigravity");
    assert_eq!(account.label, "dev@example.com", "from Google userinfo");
    let AuthData::Oauth(creds) = &account.auth_data else {
        panic!("not an OAuth credential");
    };
    assert_eq!(creds.project_id.as_deref(), Some("my-project"));
    assert!(creds.refresh_token.is_some());
    assert_eq!(
        creds.access_token.as_ref().map(|t| t.expose().to_owned()),
        mock.oauth().last_access_token_for(&back["code"])
    );
    assert_eq!(account.expires_at, creds.expires_at);

    // The same state again: refused, and the token endpoint is not called.
    let calls = mock.oauth().total_calls();
    let again = onboarding
        .complete(Some(&back["code"]), Some(&back["state"]), None)
        .await
        .unwrap_err();
    assert!(matches!(
        onboarding_error(again),
        OnboardingError::InvalidState
    ));
    assert_eq!(mock.oauth().total_calls(), calls);
}

async fn a_tampered_or_missing_state_is_refused(store: Store) {
    let Some(state) = state(store).await else {
        return;
    };
    let mock = MockUpstream::start().await.unwrap();
    let onboarding = onboarding(&mock, state);
    let started = onboarding.init(init("codex", None)).await.unwrap();
    let back = approve(&started.auth_url).await;
    let mut tampered = back["state"].clone();
    tampered.push('x');
    let error = onboarding
        .complete(Some(&back["code"]), Some(&tampered), None)
        .await
        .unwrap_err();
    assert!(matches!(
        onboarding_error(error),
        OnboardingError::InvalidState
    ));
    let error = onboarding
        .complete(Some(&back["code"]), None, None)
        .await
        .unwrap_err();
    assert!(matches!(
        onboarding_error(error),
        OnboardingError::MissingField("state")
    ));
    assert_eq!(mock.oauth().total_calls(), 0, "no exchange was attempted");

    // The real state still works, through a pasted URL; the Codex id token names the account.
    let pasted = format!("{CALLBACK}?code={}&state={}", back["code"], back["state"]);
    let done = onboarding.complete_url(&pasted).await.unwrap();
    assert_eq!(done.account.provider_id.as_str(), "codex");
    assert_eq!(done.account.label, "mock-user@example.com");
    // The id token's ChatGPT account is kept: every Codex call names it.
    let aigw_domain::AuthData::Oauth(grant) = &done.account.auth_data else {
        panic!("a Codex account holds an OAuth grant");
    };
    assert_eq!(
        grant.account_id.as_deref(),
        Some(aigw_mock_upstream::DEFAULT_CHATGPT_ACCOUNT)
    );
}

async fn init_validates_its_input_and_a_denial_consumes_the_state(store: Store) {
    let Some(state) = state(store).await else {
        return;
    };
    let mock = MockUpstream::start().await.unwrap();
    let onboarding = onboarding(&mock, state);
    let error = onboarding
        .init(init("antigravity", None))
        .await
        .unwrap_err();
    assert!(matches!(
        onboarding_error(error),
        OnboardingError::MissingField("project_id")
    ));
    let error = onboarding.init(init("gemini", None)).await.unwrap_err();
    assert!(matches!(
        onboarding_error(error),
        OnboardingError::UnknownProvider(_)
    ));
    assert_eq!(onboarding.flows().len(), 3);

    let started = onboarding.init(init("claude", None)).await.unwrap();
    assert!(started.auth_url.contains("code=true"));
    assert_eq!(
        aigw_services::onboarding::Flow::Claude.kind(),
        ProviderKind::Anthropic
    );
    let error = onboarding
        .complete(None, Some(&started.state), Some("access_denied"))
        .await
        .unwrap_err();
    assert!(matches!(onboarding_error(error), OnboardingError::Denied(c) if c == "access_denied"));
    let error = onboarding
        .complete(Some("any"), Some(&started.state), None)
        .await
        .unwrap_err();
    assert!(matches!(
        onboarding_error(error),
        OnboardingError::InvalidState
    ));
    let error = onboarding.complete_url("not a url").await.unwrap_err();
    assert!(matches!(
        onboarding_error(error),
        OnboardingError::InvalidCallbackUrl
    ));
}

aigw_test_support::case_tests! {
    worker_threads = 2;
    in_process => aigw_test_support::Arg(super::Store::InProcess),
    redis => aigw_test_support::Arg(super::Store::Redis);
    tests [
    a_flow_completes_once_and_keeps_the_project_where_the_provider_reads_it,
    a_tampered_or_missing_state_is_refused,
    init_validates_its_input_and_a_denial_consumes_the_state,
    ]
}
