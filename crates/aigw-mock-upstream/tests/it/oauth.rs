//! The OAuth token endpoint (refresh and code grants, form and JSON) and userinfo.

use aigw_mock_upstream::{Fault, MockUpstream};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use serde_json::json;

use crate::support::{Resp, WAIT, client, get, post, send};

async fn post_form(mock: &MockUpstream, path: &str, form: &str) -> Resp {
    let req = http::Request::builder()
        .method(Method::POST)
        .uri(format!("{}{path}", mock.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form.to_owned())))
        .unwrap();
    send(&client(), req).await
}

#[tokio::test]
async fn a_refresh_grant_issues_distinct_tokens_and_counts_calls() {
    let mock = MockUpstream::start().await.unwrap();
    let form = "grant_type=refresh_token&refresh_token=1%2F%2Frt-a&client_id=cid&client_secret=cs";
    let first = post_form(&mock, "/token", form).await;
    let second = post_form(&mock, "/token", form).await;
    assert_eq!(first.status, 200);
    let (a, b) = (first.json(), second.json());
    assert_ne!(a["access_token"], b["access_token"]);
    assert_eq!(a["expires_in"], 3599);
    assert_eq!(a["token_type"], "Bearer");
    assert!(
        a.get("refresh_token").is_none(),
        "Google does not rotate refresh tokens"
    );
    assert_eq!(mock.oauth().calls_for("1//rt-a"), 2);
    assert_eq!(mock.oauth().total_calls(), 2);
    assert_eq!(
        mock.oauth().last_access_token_for("1//rt-a").as_deref(),
        b["access_token"].as_str()
    );
    assert_eq!(mock.requests()[0].account_key.as_deref(), Some("1//rt-a"));
}

#[tokio::test]
async fn a_json_code_grant_returns_a_refresh_token_and_an_id_token() {
    let mock = MockUpstream::start().await.unwrap();
    mock.oauth().set_email("dev@example.com");
    let body = json!({"grant_type": "authorization_code", "code": "code-1", "client_id": "claude", "code_verifier": "v"});
    let v = post(
        &client(),
        &format!("{}/v1/oauth/token", mock.base_url()),
        &[],
        &body,
    )
    .await
    .json();
    let refresh = v["refresh_token"].as_str().unwrap();
    assert!(!refresh.is_empty());
    let id_token = v["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["email"], "dev@example.com");
    assert_eq!(claims["aud"], "claude");
    assert_eq!(mock.oauth().calls_for("code-1"), 1);
    // The new refresh token works.
    let form = format!("grant_type=refresh_token&refresh_token={refresh}");
    assert_eq!(post_form(&mock, "/oauth/token", &form).await.status, 200);
}

#[tokio::test]
async fn rotation_revocation_and_bad_grants() {
    let mock = MockUpstream::start().await.unwrap();
    mock.oauth().set_rotate_refresh_tokens(true);
    let v = post_form(
        &mock,
        "/oauth/token",
        "grant_type=refresh_token&refresh_token=old",
    )
    .await
    .json();
    let new = v["refresh_token"].as_str().unwrap().to_owned();
    let reused = post_form(
        &mock,
        "/oauth/token",
        "grant_type=refresh_token&refresh_token=old",
    )
    .await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json()["error"], "invalid_grant");
    assert_eq!(
        post_form(
            &mock,
            "/oauth/token",
            &format!("grant_type=refresh_token&refresh_token={new}")
        )
        .await
        .status,
        200
    );

    mock.oauth().revoke("dead");
    let resp = post_form(
        &mock,
        "/oauth/token",
        "grant_type=refresh_token&refresh_token=dead",
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"], "invalid_grant");
    let resp = post_form(&mock, "/oauth/token", "grant_type=password&username=x").await;
    assert_eq!(resp.json()["error"], "unsupported_grant_type");
    let resp = post_form(&mock, "/oauth/token", "grant_type=refresh_token").await;
    assert_eq!(resp.json()["error"], "invalid_request");
}

#[tokio::test]
async fn token_faults_apply_per_refresh_token() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_fault("rt-flaky", Fault::server_error().once());
    mock.oauth()
        .set_expires_in(std::time::Duration::from_secs(60));
    let flaky = "grant_type=refresh_token&refresh_token=rt-flaky";
    assert_eq!(post_form(&mock, "/oauth/token", flaky).await.status, 500);
    let ok = post_form(&mock, "/oauth/token", flaky).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["expires_in"], 60);
    assert_eq!(
        mock.oauth().calls_for("rt-flaky"),
        2,
        "failed calls count too"
    );
    assert!(mock.oauth().wait_calls(2, WAIT).await);
}

#[tokio::test]
async fn userinfo_answers_in_googles_shape() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/oauth2/v1/userinfo?alt=json", mock.base_url());
    let v = get(&client(), &url, &[("authorization", "Bearer ya29.x")])
        .await
        .json();
    assert_eq!(v["email"], "mock-user@example.com");
    assert_eq!(v["verified_email"], true);
    let resp = get(&client(), &url, &[]).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["status"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_authorize_redirect_code_is_bound_to_its_pkce_challenge_and_used_once() {
    use sha2::{Digest, Sha256};
    let mock = MockUpstream::start().await.unwrap();
    let verifier = "a-verifier-of-enough-length-0123456789-abcdefghijklmnop";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:9/api/v1/oauth/callback";
    let authorize = |method: &str| {
        format!(
            "{}/oauth/authorize?client_id=cid&response_type=code&redirect_uri={}&state=st-1&code_challenge={challenge}&code_challenge_method={method}",
            mock.base_url(),
            url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
        )
    };
    let resp = get(&client(), &authorize("plain"), &[]).await;
    assert_eq!(resp.status, 400, "only S256 is accepted");

    let resp = get(&client(), &authorize("S256"), &[]).await;
    assert_eq!(resp.status, 302);
    let location = url::Url::parse(resp.header("location").unwrap()).unwrap();
    assert!(location.as_str().starts_with(redirect));
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "st-1");
    let code = params["code"].clone();

    let form = |verifier: &str| {
        format!(
            "grant_type=authorization_code&code={code}&client_id=cid&code_verifier={verifier}&redirect_uri={}",
            url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
        )
    };
    let wrong = post_form(&mock, "/token", &form("not-the-verifier")).await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"], "invalid_grant");
    let resp = get(&client(), &authorize("S256"), &[]).await;
    let location = url::Url::parse(resp.header("location").unwrap()).unwrap();
    let code2: String = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let form2 = format!(
        "grant_type=authorization_code&code={code2}&client_id=cid&code_verifier={verifier}&redirect_uri={}",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    let ok = post_form(&mock, "/token", &form2).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.json()["refresh_token"].as_str().is_some());
    let again = post_form(&mock, "/token", &form2).await;
    assert_eq!(again.status, 400, "a code works once");
}
