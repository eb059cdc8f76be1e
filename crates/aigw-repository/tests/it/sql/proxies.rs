//! The proxy pool: CRUD, URL conflicts, health, load recount, daily stats upserts.

use std::sync::Arc;

use aigw_domain::{
    AccountPatch, HealthStatus, NewProxy, Page, ProxyFilter, ProxyId, ProxyPatch, ProxyProtocol,
    ProxyStatsDelta, ProxyStatsFilter,
};
use aigw_repository::{Error, SqlRepository};
use chrono::NaiveDate;
use tokio::task::JoinSet;

use super::fixtures::{api_key_account, pid, provider};

async fn crud(repo: SqlRepository) {
    let mut new = NewProxy::new("socks5://user:secret@10.0.0.1:1080");
    new.max_accounts = 3;
    new.priority = 7;
    let created = repo.insert_proxy(&new).await.unwrap();
    assert_eq!(created.url.expose(), "socks5://user:secret@10.0.0.1:1080");
    assert_eq!(
        created.protocol,
        ProxyProtocol::Socks5,
        "taken from the scheme"
    );
    assert_eq!(
        (created.max_accounts, created.priority, created.weight),
        (3, 7, 1)
    );
    assert_eq!((created.current_accounts, created.max_failures), (0, 3));
    assert_eq!(created.health_status, HealthStatus::Healthy);
    assert_eq!(repo.get_proxy(created.id).await.unwrap(), created);

    let err = repo.insert_proxy(&new).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                context: "proxies.insert",
                ..
            }
        ),
        "{err:?}"
    );

    let down = repo
        .update_proxy(
            created.id,
            &ProxyPatch {
                health_status: Some(HealthStatus::Down),
                ..ProxyPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(down.health_status, HealthStatus::Down);
    assert!(down.marked_down_at.is_some());
    assert_eq!(
        (down.max_accounts, down.priority),
        (3, 7),
        "omitted fields are kept"
    );

    repo.set_proxy_health(created.id, HealthStatus::Healthy)
        .await
        .unwrap();
    let healthy = repo.get_proxy(created.id).await.unwrap();
    assert_eq!(healthy.marked_down_at, None);
    assert!(healthy.last_checked_at.is_some());

    repo.delete_proxy(created.id).await.unwrap();
    assert!(matches!(
        repo.get_proxy(created.id).await,
        Err(Error::NotFound {
            entity: "proxy",
            ..
        })
    ));
    assert!(
        repo.delete_proxy(created.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn list_in_fill_order(repo: SqlRepository) {
    for (url, priority, active) in [
        ("http://a:1", 0, true),
        ("http://b:1", 5, true),
        ("http://c:1", 5, false),
        ("http://d:1", 1, true),
    ] {
        let mut new = NewProxy::new(url);
        new.priority = priority;
        new.is_active = active;
        repo.insert_proxy(&new).await.unwrap();
    }
    let all = repo
        .list_proxies(&ProxyFilter::default(), Page::default())
        .await
        .unwrap();
    let urls: Vec<_> = all.data.iter().map(|p| p.url.expose()).collect();
    assert_eq!(
        urls,
        ["http://b:1", "http://c:1", "http://d:1", "http://a:1"]
    );
    let active = repo
        .list_proxies(
            &ProxyFilter {
                is_active: Some(true),
                ..ProxyFilter::default()
            },
            Page::new(2, 0),
        )
        .await
        .unwrap();
    assert_eq!(active.total, 3);
    let urls: Vec<_> = active.data.iter().map(|p| p.url.expose()).collect();
    assert_eq!(urls, ["http://b:1", "http://d:1"]);
}

async fn result_counters(repo: SqlRepository) {
    let id = repo
        .insert_proxy(&NewProxy::new("http://p:1"))
        .await
        .unwrap()
        .id;
    assert_eq!(repo.record_proxy_result(id, false).await.unwrap(), 1);
    assert_eq!(repo.record_proxy_result(id, false).await.unwrap(), 2);
    assert_eq!(repo.record_proxy_result(id, true).await.unwrap(), 0);
    let proxy = repo.get_proxy(id).await.unwrap();
    assert_eq!(proxy.usage_count, 3);
    assert!(proxy.last_used_at.is_some());
    assert!(
        repo.record_proxy_result(ProxyId::new(999), true)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// `current_accounts` follows the active accounts on each proxy through assignment,
/// deactivation and deletion, and a recount heals drift.
async fn account_load_is_recounted(repo: SqlRepository) {
    let provider = provider(&repo, "openai").await;
    let p1 = repo
        .insert_proxy(&NewProxy::new("http://p1:1"))
        .await
        .unwrap()
        .id;
    let p2 = repo
        .insert_proxy(&NewProxy::new("http://p2:1"))
        .await
        .unwrap()
        .id;
    let load = async |id| repo.get_proxy(id).await.unwrap().current_accounts;

    let mut on_p1 = api_key_account(&provider, "a");
    on_p1.proxy_id = Some(p1);
    let a = repo.insert_account(&on_p1).await.unwrap().id;
    let b = repo
        .insert_account(&api_key_account(&provider, "b"))
        .await
        .unwrap()
        .id;
    assert_eq!((load(p1).await, load(p2).await), (1, 0));

    repo.set_account_proxy(b, Some(p1)).await.unwrap();
    assert_eq!(load(p1).await, 2);
    repo.set_account_proxy(b, Some(p2)).await.unwrap();
    assert_eq!((load(p1).await, load(p2).await), (1, 1));

    repo.update_account(
        a,
        &AccountPatch {
            is_active: Some(false),
            ..AccountPatch::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(load(p1).await, 0, "inactive accounts do not count");

    repo.delete_account(b).await.unwrap();
    assert_eq!(load(p2).await, 0, "deleting an account frees its slot");

    // Deleting a proxy leaves its accounts without one.
    repo.set_account_proxy(a, Some(p2)).await.unwrap();
    repo.delete_proxy(p2).await.unwrap();
    assert_eq!(repo.get_account(a).await.unwrap().proxy_id, None);

    assert_eq!(
        repo.recount_proxy_accounts().await.unwrap(),
        0,
        "nothing drifted"
    );
}

fn delta(
    proxy: ProxyId,
    provider: Option<&str>,
    date: NaiveDate,
    ok: bool,
    latency: i64,
) -> ProxyStatsDelta {
    ProxyStatsDelta {
        proxy_id: proxy,
        provider_id: provider.map(pid),
        date,
        request_count: 1,
        success_count: i64::from(ok),
        error_count: i64::from(!ok),
        total_latency_ms: latency,
    }
}

async fn stats_upsert_sums_and_filters(repo: SqlRepository) {
    let proxy = repo
        .insert_proxy(&NewProxy::new("http://p:1"))
        .await
        .unwrap()
        .id;
    let day1 = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let day2 = NaiveDate::from_ymd_opt(2025, 3, 2).unwrap();
    // Duplicates within one batch are summed, not rejected.
    repo.upsert_proxy_stats(&[
        delta(proxy, Some("openai"), day1, true, 100),
        delta(proxy, Some("openai"), day1, false, 50),
        delta(proxy, None, day1, true, 10),
    ])
    .await
    .unwrap();
    repo.upsert_proxy_stats(&[delta(proxy, Some("openai"), day2, true, 7)])
        .await
        .unwrap();
    repo.upsert_proxy_stats(&[delta(proxy, Some("openai"), day1, true, 1)])
        .await
        .unwrap();
    repo.upsert_proxy_stats(&[]).await.unwrap();

    let all = repo
        .list_proxy_stats(&ProxyStatsFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(all.data[0].date, day2, "newest day first");
    let openai_day1 = all
        .data
        .iter()
        .find(|s| s.date == day1 && s.provider_id == Some(pid("openai")))
        .unwrap();
    assert_eq!(
        (
            openai_day1.request_count,
            openai_day1.success_count,
            openai_day1.error_count,
            openai_day1.total_latency_ms
        ),
        (3, 2, 1, 151)
    );

    let unattributed = repo
        .list_proxy_stats(
            &ProxyStatsFilter {
                provider_id: Some(None),
                ..ProxyStatsFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(unattributed.total, 1);
    assert_eq!(unattributed.data[0].provider_id, None);

    let range = repo
        .list_proxy_stats(
            &ProxyStatsFilter {
                proxy_id: Some(proxy),
                provider_id: Some(Some(pid("openai"))),
                from: Some(day2),
                to: Some(day2),
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(range.total, 1);
    assert_eq!(range.data[0].total_latency_ms, 7);
}

/// 8 writers upserting the same (proxy, provider, date) at once: one row, exact sums.
async fn concurrent_stats_upserts_are_exact(repo: SqlRepository) {
    let proxy = repo
        .insert_proxy(&NewProxy::new("http://p:1"))
        .await
        .unwrap()
        .id;
    let day = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let repo = Arc::new(repo);
    let mut writers = JoinSet::new();
    for w in 0..8_i64 {
        let repo = Arc::clone(&repo);
        writers.spawn(async move {
            for i in 0..25_i64 {
                let ok = (w + i) % 2 == 0;
                repo.upsert_proxy_stats(&[
                    delta(proxy, Some("openai"), day, ok, 10),
                    delta(proxy, Some("gemini"), day, true, 1),
                ])
                .await
                .unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let rows = repo
        .list_proxy_stats(
            &ProxyStatsFilter {
                provider_id: Some(Some(pid("openai"))),
                ..ProxyStatsFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(rows.total, 1, "one row per (proxy, provider, date)");
    let row = &rows.data[0];
    assert_eq!(row.request_count, 200);
    assert_eq!(row.success_count + row.error_count, 200);
    assert_eq!(row.success_count, 100);
    assert_eq!(row.total_latency_ms, 2_000);
    let all = repo
        .list_proxy_stats(&ProxyStatsFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(all.total, 2);
}

async fn stats_for_unknown_proxy_are_rejected(repo: SqlRepository) {
    let day = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let err = repo
        .upsert_proxy_stats(&[delta(ProxyId::new(42), None, day, true, 1)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ForeignKey { .. }), "{err:?}");
}

/// Probes and failures from traffic: a good probe clears the failures and
/// records its latency; a failed one adds one and clears the latency;
/// failures from traffic add up in between.
async fn probes_and_traffic_failures(repo: SqlRepository) {
    let id = repo
        .insert_proxy(&NewProxy::new("http://10.0.0.9:3128"))
        .await
        .unwrap()
        .id;
    let ms = std::time::Duration::from_millis;
    let p = repo.record_proxy_probe(id, Some(ms(40))).await.unwrap();
    assert_eq!((p.consecutive_failures, p.last_latency_ms), (0, Some(40)));
    assert_eq!(p.avg_latency_ms, 40);
    assert!(p.last_checked_at.is_some());
    let p = repo.record_proxy_probe(id, None).await.unwrap();
    assert_eq!((p.consecutive_failures, p.last_latency_ms), (1, None));
    assert!(p.success_rate < 100.0);
    let p = repo.add_proxy_failures(id, 3).await.unwrap();
    assert_eq!(p.consecutive_failures, 4);
    let p = repo.record_proxy_probe(id, None).await.unwrap();
    assert_eq!(p.consecutive_failures, 5);
    let p = repo.record_proxy_probe(id, Some(ms(80))).await.unwrap();
    assert_eq!((p.consecutive_failures, p.last_latency_ms), (0, Some(80)));
    assert_eq!(p.avg_latency_ms, 50, "moving average, 1/4 on the newest");
    let err = repo
        .add_proxy_failures(ProxyId::new(999), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

aigw_test_support::backend_tests!(
    probes_and_traffic_failures,
    crud,
    list_in_fill_order,
    result_counters,
    account_load_is_recounted,
    stats_upsert_sums_and_filters,
    concurrent_stats_upserts_are_exact,
    stats_for_unknown_proxy_are_rejected,
);
