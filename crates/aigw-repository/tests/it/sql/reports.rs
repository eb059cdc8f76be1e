//! Usage aggregates: per day/provider/model and per account, on both backends; and the
//! request-log status-class filter.

use aigw_domain::{AccountId, NewRequestLog, Page, RequestLogFilter};
use aigw_repository::SqlRepository;
use aigw_repository::sql::UsageQuery;
use chrono::{DateTime, NaiveDate, Utc};

use super::fixtures::pid;

aigw_test_support::backend_tests!(
    usage_is_grouped_by_utc_day_provider_and_model,
    usage_is_grouped_by_account_and_filtered,
    status_class_filters_logs,
);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn entry(
    when: &str,
    provider: &str,
    model: &str,
    account: Option<AccountId>,
    status: i32,
    latency: i64,
    tokens: Option<(i64, i64)>,
) -> NewRequestLog {
    let mut log = NewRequestLog::new(at(when), format!("r-{when}-{model}"), status, latency);
    log.provider_id = Some(pid(provider));
    log.model = Some(model.to_owned());
    log.account_id = account;
    if let Some((input, output)) = tokens {
        log.input_tokens = Some(input);
        log.output_tokens = Some(output);
    }
    log
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

async fn usage_is_grouped_by_utc_day_provider_and_model(repo: SqlRepository) {
    let a = AccountId::new();
    repo.insert_request_logs(&[
        // The last microsecond of June 1st and the first of June 2nd fall on different days.
        entry(
            "2025-06-01T23:59:59.999999Z",
            "openai",
            "gpt-4o",
            Some(a),
            200,
            100,
            Some((10, 5)),
        ),
        entry(
            "2025-06-01T08:00:00Z",
            "openai",
            "gpt-4o",
            Some(a),
            429,
            300,
            None,
        ),
        entry(
            "2025-06-01T09:00:00Z",
            "openai",
            "gpt-4o",
            None,
            0,
            50,
            None,
        ),
        entry(
            "2025-06-02T00:00:00Z",
            "openai",
            "gpt-4o",
            Some(a),
            200,
            10,
            Some((1, 1)),
        ),
        entry(
            "2025-06-02T01:00:00Z",
            "gemini",
            "gemini-2.5-pro",
            Some(a),
            200,
            20,
            Some((2, 3)),
        ),
        // Outside the range.
        entry(
            "2025-05-31T23:59:59Z",
            "openai",
            "gpt-4o",
            Some(a),
            200,
            1,
            None,
        ),
        entry(
            "2025-06-03T00:00:00Z",
            "openai",
            "gpt-4o",
            Some(a),
            200,
            1,
            None,
        ),
    ])
    .await
    .unwrap();
    let query = UsageQuery {
        from: at("2025-06-01T00:00:00Z"),
        to: at("2025-06-03T00:00:00Z"),
        provider_id: None,
        account_id: None,
    };
    let rows = repo.usage_by_day(&query).await.unwrap();
    let keys: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.date,
                r.provider_id.as_ref().map(|p| p.as_str().to_owned()),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            (day("2025-06-02"), Some("gemini".to_owned())),
            (day("2025-06-02"), Some("openai".to_owned())),
            (day("2025-06-01"), Some("openai".to_owned())),
        ],
        "newest day first, then by provider"
    );
    let june1 = &rows[2].totals;
    assert_eq!(
        (
            june1.requests,
            june1.errors,
            june1.input_tokens,
            june1.output_tokens
        ),
        (3, 2, 10, 5),
        "a 429 and a status 0 are errors; missing tokens count as zero"
    );
    assert_eq!(june1.total_latency_ms, 450);
    assert!((june1.avg_latency_ms() - 150.0).abs() < 1e-9);

    let only_gemini = repo
        .usage_by_day(&UsageQuery {
            provider_id: Some(pid("gemini")),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(only_gemini.len(), 1);
    assert_eq!(only_gemini[0].model.as_deref(), Some("gemini-2.5-pro"));
    assert_eq!(only_gemini[0].totals.output_tokens, 3);
}

async fn usage_is_grouped_by_account_and_filtered(repo: SqlRepository) {
    let busy = AccountId::new();
    let quiet = AccountId::new();
    repo.insert_request_logs(&[
        entry(
            "2025-06-01T10:00:00Z",
            "openai",
            "gpt-4o",
            Some(busy),
            200,
            10,
            Some((1, 2)),
        ),
        entry(
            "2025-06-01T11:00:00Z",
            "openai",
            "gpt-4o",
            Some(busy),
            500,
            30,
            None,
        ),
        entry(
            "2025-06-01T12:00:00Z",
            "openai",
            "gpt-4o",
            Some(busy),
            200,
            20,
            Some((3, 4)),
        ),
        entry(
            "2025-06-01T09:00:00Z",
            "openai",
            "gpt-4o",
            Some(quiet),
            200,
            5,
            None,
        ),
        entry(
            "2025-06-01T09:30:00Z",
            "openai",
            "gpt-4o",
            None,
            503,
            5,
            None,
        ),
    ])
    .await
    .unwrap();
    let query = UsageQuery {
        from: at("2025-06-01T00:00:00Z"),
        to: at("2025-06-02T00:00:00Z"),
        provider_id: None,
        account_id: None,
    };
    let rows = repo.usage_by_account(&query).await.unwrap();
    assert_eq!(rows.len(), 2, "logs without an account are left out");
    assert_eq!(rows[0].account_id, busy, "most requests first");
    let t = rows[0].totals;
    assert_eq!(
        (
            t.requests,
            t.errors,
            t.input_tokens,
            t.output_tokens,
            t.total_latency_ms
        ),
        (3, 1, 4, 6, 60)
    );
    assert_eq!(rows[0].last_request_at, Some(at("2025-06-01T12:00:00Z")));
    assert_eq!(rows[1].account_id, quiet);

    let one = repo
        .usage_by_account(&UsageQuery {
            account_id: Some(quiet),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].account_id, quiet);
    let per_model = repo.usage_by_account_model(&query).await.unwrap();
    assert_eq!(per_model.len(), 2, "one model for each of two accounts");
    let busy_row = per_model.iter().find(|r| r.account_id == busy).unwrap();
    assert_eq!(busy_row.model.as_deref(), Some("gpt-4o"));
    assert_eq!((busy_row.totals.requests, busy_row.totals.errors), (3, 1));

    let empty = repo
        .usage_by_account(&UsageQuery {
            from: at("2025-07-01T00:00:00Z"),
            to: at("2025-07-02T00:00:00Z"),
            ..query
        })
        .await
        .unwrap();
    assert!(empty.is_empty());
}

async fn status_class_filters_logs(repo: SqlRepository) {
    repo.insert_request_logs(&[
        entry("2025-06-01T10:00:00Z", "openai", "m", None, 200, 1, None),
        entry("2025-06-01T10:00:01Z", "openai", "m", None, 404, 1, None),
        entry("2025-06-01T10:00:02Z", "openai", "m", None, 429, 1, None),
        entry("2025-06-01T10:00:03Z", "openai", "m", None, 500, 1, None),
        entry("2025-06-01T10:00:04Z", "openai", "m", None, 0, 1, None),
    ])
    .await
    .unwrap();
    let count = |class| {
        let repo = repo.clone();
        async move {
            repo.list_request_logs(
                &RequestLogFilter {
                    status_class: Some(class),
                    ..RequestLogFilter::default()
                },
                Page::default(),
            )
            .await
            .unwrap()
            .total
        }
    };
    assert_eq!(count(4).await, 2);
    assert_eq!(count(5).await, 1);
    assert_eq!(count(2).await, 1);
    assert_eq!(count(0).await, 1, "class 0: no response");
}
