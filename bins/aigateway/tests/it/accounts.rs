//! `aigateway accounts add --auth-json`: the tagged credential and the
//! original gateway's untagged shapes, stored as the typed credential.

use std::path::Path;
use std::process::{Output, Stdio};

use aigw_domain::{AccountId, AuthData};
use aigw_repository::{Keyring, SecretKey, SqlOptions, SqlRepository};

use crate::support::{gateway, last_line};

fn add(dir: &Path, key: &SecretKey, provider: &str, auth_json: &str) -> Output {
    let vars = [
        (
            "AIGW_DATABASE__URL",
            format!("sqlite://{}", dir.join("gateway.db").display()),
        ),
        ("AIGW_SECURITY__SECRET_KEY", key.expose_base64().to_string()),
    ];
    gateway(dir, &vars)
        .args([
            "accounts",
            "add",
            "--provider",
            provider,
            "--label",
            "cli",
            "--auth-json",
            auth_json,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn added_id(output: &Output) -> AccountId {
    last_line(output, "accounts add").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_json_takes_the_original_gateways_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let untagged = added_id(&add(
        dir.path(),
        &key,
        "openai",
        r#"{"api_key":"sk-from-the-original"}"#,
    ));
    // The dashboard's form: the object inside a JSON string.
    let dashboard = added_id(&add(
        dir.path(),
        &key,
        "anthropic",
        r#""{\"access_token\":\"at-1\",\"refresh_token\":\"rt-1\",\"expires_at\":\"2099-01-01T00:00:00Z\",\"id_token\":\"ignored\"}""#,
    ));
    let tagged = added_id(&add(
        dir.path(),
        &key,
        "openai",
        r#"{"type":"bearer","token":"tok-1"}"#,
    ));

    let refused = add(
        dir.path(),
        &key,
        "openai",
        r#"{"secret":"sk-never-echoed"}"#,
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("accepted forms"), "{stderr}");
    assert!(!stderr.contains("sk-never-echoed"), "{stderr}");

    let options = SqlOptions {
        keyring: Some(Keyring::new(key)),
        ..SqlOptions::default()
    };
    let repo = SqlRepository::connect_with(
        &format!("sqlite://{}", dir.path().join("gateway.db").display()),
        options,
    )
    .await
    .unwrap();
    let auth = |id| {
        let repo = repo.clone();
        async move { repo.get_account(id).await.unwrap().auth_data }
    };
    assert_eq!(
        auth(untagged).await.to_storage_json(),
        serde_json::json!({"type": "api_key", "api_key": "sk-from-the-original"})
    );
    let grant = auth(dashboard).await;
    assert_eq!(
        grant.to_storage_json(),
        serde_json::json!({"type": "oauth", "access_token": "at-1", "refresh_token": "rt-1",
                           "expires_at": "2099-01-01T00:00:00Z"})
    );
    assert!(matches!(grant, AuthData::Oauth(_)));
    assert!(matches!(auth(tagged).await, AuthData::Bearer { .. }));
}
