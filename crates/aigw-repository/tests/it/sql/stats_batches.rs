//! Stats batch stages are written at most once: writing a stage again with the same batch
//! id (what a retry does after a commit that succeeded but was reported as failed) adds
//! no row and no count; parts of a split stage are written once each, and not at all when
//! the whole stage was; old markers are deleted.

use aigw_domain::{
    AccountId, NewProxy, NewRequestLog, Page, ProviderId, ProxyId, ProxyStatsDelta,
    ProxyStatsFilter, RequestLogFilter, StatsBatchId,
};
use aigw_repository::{SqlRepository, StageWrite, StatsStage};
use chrono::{Duration, NaiveDate, Utc};

use super::fixtures::{api_key_account, pid, provider};

fn logs(n: usize) -> Vec<NewRequestLog> {
    let now = Utc::now();
    (0..n)
        .map(|i| NewRequestLog::new(now, format!("req-{i}"), 200, 10))
        .collect()
}

fn delta(proxy: ProxyId, day: NaiveDate, requests: i64) -> ProxyStatsDelta {
    ProxyStatsDelta {
        proxy_id: proxy,
        provider_id: Some(pid("openai")),
        date: day,
        request_count: requests,
        success_count: requests,
        error_count: 0,
        total_latency_ms: 10 * requests,
    }
}

async fn log_count(repo: &SqlRepository) -> i64 {
    repo.list_request_logs(&RequestLogFilter::default(), Page::new(1, 0))
        .await
        .unwrap()
        .total
}

async fn proxy_requests(repo: &SqlRepository) -> i64 {
    repo.list_proxy_stats(&ProxyStatsFilter::default(), Page::default())
        .await
        .unwrap()
        .data
        .iter()
        .map(|s| s.request_count)
        .sum()
}

async fn account(repo: &SqlRepository, provider: &ProviderId, name: &str) -> AccountId {
    repo.insert_account(&api_key_account(provider, name))
        .await
        .unwrap()
        .id
}

async fn usage(repo: &SqlRepository, id: AccountId) -> i64 {
    repo.get_account(id).await.unwrap().usage_count
}

async fn a_stage_written_twice_counts_once(repo: SqlRepository) {
    let provider = provider(&repo, "openai").await;
    let a = account(&repo, &provider, "a").await;
    let b = account(&repo, &provider, "b").await;
    let proxy = repo
        .insert_proxy(&NewProxy::new("http://p:1"))
        .await
        .unwrap()
        .id;
    let day = Utc::now().date_naive();
    let batch = StatsBatchId::new();
    let rows = logs(5);
    let deltas = [delta(proxy, day, 5)];
    let uses = [(a, 3), (b, 2)];

    let logs_stage = StatsStage::whole(batch, "logs");
    let proxy_stage = StatsStage::whole(batch, "proxy_stats");
    let usage_stage = StatsStage::whole(batch, "account_usage");
    assert!(!repo.stats_stage_written(&logs_stage).await.unwrap());
    // The first attempt commits; its caller may have been told it failed.
    assert_eq!(
        repo.insert_request_logs_once(&logs_stage, &rows)
            .await
            .unwrap(),
        StageWrite::Written(5)
    );
    assert_eq!(
        repo.upsert_proxy_stats_once(&proxy_stage, &deltas)
            .await
            .unwrap(),
        StageWrite::Written(())
    );
    assert_eq!(
        repo.record_accounts_usage_once(&usage_stage, &uses)
            .await
            .unwrap(),
        StageWrite::Written(vec![])
    );
    assert!(repo.stats_stage_written(&logs_stage).await.unwrap());
    // The retry, with the same batch id, writes nothing.
    assert_eq!(
        repo.insert_request_logs_once(&logs_stage, &rows)
            .await
            .unwrap(),
        StageWrite::AlreadyWritten
    );
    assert_eq!(
        repo.upsert_proxy_stats_once(&proxy_stage, &deltas)
            .await
            .unwrap(),
        StageWrite::AlreadyWritten
    );
    assert_eq!(
        repo.record_accounts_usage_once(&usage_stage, &uses)
            .await
            .unwrap(),
        StageWrite::AlreadyWritten
    );
    assert_eq!(log_count(&repo).await, 5);
    assert_eq!(proxy_requests(&repo).await, 5);
    assert_eq!((usage(&repo, a).await, usage(&repo, b).await), (3, 2));

    // Another batch with the same content is another batch: it counts.
    let other = StatsBatchId::new();
    repo.insert_request_logs_once(&StatsStage::whole(other, "logs"), &rows)
        .await
        .unwrap();
    repo.upsert_proxy_stats_once(&StatsStage::whole(other, "proxy_stats"), &deltas)
        .await
        .unwrap();
    repo.record_accounts_usage_once(&StatsStage::whole(other, "account_usage"), &uses)
        .await
        .unwrap();
    assert_eq!(log_count(&repo).await, 10);
    assert_eq!(proxy_requests(&repo).await, 10);
    assert_eq!((usage(&repo, a).await, usage(&repo, b).await), (6, 4));
}

async fn a_refused_stage_leaves_no_marker(repo: SqlRepository) {
    let batch = StatsBatchId::new();
    let stage = StatsStage::whole(batch, "proxy_stats");
    let day = Utc::now().date_naive();
    // No such proxy: the foreign key refuses the sums, and the marker goes with them.
    let error = repo
        .upsert_proxy_stats_once(&stage, &[delta(ProxyId::new(4242), day, 1)])
        .await
        .unwrap_err();
    assert!(
        matches!(error, aigw_repository::Error::ForeignKey { .. }),
        "{error:?}"
    );
    assert!(!repo.stats_stage_written(&stage).await.unwrap());
}

async fn parts_of_a_split_stage_count_once_and_not_after_the_whole(repo: SqlRepository) {
    let batch = StatsBatchId::new();
    let rows = logs(3);
    // The rows one by one, each retried once.
    for (i, row) in rows.iter().enumerate() {
        let part = StatsStage::part(batch, "logs", i);
        assert_eq!(part.name(), format!("logs/{i}"));
        let once = std::slice::from_ref(row);
        assert_eq!(
            repo.insert_request_logs_once(&part, once).await.unwrap(),
            StageWrite::Written(1)
        );
        assert_eq!(
            repo.insert_request_logs_once(&part, once).await.unwrap(),
            StageWrite::AlreadyWritten
        );
    }
    assert_eq!(log_count(&repo).await, 3);

    // A batch whose whole stage committed (though reported as failed), then split:
    // its parts are skipped.
    let whole = StatsBatchId::new();
    repo.insert_request_logs_once(&StatsStage::whole(whole, "logs"), &rows)
        .await
        .unwrap();
    let part = StatsStage::part(whole, "logs", 0);
    assert!(repo.stats_stage_written(&part).await.unwrap());
    assert_eq!(
        repo.insert_request_logs_once(&part, &rows[..1])
            .await
            .unwrap(),
        StageWrite::AlreadyWritten
    );
    assert_eq!(log_count(&repo).await, 6);
}

async fn usage_of_a_deleted_account_is_reported_and_the_rest_recorded(repo: SqlRepository) {
    let provider = provider(&repo, "openai").await;
    let a = account(&repo, &provider, "a").await;
    let gone = AccountId::new();
    let stage = StatsStage::whole(StatsBatchId::new(), "account_usage");
    assert_eq!(
        repo.record_accounts_usage_once(&stage, &[(gone, 1), (a, 4)])
            .await
            .unwrap(),
        StageWrite::Written(vec![gone])
    );
    assert_eq!(usage(&repo, a).await, 4);
    assert!(repo.get_account(a).await.unwrap().last_used_at.is_some());
}

async fn old_markers_are_deleted(repo: SqlRepository) {
    let stage = StatsStage::whole(StatsBatchId::new(), "logs");
    repo.insert_request_logs_once(&stage, &logs(1))
        .await
        .unwrap();
    assert_eq!(
        repo.delete_stats_stages_before(Utc::now() - Duration::days(1))
            .await
            .unwrap(),
        0,
        "a fresh marker is kept"
    );
    assert!(repo.stats_stage_written(&stage).await.unwrap());
    assert_eq!(
        repo.delete_stats_stages_before(Utc::now() + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert!(!repo.stats_stage_written(&stage).await.unwrap());
}

aigw_test_support::backend_tests!(
    a_stage_written_twice_counts_once,
    a_refused_stage_leaves_no_marker,
    parts_of_a_split_stage_count_once_and_not_after_the_whole,
    usage_of_a_deleted_account_is_reported_and_the_rest_recorded,
    old_markers_are_deleted,
);
