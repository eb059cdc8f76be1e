//! Sign-in, the caller's own user, password and access key.

use http::Method;
use serde_json::json;

use super::Api;
use crate::support::{ADMIN_PASSWORD, Deployment, TestGateway};

async fn login_returns_a_token_that_signs_in(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let resp = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let user = &body["user"];
    assert_eq!(user["username"], "admin");
    assert_eq!(user["role"], "admin");
    assert_eq!(user["is_active"], true);
    for field in ["created_at", "updated_at"] {
        let text = user[field].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("{field} is not RFC 3339 ({e}): {text}"));
    }
    assert!(user.get("password_hash").is_none());

    let me = api.get("/api/v1/auth/me", token).await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["id"], user["id"]);
    assert_eq!(me.json()["username"], "admin");

    // The same token in the other headers.
    for header in ["x-api-key", "x-access-key"] {
        let resp = gw
            .request(Method::GET, "/api/v1/auth/me", &[(header, token)], "")
            .await;
        assert_eq!(resp.status, 200, "{header}: {}", resp.text());
    }
}

async fn bad_credentials_are_refused(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let login = |username: &'static str, password: &'static str| {
        let api = &api;
        async move {
            api.call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await
        }
    };
    let wrong = login("admin", "not-the-password").await;
    let unknown = login("nobody", "not-the-password").await;
    for resp in [&wrong, &unknown] {
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json()["error"], "invalid credentials");
        assert_eq!(resp.json()["code"], "invalid_credentials");
    }

    let missing = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin"})),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"], "password: is required");

    for credential in [
        None,
        Some("not-a-token"),
        Some("ak_unknown"),
        Some("uk_unknown"),
    ] {
        let resp = api
            .call(Method::GET, "/api/v1/auth/me", credential, None)
            .await;
        assert_eq!(resp.status, 401, "{credential:?}");
        assert_eq!(resp.json()["code"], "unauthorized");
    }

    // A disabled user: refused at sign-in, and their live token stops working.
    let admin = api.admin().await;
    let (id, token) = api.user(&admin, "carol", "user").await;
    assert_eq!(api.get("/api/v1/auth/me", &token).await.status, 200);
    let resp = api
        .put(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["role"], "user", "an omitted field is unchanged");
    assert_eq!(api.get("/api/v1/auth/me", &token).await.status, 401);
    let resp = login("carol", "carol-password").await;
    assert_eq!(resp.status, 403);
    assert_eq!(resp.json()["code"], "account_disabled");
}

async fn unknown_paths_and_methods(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let resp = api.get("/api/v1/no-such-thing", &admin).await;
    assert_eq!(resp.status, 404);
    let resp = api.delete("/api/v1/auth/me", &admin).await;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.headers["allow"], "GET");
    let resp = gw
        .request(Method::GET, "/api/v1/openapi.json", &[], "")
        .await;
    assert_eq!(resp.status, 200);
    assert!(resp.json()["paths"]["/api/v1/auth/login"]["post"].is_object());
}

/// Changing a password (own or by an admin), the role, or disabling a user
/// signs out every session token issued before, on every instance; tokens
/// issued after keep working.
async fn password_and_role_changes_sign_out_earlier_sessions(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let peer = gw.start_peer().await;
    let api = Api::new(&gw);
    let on_peer = Api::new(&peer);
    let admin = api.admin().await;
    let (id, first) = api.user(&admin, "sam", "user").await;
    let second = on_peer.login("sam", "sam-password").await;
    for token in [&first, &second] {
        assert_eq!(api.get("/api/v1/auth/me", token).await.status, 200);
    }

    let changed = api
        .put(
            "/api/v1/auth/password",
            &first,
            json!({"current_password": "sam-password", "new_password": "sam-password-2"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let fresh = changed.json()["token"].as_str().unwrap().to_owned();
    for token in [&first, &second] {
        assert_eq!(api.get("/api/v1/auth/me", token).await.status, 401);
        assert_eq!(on_peer.get("/api/v1/auth/me", token).await.status, 401);
    }
    assert_eq!(on_peer.get("/api/v1/auth/me", &fresh).await.status, 200);
    let after = api.login("sam", "sam-password-2").await;
    assert_eq!(on_peer.get("/api/v1/auth/me", &after).await.status, 200);

    // An admin resetting the password signs the user out too.
    let reset = api
        .put(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"password": "sam-password-3"}),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text());
    for token in [&fresh, &after] {
        assert_eq!(on_peer.get("/api/v1/auth/me", token).await.status, 401);
    }

    // So does a role change.
    let token = api.login("sam", "sam-password-3").await;
    let demoted = api
        .put(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"role": "provider"}),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.text());
    assert_eq!(on_peer.get("/api/v1/auth/me", &token).await.status, 401);

    // A disabled user's sessions stay invalid once the user is enabled again.
    let token = api.login("sam", "sam-password-3").await;
    for active in [false, true] {
        let resp = api
            .put(
                &format!("/api/v1/users/{id}"),
                &admin,
                json!({"is_active": active}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(on_peer.get("/api/v1/auth/me", &token).await.status, 401);
    let token = api.login("sam", "sam-password-3").await;
    assert_eq!(on_peer.get("/api/v1/auth/me", &token).await.status, 200);

    // Unrelated changes leave sessions alone: the admin's own token still works.
    assert_eq!(api.get("/api/v1/auth/me", &admin).await.status, 200);
}

async fn try_login(api: &Api<'_>, username: &str, password: &str) -> crate::support::Resp {
    api.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}

/// After five wrong passwords for a user, the sixth attempt is refused with
/// 429 and `Retry-After` even with the right password, on every instance of
/// a scale-out deployment; other users still sign in.
async fn wrong_passwords_are_throttled_per_user(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    api.user(&admin, "carl", "user").await;
    for _ in 0..5 {
        assert_eq!(try_login(&api, "admin", "wrong-password").await.status, 401);
    }
    let refused = try_login(&api, "admin", ADMIN_PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.json()["code"], "too_many_attempts");
    let wait: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((840..=900).contains(&wait), "Retry-After: {wait}");
    if d == Deployment::ScaleOut {
        // The budget is shared through Redis.
        let peer = gw.start_peer().await;
        let on_peer = Api::new(&peer);
        assert_eq!(
            try_login(&on_peer, "admin", ADMIN_PASSWORD).await.status,
            429
        );
    }
    // Another user from the same address is not affected, and an unknown
    // username is throttled like a known one.
    api.login("carl", "carl-password").await;
    for _ in 0..5 {
        assert_eq!(try_login(&api, "nobody", "x-password").await.status, 401);
    }
    assert_eq!(try_login(&api, "nobody", "x-password").await.status, 429);
    // Sessions issued before keep working.
    assert_eq!(api.get("/api/v1/auth/me", &admin).await.status, 200);
}

/// One client address has a budget of failures across usernames.
async fn wrong_passwords_are_throttled_per_address(d: Deployment) {
    let Some(gw) = TestGateway::start_with(d, |s| {
        s.auth.login.max_failures_per_address = 3;
        s.auth.login.max_failures_per_user = 100;
    })
    .await
    else {
        return;
    };
    let api = Api::new(&gw);
    // Successful sign-ins do not use the budget up.
    for _ in 0..5 {
        api.admin().await;
    }
    for name in ["u1", "u2", "u3"] {
        assert_eq!(try_login(&api, name, "wrong-password").await.status, 401);
    }
    let refused = try_login(&api, "admin", ADMIN_PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(refused.headers.contains_key("retry-after"));
}

deployment_tests!(
    login_returns_a_token_that_signs_in,
    wrong_passwords_are_throttled_per_user,
    wrong_passwords_are_throttled_per_address,
    password_and_role_changes_sign_out_earlier_sessions,
    bad_credentials_are_refused,
    unknown_paths_and_methods,
);

/// Without a configured password, the first start creates `admin` with a
/// generated one, handed out once; a second start on the same database
/// creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_generates_the_admin_password_once() {
    let Some(mut gw) = TestGateway::start_with(Deployment::Embedded, |s| {
        s.auth.admin_password = None;
    })
    .await
    else {
        return;
    };
    let password = gw
        .runtime
        .take_generated_admin_password()
        .expect("a generated password");
    assert!(password.expose().len() >= 16);
    assert!(gw.runtime.take_generated_admin_password().is_none());
    let api = Api::new(&gw);
    api.login("admin", password.expose()).await;
    let resp = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(resp.status, 401);
}
