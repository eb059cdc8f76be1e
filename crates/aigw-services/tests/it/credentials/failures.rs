//! Failed refreshes: typed errors, the failure recorded on the account, a cooldown shared by
//! every instance that ends with a new refresh token, and callers that cannot refresh at all.

use aigw_domain::{AuthData, NewAccount, OAuthCredentials, ProviderKind, Secret};
use aigw_mock_upstream::{Fault, MockUpstream};
use aigw_repository::SqlRepository;
use aigw_services::client_pool::{Egress, TransportErrorKind};
use aigw_services::credentials::{CredentialError, Unavailability};
use http::StatusCode;

use super::support::{
    account, backend_tests, grant, in_process_pair, provider, refresh_token, service, settings,
    stored,
};

const KIND: ProviderKind = ProviderKind::Antigravity;

async fn rejected_refresh_is_typed_recorded_and_cools_down(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    let provider = provider(&repo, "antigravity-test", KIND).await;
    let rt = refresh_token();
    let account = account(&repo, &provider, grant(&mock, "ya29.expiring", &rt, 60)).await;
    mock.oauth().revoke(&rt);
    let (state, peer_state) = in_process_pair();
    let one = service(&repo, state);

    let error = one
        .token(&account, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            CredentialError::Rejected { status, error: Some(code), .. }
                if *status == StatusCode::BAD_REQUEST && code == "invalid_grant"
        ),
        "{error:?}"
    );
    assert!(error.is_permanent());
    assert_eq!(error.retry_after(), Some(settings().rejected_cooldown));

    let (reloaded, _) = stored(&repo, &account).await;
    assert_eq!(reloaded.failure_count, 1);
    let message = reloaded.last_error_msg.unwrap();
    assert!(message.contains("invalid_grant"), "{message}");
    assert!(!message.contains(&rt), "no refresh token in {message}");

    // Cooling down, here and on another instance: no second call.
    let again = one
        .token(&account, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            CredentialError::CoolingDown {
                permanent: true,
                ..
            }
        ),
        "{again:?}"
    );
    let two = service(&repo, peer_state);
    let elsewhere = two
        .token(&account, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(
        matches!(elsewhere, CredentialError::CoolingDown { .. }),
        "{elsewhere:?}"
    );
    assert_eq!(mock.oauth().calls_for(&rt), 1);

    // An operator stores a new grant: the cooldown was for the old refresh token only.
    let new_rt = refresh_token();
    let renewed = AuthData::Oauth(Box::new(grant(&mock, "ya29.expiring", &new_rt, 60)));
    repo.update_account_credentials(account.id, &renewed)
        .await
        .unwrap();
    let mut updated = account.clone();
    updated.auth_data = renewed;
    let token = two.token(&updated, KIND, &Egress::Direct).await.unwrap();
    assert_eq!(
        Some(token.expose()),
        mock.oauth().last_access_token_for(&new_rt).as_deref()
    );
    assert_eq!(mock.oauth().calls_for(&new_rt), 1);
}

async fn unavailable_endpoint_is_retryable(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_oauth_fault(Fault::unavailable().once());
    let provider = provider(&repo, "antigravity-test", KIND).await;
    let rt = refresh_token();
    let account = account(&repo, &provider, grant(&mock, "ya29.expiring", &rt, 60)).await;
    let (state, _) = in_process_pair();
    let one = service(&repo, state);

    let error = one
        .token(&account, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            CredentialError::Unavailable {
                reason: Unavailability::Status(StatusCode::SERVICE_UNAVAILABLE),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_permanent());
    assert_eq!(error.retry_after(), Some(settings().transient_cooldown));
    let again = one
        .token(&account, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            CredentialError::CoolingDown {
                permanent: false,
                ..
            }
        ),
        "{again:?}"
    );
    assert_eq!(mock.oauth().calls_for(&rt), 1);

    // Dropping the cooldown (as an operator's edit does) lets the next call refresh.
    one.invalidate(account.id).await.unwrap();
    let token = one.token(&account, KIND, &Egress::Direct).await.unwrap();
    assert_eq!(
        Some(token.expose()),
        mock.oauth().last_access_token_for(&rt).as_deref()
    );
    assert_eq!(mock.oauth().calls_for(&rt), 2);
}

async fn unreachable_endpoint_is_a_network_failure(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let provider = provider(&repo, "antigravity-test", KIND).await;
    let mut grant = grant(&mock, "ya29.expiring", &refresh_token(), 60);
    grant.token_url = Some(format!("http://{closed}/oauth/token"));
    let account = account(&repo, &provider, grant).await;
    let (state, _) = in_process_pair();

    let error = service(&repo, state)
        .token(&account, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            CredentialError::Unavailable {
                reason: Unavailability::Network(TransportErrorKind::Connect),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_permanent());
}

async fn accounts_that_cannot_refresh_say_why(repo: SqlRepository) {
    let mock = MockUpstream::start().await.unwrap();
    let provider = provider(&repo, "antigravity-test", KIND).await;
    let (state, _) = in_process_pair();
    let one = service(&repo, state);

    let api_key = repo
        .insert_account(&NewAccount::new(
            provider.clone(),
            "key",
            AuthData::ApiKey {
                api_key: Secret::new("sk-not-oauth-0123456789"),
            },
        ))
        .await
        .unwrap();
    let error = one
        .token(&api_key, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(matches!(error, CredentialError::NotOAuth), "{error:?}");

    let no_refresh = account(
        &repo,
        &provider,
        OAuthCredentials {
            refresh_token: None,
            ..grant(&mock, "ya29.expired", "unused", -60)
        },
    )
    .await;
    let error = one
        .token(&no_refresh, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(
        matches!(error, CredentialError::NoRefreshToken),
        "{error:?}"
    );
    assert!(error.is_permanent());

    // Google's client is not built in: without one on the account or in the settings, the
    // refresh cannot be made.
    let no_client = account(
        &repo,
        &provider,
        OAuthCredentials {
            client_id: None,
            ..grant(&mock, "ya29.expiring", &refresh_token(), 60)
        },
    )
    .await;
    let error = one
        .token(&no_client, KIND, &Egress::Direct)
        .await
        .unwrap_err();
    assert!(
        matches!(error, CredentialError::ClientNotConfigured { kind: KIND }),
        "{error:?}"
    );
    assert_eq!(mock.oauth().total_calls(), 0);
}

backend_tests!(
    rejected_refresh_is_typed_recorded_and_cools_down,
    unavailable_endpoint_is_retryable,
    unreachable_endpoint_is_a_network_failure,
    accounts_that_cannot_refresh_say_why,
);
