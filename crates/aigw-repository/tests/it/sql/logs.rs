//! Request logs: the 10,000-row batch insert, filters, pagination, retention.

use aigw_domain::{AccountId, ApiKeyId, NewRequestLog, Page, ProxyId, RequestLogFilter, TimeRange};
use aigw_repository::SqlRepository;
use chrono::{DateTime, Duration, Utc};

use super::fixtures::pid;

fn base_time() -> DateTime<Utc> {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn log(i: i64, account: AccountId) -> NewRequestLog {
    let mut log = NewRequestLog::new(
        base_time() + Duration::milliseconds(i),
        format!("req-{i}"),
        if i % 10 == 0 { 429 } else { 200 },
        i % 1000,
    );
    log.provider_id = Some(pid(if i % 2 == 0 { "openai" } else { "gemini" }));
    log.model = Some(format!("model-{}", i % 3));
    log.account_id = Some(account);
    log.input_tokens = Some(i);
    log.stream = i % 4 == 0;
    if i % 10 == 0 {
        log.error_kind = Some("rate_limited".into());
        log.error_message = Some("upstream said slow down".into());
    }
    log
}

async fn batch_of_ten_thousand(repo: SqlRepository) {
    let account = AccountId::new();
    let logs: Vec<_> = (0..10_000).map(|i| log(i, account)).collect();
    assert_eq!(repo.insert_request_logs(&logs).await.unwrap(), 10_000);

    let all = repo
        .list_request_logs(&RequestLogFilter::default(), Page::new(1, 0))
        .await
        .unwrap();
    assert_eq!(all.total, 10_000);
    assert_eq!(all.data[0].request_id, "req-9999", "newest first");

    // Every row arrived intact: the sum of a column matches.
    let mut seen = 0;
    let mut tokens = 0;
    let mut offset = 0;
    loop {
        let page = repo
            .list_request_logs(
                &RequestLogFilter::default(),
                Page::new(Page::MAX_LIMIT, offset),
            )
            .await
            .unwrap();
        if page.data.is_empty() {
            break;
        }
        seen += page.data.len();
        tokens += page
            .data
            .iter()
            .map(|l| l.input_tokens.unwrap())
            .sum::<i64>();
        offset += Page::MAX_LIMIT;
    }
    assert_eq!(seen, 10_000);
    assert_eq!(tokens, (0..10_000).sum::<i64>());
}

/// `log(i)` with every optional field set, to distinct values, on odd rows.
fn full_log(i: i64, account: AccountId, other: AccountId) -> NewRequestLog {
    let mut log = log(i, account);
    if i % 2 == 1 {
        log.api_key_id = Some(ApiKeyId::new());
        log.upstream_model = Some(format!("upstream-{i}"));
        log.proxy_id = Some(ProxyId::new(i));
        log.ttfb_ms = Some(i * 2);
        log.output_tokens = Some(i * 3);
        log.cached_tokens = Some(i * 5);
        log.attempt = 2;
        log.switched_from_account_id = Some(other);
        log.error_kind = Some(format!("kind-{i}"));
        log.error_message = Some(format!("message {i}"));
        log.fallback_base_url = Some(format!("https://fallback-{i}.example/v1"));
    }
    log
}

/// A batch of several multi-row statements and single-row ones for the
/// rest: every field of every row comes back as written.
async fn every_field_of_a_batch_round_trips(repo: SqlRepository) {
    let (account, other) = (AccountId::new(), AccountId::new());
    let logs: Vec<_> = (0..75).map(|i| full_log(i, account, other)).collect();
    assert_eq!(repo.insert_request_logs(&logs).await.unwrap(), 75);
    let mut stored = repo
        .list_request_logs(&RequestLogFilter::default(), Page::new(100, 0))
        .await
        .unwrap()
        .data;
    stored.sort_by_key(|l| l.created_at);
    let read: Vec<NewRequestLog> = stored
        .into_iter()
        .map(|l| NewRequestLog {
            created_at: l.created_at,
            request_id: l.request_id,
            api_key_id: l.api_key_id,
            provider_id: l.provider_id,
            model: l.model,
            upstream_model: l.upstream_model,
            account_id: l.account_id,
            proxy_id: l.proxy_id,
            status_code: l.status_code,
            latency_ms: l.latency_ms,
            ttfb_ms: l.ttfb_ms,
            input_tokens: l.input_tokens,
            output_tokens: l.output_tokens,
            cached_tokens: l.cached_tokens,
            attempt: l.attempt,
            switched_from_account_id: l.switched_from_account_id,
            stream: l.stream,
            error_kind: l.error_kind,
            error_message: l.error_message,
            fallback_base_url: l.fallback_base_url,
        })
        .collect();
    assert_eq!(read.len(), logs.len());
    for (read, written) in read.iter().zip(&logs) {
        assert_eq!(read, written);
    }
}

async fn round_trip_and_filters(repo: SqlRepository) {
    let account = AccountId::new();
    let other = AccountId::new();
    let mut logs: Vec<_> = (0..20).map(|i| log(i, account)).collect();
    let mut full = log(100, other);
    full.api_key_id = Some(ApiKeyId::new());
    full.upstream_model = Some("gpt-4.1-2025".into());
    full.proxy_id = Some(ProxyId::new(3));
    full.status_code = 0;
    full.ttfb_ms = Some(12);
    full.output_tokens = Some(34);
    full.cached_tokens = Some(5);
    full.attempt = 2;
    full.switched_from_account_id = Some(account);
    logs.push(full.clone());
    repo.insert_request_logs(&logs).await.unwrap();
    assert_eq!(repo.insert_request_logs(&[]).await.unwrap(), 0);

    let by_account = repo
        .list_request_logs(
            &RequestLogFilter {
                account_id: Some(other),
                ..RequestLogFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(by_account.total, 1);
    let stored = &by_account.data[0];
    assert_eq!(stored.created_at, full.created_at);
    assert_eq!(stored.api_key_id, full.api_key_id);
    assert_eq!(stored.upstream_model, full.upstream_model);
    assert_eq!(stored.proxy_id, full.proxy_id);
    assert_eq!(
        (
            stored.status_code,
            stored.ttfb_ms,
            stored.output_tokens,
            stored.cached_tokens
        ),
        (0, Some(12), Some(34), Some(5))
    );
    assert_eq!(
        (stored.attempt, stored.switched_from_account_id),
        (2, Some(account))
    );

    let openai_429 = repo
        .list_request_logs(
            &RequestLogFilter {
                provider_id: Some(pid("openai")),
                status_code: Some(429),
                ..RequestLogFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(openai_429.total, 2, "req-0 and req-10");
    assert!(
        openai_429
            .data
            .iter()
            .all(|l| l.error_kind.as_deref() == Some("rate_limited"))
    );

    let errors = repo
        .list_request_logs(
            &RequestLogFilter {
                errors_only: true,
                ..RequestLogFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(errors.total, 3, "two 429s and one status 0");

    let model = repo
        .list_request_logs(
            &RequestLogFilter {
                model: Some("model-1".into()),
                account_id: Some(account),
                ..RequestLogFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(model.total, 7, "i % 3 == 1 for i in 0..20");

    let window = repo
        .list_request_logs(
            &RequestLogFilter {
                time: TimeRange {
                    from: Some(base_time() + Duration::milliseconds(5)),
                    to: Some(base_time() + Duration::milliseconds(10)),
                },
                ..RequestLogFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    let ids: Vec<_> = window.data.iter().map(|l| l.request_id.as_str()).collect();
    assert_eq!(
        ids,
        ["req-9", "req-8", "req-7", "req-6", "req-5"],
        "from inclusive, to exclusive"
    );

    let removed = repo
        .delete_request_logs_before(base_time() + Duration::milliseconds(10))
        .await
        .unwrap();
    assert_eq!(removed, 10);
    let left = repo
        .list_request_logs(&RequestLogFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(left.total, 11);
}

/// A pruning step bigger than one delete statement removes every row of the step, oldest
/// first, and nothing newer.
async fn a_prune_step_spanning_several_statements(repo: SqlRepository) {
    let account = AccountId::new();
    let logs: Vec<_> = (0..1_000).map(|i| log(i, account)).collect();
    repo.insert_request_logs(&logs).await.unwrap();
    let cut = base_time() + Duration::milliseconds(700);

    assert_eq!(repo.prune_request_logs_before(cut, 600).await.unwrap(), 600);
    assert_eq!(repo.prune_request_logs_before(cut, 600).await.unwrap(), 100);
    assert_eq!(repo.prune_request_logs_before(cut, 600).await.unwrap(), 0);

    let left = repo
        .list_request_logs(&RequestLogFilter::default(), Page::new(1000, 0))
        .await
        .unwrap();
    assert_eq!(left.total, 300);
    assert!(left.data.iter().all(|l| l.created_at >= cut));
}

aigw_test_support::backend_tests!(
    batch_of_ten_thousand,
    every_field_of_a_batch_round_trips,
    round_trip_and_filters,
    a_prune_step_spanning_several_statements
);
