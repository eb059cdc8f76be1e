//! Credentials at rest: the gateway stores account keys and proxy passwords encrypted,
//! still uses them upstream, and a gateway with another key refuses to start on the
//! same database.

use aigateway::domain::{AuthData, NewProxy, ProxyUrl, Secret};
use aigateway::repository::{Keyring, SecretKey, SqlOptions};
use aigateway::services::{Runtime, RuntimeSettings};
use aigw_mock_upstream::MockProxy;
use serde_json::json;

use crate::support::{Deployment, TestGateway};

const CANARY: &str = "CANARY5e1d";

/// Everything the database holds for accounts and proxies, read around the gateway.
async fn stored_bytes(gw: &TestGateway) -> Vec<u8> {
    if let Some(path) = gw.database_url.strip_prefix("sqlite://") {
        // The file and its write-ahead log: every page SQLite wrote.
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        return bytes;
    }
    let (client, connection) = tokio_postgres::connect(&gw.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let mut bytes = Vec::new();
    for sql in [
        "SELECT auth_data::text FROM accounts",
        "SELECT url || ' ' || COALESCE(credentials, '') FROM proxy_pool",
    ] {
        for row in client.query(sql, &[]).await.unwrap() {
            bytes.extend(row.get::<_, String>(0).into_bytes());
            bytes.push(b'\n');
        }
    }
    drop(client);
    let _ = driver.await;
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn credentials_are_encrypted_at_rest_and_used_upstream(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    let password = format!("{CANARY}-proxy");
    let proxy = MockProxy::start(Some(("user", &password))).await.unwrap();
    gw.runtime
        .repository()
        .insert_proxy(&NewProxy::new(ProxyUrl::new(proxy.url())))
        .await
        .unwrap();
    let account_key = format!("{CANARY}-account");
    gw.add_account_with(
        "openai",
        "encrypted",
        AuthData::ApiKey {
            api_key: Secret::new(account_key.clone()),
        },
    )
    .await;

    let resp = gw
        .post(
            "/v1/chat/completions",
            &key,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        gw.mock.count_for(&account_key),
        1,
        "the decrypted key reached the upstream"
    );
    assert!(
        proxy.tunnels() >= 1,
        "the decrypted proxy password was accepted"
    );

    let stored = stored_bytes(&gw).await;
    assert!(!stored.is_empty());
    assert!(
        !contains(&stored, CANARY),
        "a credential is stored in clear"
    );
    assert!(contains(&stored, &format!("aigw1:{}:", gw.secret_key.id())));

    // Another key cannot read the credentials, so a gateway with it does not start.
    let wrong = SecretKey::generate();
    let err = Runtime::start(RuntimeSettings {
        database_url: gw.database_url.clone(),
        sql: SqlOptions {
            keyring: Some(Keyring::new(wrong)),
            ..SqlOptions::default()
        },
        migrate: false,
        ..RuntimeSettings::default()
    })
    .await
    .expect_err("a gateway with the wrong key must not start");
    let text = format!("{err:#}");
    assert!(text.contains(gw.secret_key.id().as_str()), "{text}");
    assert!(!text.contains(CANARY), "{text}");
}

deployment_tests!(credentials_are_encrypted_at_rest_and_used_upstream);
