//! One refresh per account however many callers want it at once: in one process, and across
//! two instances sharing the database and the shared state (in process, and Redis with
//! PostgreSQL).

use std::time::Duration;

use aigw_domain::ProviderKind;
use aigw_repository::SqlRepository;
use aigw_repository::state::SharedState;
use aigw_services::client_pool::Egress;
use aigw_services::credentials::CredentialService;
use aigw_test_support::{Fixture as _, Postgres};
use tokio::task::JoinSet;

use super::support::{
    account, backend_tests, grant, in_process_pair, provider, redis_pair, refresh_token, service,
    slow_mock, sql_options, stored,
};

const KIND: ProviderKind = ProviderKind::Antigravity;
const CALLERS: usize = 100;
/// Long enough for every caller to arrive while the refresh is in flight.
const ENDPOINT_LATENCY: Duration = Duration::from_millis(300);

/// Runs `CALLERS` concurrent `token()` calls on one expiring account, spread over `services`,
/// and checks that they all got the same new token from exactly one token-endpoint call.
async fn hundred_callers(repo: &SqlRepository, services: &[CredentialService]) {
    let mock = slow_mock(ENDPOINT_LATENCY).await;
    let provider = provider(repo, "antigravity-test", KIND).await;
    let rt = refresh_token();
    let account = account(repo, &provider, grant(&mock, "ya29.expiring", &rt, 60)).await;

    let mut callers = JoinSet::new();
    for i in 0..CALLERS {
        let service = services[i % services.len()].clone();
        let account = account.clone();
        callers.spawn(async move {
            service
                .token(&account, KIND, &Egress::Direct)
                .await
                .map(|token| token.expose().to_owned())
        });
    }
    let tokens: Vec<String> = callers
        .join_all()
        .await
        .into_iter()
        .map(|result| result.unwrap())
        .collect();

    assert_eq!(mock.oauth().calls_for(&rt), 1, "exactly one refresh");
    assert_eq!(
        services.iter().map(|s| s.refresh_calls()).sum::<u64>(),
        1,
        "one token-endpoint call among all instances"
    );
    let issued = mock.oauth().last_access_token_for(&rt).unwrap();
    assert_eq!(tokens.len(), CALLERS);
    assert!(
        tokens.iter().all(|t| *t == issued),
        "every caller got the new token"
    );
    let (_, grant) = stored(repo, &account).await;
    assert_eq!(
        grant.access_token.as_ref().map(|t| t.expose()),
        Some(issued.as_str())
    );

    for service in services {
        service.invalidate(account.id).await.unwrap();
    }
}

async fn concurrent_callers_share_one_refresh(repo: SqlRepository) {
    let (state, _) = in_process_pair();
    hundred_callers(&repo, &[service(&repo, state)]).await;
}

async fn two_instances_sharing_in_process_state_refresh_once(repo: SqlRepository) {
    let (a, b) = in_process_pair();
    hundred_callers(&repo, &[service(&repo, a), service(&repo, b)]).await;
}

backend_tests!(
    concurrent_callers_share_one_refresh,
    two_instances_sharing_in_process_state_refresh_once,
);

async fn two_instances(repo: SqlRepository, a: SharedState, b: SharedState) {
    hundred_callers(&repo, &[service(&repo, a), service(&repo, b)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_and_redis_refresh_once() {
    let Some((a, b)) = redis_pair().await else {
        return;
    };
    Postgres(sql_options())
        .run(move |repo| two_instances(repo, a, b))
        .await;
}
