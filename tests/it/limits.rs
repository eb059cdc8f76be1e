//! Limits learned from the upstream: every form a provider states its limits
//! in (OpenAI and Anthropic rate-limit headers, Claude plans' unified
//! windows, Codex plan windows and usage-limit errors, Gemini quota errors)
//! cools the account down until the stated reset, bounded by
//! `max_cooldown`, for the model or for the whole account, even on a
//! successful answer; and the quota view shows what was learnt.

use std::time::Duration;

use aigateway::domain::AccountId;
use aigateway::services::reports::Reports;
use aigw_mock_upstream::{Fault, FaultRule};
use serde_json::{Value, json};

use crate::codex::chatgpt_grant;
use crate::support::{Deployment, TestGateway};

/// One way an upstream states a limit, and what the gateway must learn.
struct Form {
    provider: &'static str,
    path: &'static str,
    body: Value,
    /// The upstream model the cooldown is checked for.
    model: &'static str,
    fault: FaultRule,
    /// Whether the cooldown covers every model of the account.
    account_wide: bool,
    /// The wait the upstream stated (after bounding).
    wait: Duration,
    /// The quota-view entry (`*` for the account's own windows) and its window.
    entry: &'static str,
    window: &'static str,
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
}

fn unix_in(secs: i64) -> String {
    (chrono::Utc::now().timestamp() + secs).to_string()
}

async fn learns(d: Deployment, form: Form) {
    let Some(gw) = TestGateway::start_with(d, |s| {
        s.stats.flush_interval = Duration::from_millis(20);
    })
    .await
    else {
        return;
    };
    let key = gw.issue_key().await;
    let (limited, fresh): (AccountId, _) = if form.provider == "codex" {
        let a = gw
            .add_account_with("codex", "limited", chatgpt_grant("lim", "a1"))
            .await;
        let b = gw
            .add_account_with("codex", "fresh", chatgpt_grant("ok", "a2"))
            .await;
        (a.parse().unwrap(), b)
    } else {
        let a = gw.add_api_key_account(form.provider, "lim").await;
        let b = gw.add_api_key_account(form.provider, "ok").await;
        (a.parse().unwrap(), b)
    };
    let _ = fresh;
    gw.mock.set_fault("lim", form.fault);
    for _ in 0..3 {
        let resp = gw.post(form.path, &key, form.body.clone()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        if gw.mock.count_for("lim") == 1 {
            break;
        }
    }
    assert_eq!(
        gw.mock.count_for("lim"),
        1,
        "the limited account was never selected"
    );
    let cooldowns = gw.runtime.gateway().cooldowns();
    let left = cooldowns
        .remaining(limited, form.model)
        .expect("the account cools down until the stated reset");
    assert!(
        left <= form.wait && left + Duration::from_secs(5) > form.wait,
        "{left:?} for a stated {:?}",
        form.wait
    );
    assert_eq!(
        cooldowns.remaining(limited, "some-other-model").is_some(),
        form.account_wide,
        "account-wide or per model"
    );
    for _ in 0..3 {
        let resp = gw.post(form.path, &key, form.body.clone()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(gw.mock.count_for("lim"), 1, "called again before its reset");
    // The quota view shows the learnt window, as exhausted, until its reset.
    let reports = Reports::new(
        gw.runtime.repository().clone(),
        gw.runtime.gateway().clone(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        let view = reports.quota_account(limited).await.unwrap();
        if let Some(s) = view.models.get(form.entry)
            && s.limit_window.is_some()
        {
            break s.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no learnt pattern: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        status.limit_window.as_deref(),
        Some(form.window),
        "{status:?}"
    );
    assert!(status.is_exhausted, "{status:?}");
    assert!(status.limit_resets_at.is_some(), "{status:?}");
    assert!(status.last_exhausted_at.is_some(), "{status:?}");
}

async fn openai_remaining_requests_zero_on_a_success(d: Deployment) {
    learns(
        d,
        Form {
            provider: "openai",
            path: "/v1/chat/completions",
            body: chat("gpt-4o"),
            model: "gpt-4o",
            fault: Fault::with_headers(&[
                ("x-ratelimit-limit-requests", "100"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "20s"),
                ("x-ratelimit-limit-tokens", "1000"),
                ("x-ratelimit-remaining-tokens", "900"),
                ("x-ratelimit-reset-tokens", "1s"),
            ])
            .once(),
            account_wide: false,
            wait: Duration::from_secs(20),
            entry: "gpt-4o",
            window: "requests",
        },
    )
    .await;
}

async fn anthropic_api_remaining_zero_on_a_success(d: Deployment) {
    let reset = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
    learns(
        d,
        Form {
            provider: "anthropic",
            path: "/v1/messages",
            body: messages("claude-sonnet-4-5"),
            model: "claude-sonnet-4-5",
            fault: Fault::with_headers(&[
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", &reset),
            ])
            .once(),
            account_wide: false,
            wait: Duration::from_secs(30),
            entry: "claude-sonnet-4-5",
            window: "requests",
        },
    )
    .await;
}

async fn a_rejected_claude_plan_window(d: Deployment) {
    let reset = unix_in(45);
    learns(
        d,
        Form {
            provider: "anthropic",
            path: "/v1/messages",
            body: messages("claude-sonnet-4-5"),
            model: "claude-sonnet-4-5",
            fault: Fault::limited_with_headers(&[
                ("anthropic-ratelimit-unified-status", "rejected"),
                ("anthropic-ratelimit-unified-5h-status", "rejected"),
                ("anthropic-ratelimit-unified-5h-utilization", "1.0"),
                ("anthropic-ratelimit-unified-5h-reset", &reset),
                ("anthropic-ratelimit-unified-7d-status", "allowed"),
                ("anthropic-ratelimit-unified-7d-utilization", "0.4"),
                (
                    "anthropic-ratelimit-unified-representative-claim",
                    "five_hour",
                ),
                ("anthropic-ratelimit-unified-reset", &reset),
            ])
            .once(),
            account_wide: true,
            wait: Duration::from_secs(45),
            entry: "*",
            window: "5h",
        },
    )
    .await;
}

async fn a_weekly_window_is_bounded_by_max_cooldown(d: Deployment) {
    let reset = unix_in(5 * 24 * 3600);
    learns(
        d,
        Form {
            provider: "anthropic",
            path: "/v1/messages",
            body: messages("claude-sonnet-4-5"),
            model: "claude-sonnet-4-5",
            fault: Fault::limited_with_headers(&[
                ("anthropic-ratelimit-unified-status", "rejected"),
                ("anthropic-ratelimit-unified-7d-status", "rejected"),
                ("anthropic-ratelimit-unified-7d-reset", &reset),
                (
                    "anthropic-ratelimit-unified-representative-claim",
                    "seven_day",
                ),
            ])
            .once(),
            account_wide: true,
            wait: aigateway::services::failover::FailoverSettings::default().max_cooldown,
            entry: "*",
            window: "7d",
        },
    )
    .await;
}

async fn a_used_up_codex_plan_window_on_a_success(d: Deployment) {
    let reset = unix_in(60);
    learns(
        d,
        Form {
            provider: "codex",
            path: "/v1/chat/completions",
            body: chat("gpt-5-codex"),
            model: "gpt-5-codex",
            fault: Fault::with_headers(&[
                ("x-codex-primary-used-percent", "100"),
                ("x-codex-primary-window-minutes", "300"),
                ("x-codex-primary-reset-at", &reset),
                ("x-codex-secondary-used-percent", "35"),
                ("x-codex-secondary-window-minutes", "10080"),
            ])
            .once(),
            account_wide: true,
            wait: Duration::from_secs(60),
            entry: "*",
            window: "primary",
        },
    )
    .await;
}

async fn a_codex_usage_limit_error(d: Deployment) {
    learns(
        d,
        Form {
            provider: "codex",
            path: "/v1/chat/completions",
            body: chat("gpt-5-codex"),
            model: "gpt-5-codex",
            fault: Fault::usage_limit(1200).once(),
            account_wide: true,
            wait: Duration::from_secs(1200),
            entry: "*",
            window: "usage_limit",
        },
    )
    .await;
}

async fn a_gemini_quota_failure(d: Deployment) {
    let body = json!({"error": {"code": 429, "message": "You exceeded your current quota",
        "status": "RESOURCE_EXHAUSTED", "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaValue": "15"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "40s"}]}});
    learns(
        d,
        Form {
            provider: "gemini",
            path: "/v1/chat/completions",
            body: chat("gemini-2.5-flash"),
            model: "gemini-2.5-flash",
            fault: Fault::status_with_body(http::StatusCode::TOO_MANY_REQUESTS, body.to_string())
                .once(),
            account_wide: false,
            wait: Duration::from_secs(40),
            entry: "gemini-2.5-flash",
            window: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        },
    )
    .await;
}

deployment_tests!(
    openai_remaining_requests_zero_on_a_success,
    anthropic_api_remaining_zero_on_a_success,
    a_rejected_claude_plan_window,
    a_weekly_window_is_bounded_by_max_cooldown,
    a_used_up_codex_plan_window_on_a_success,
    a_codex_usage_limit_error,
    a_gemini_quota_failure,
);
