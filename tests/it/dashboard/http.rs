//! The dashboard over plain HTTP: cookie attributes, security headers, form
//! tokens and origins, roles enforced by the server, sessions shared by
//! scale-out instances and ended by sign-out, and the switch that turns the
//! dashboard off.

use std::sync::Arc;

use aigateway::domain::{AuthData, Role, Secret};
use aigateway::handlers::{App, Deployment as HealthDeployment, ServeOptions};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{Jar, hidden, user};
use crate::support::{ADMIN_PASSWORD, Deployment, TestGateway};

deployment_tests!(
    signing_in_sets_a_strict_http_only_session_cookie,
    every_page_carries_the_security_headers,
    forms_need_the_token_and_the_dashboards_origin,
    a_user_is_refused_admin_pages_by_the_server,
    the_sixth_rapid_wrong_password_is_refused,
    sessions_work_on_every_instance_and_sign_out_ends_them,
    a_password_change_signs_out_the_other_sessions,
    labels_are_shown_as_text,
);

async fn signing_in_sets_a_strict_http_only_session_cookie(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let mut jar = Jar::default();
    let root = jar.get(&gw, "/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.headers["location"], "/ui/");
    let overview = jar.get(&gw, "/ui/").await;
    assert_eq!(overview.status, 303, "signed out: sent to sign in");
    assert_eq!(overview.headers["location"], "/ui/signin?next=%2Fui%2F");

    let resp = jar.sign_in(&gw, "admin", ADMIN_PASSWORD).await;
    assert_eq!(resp.status, 303, "{}", resp.text());
    assert_eq!(resp.headers["location"], "/ui/");
    let cookie = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("aigw_session="))
        .expect("a session cookie");
    for attr in ["; Path=/;", "; HttpOnly", "; SameSite=Strict"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let page = jar.get(&gw, "/ui/").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("<h1>Overview</h1>"));

    // Behind a TLS-terminating proxy the cookie is Secure.
    let mut tls = Jar::default();
    let form = tls.get(&gw, "/ui/signin").await;
    let binding = hidden(&form.text(), "_signin");
    let resp = tls
        .post(
            &gw,
            "/ui/signin",
            &[
                ("_signin", &binding),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
            ],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(resp.status, 303);
    let cookie = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        cookie.contains("aigw_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );

    // A wrong password is an error on the form, and no session.
    let mut wrong = Jar::default();
    let resp = wrong.sign_in(&gw, "admin", "not-the-password").await;
    assert_eq!(resp.status, 401);
    assert!(resp.text().contains("Wrong username or password."));
    assert!(
        resp.headers
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("aigw_session="))
    );
}

async fn every_page_carries_the_security_headers(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let mut jar = Jar::admin(&gw).await;
    for path in [
        "/ui/signin",
        "/ui/",
        "/ui/accounts",
        "/ui/keys",
        "/ui/nothing-here",
    ] {
        let resp = jar.get(&gw, path).await;
        let csp = resp.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(resp.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(resp.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(resp.headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(resp.headers["cache-control"], "no-store", "{path}");
    }
    assert_eq!(jar.get(&gw, "/ui/nothing-here").await.status, 404);
    // No inline script or style attribute anywhere: the CSP would block them.
    let page = jar.get(&gw, "/ui/").await.text();
    assert!(
        !page.contains("style=") && !page.contains("<script>"),
        "{page}"
    );
    // The stylesheet and script are named by their content and cached long.
    let css = page
        .split("href=\"/ui/assets/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let asset = jar.get(&gw, &format!("/ui/assets/{css}")).await;
    assert_eq!(asset.status, 200);
    assert_eq!(asset.headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        asset.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(jar.get(&gw, "/ui/assets/app.css").await.status, 404);
}

async fn forms_need_the_token_and_the_dashboards_origin(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let mut jar = Jar::admin(&gw).await;
    let token = jar.csrf(&gw, "/ui/keys").await;
    let without = jar
        .post(&gw, "/ui/keys", &[("label", "no-token")], &[])
        .await;
    assert_eq!(without.status, 403, "{}", without.text());
    let wrong = jar
        .post(
            &gw,
            "/ui/keys",
            &[("_csrf", "0000"), ("label", "bad-token")],
            &[],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let cross = jar
        .post(
            &gw,
            "/ui/keys",
            &[("_csrf", &token), ("label", "cross")],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(cross.status, 403);
    let site = jar
        .post(
            &gw,
            "/ui/keys",
            &[("_csrf", &token), ("label", "cross")],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(site.status, 403);
    assert!(site.text().contains("not sent from this dashboard"));
    let listed = jar.get(&gw, "/ui/keys").await.text();
    assert!(
        listed.contains("No API keys yet"),
        "nothing was created: {listed}"
    );

    let created = jar
        .post(
            &gw,
            "/ui/keys",
            &[("_csrf", &token), ("label", "laptop")],
            &[],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let page = created.text();
    let key = page
        .split("id=\"new-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert!(key.starts_with("ak_") && key.len() == 51, "{key}");
    // Shown once: the list shows only its prefix.
    let again = jar.get(&gw, "/ui/keys").await.text();
    assert!(
        !again.contains(key) && again.contains(&key[..12]),
        "{again}"
    );
    // The sign-in form is bound to the browser that loaded it.
    let mut other = Jar::default();
    let resp = other
        .post(
            &gw,
            "/ui/signin",
            &[
                ("_signin", "x"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status, 403);
}

async fn a_user_is_refused_admin_pages_by_the_server(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    user(&gw, "carl", Role::User).await;
    let mut jar = Jar::default();
    let resp = jar.sign_in(&gw, "carl", "carl-password").await;
    assert_eq!(resp.status, 303);
    assert_eq!(resp.headers["location"], "/ui/keys");
    for path in [
        "/ui/users",
        "/ui/proxies",
        "/ui/accounts",
        "/ui/errors",
        "/ui/quota",
        "/ui/live",
        "/ui/proxies/00000000-0000-0000-0000-000000000000",
    ] {
        let resp = jar.get(&gw, path).await;
        assert_eq!(resp.status, 403, "{path}: {}", resp.text());
    }
    for path in ["/ui/keys", "/ui/mappings", "/ui/logs", "/ui/password"] {
        assert_eq!(jar.get(&gw, path).await.status, 200, "{path}");
    }
    let page = jar.get(&gw, "/ui/keys").await.text();
    assert!(
        !page.contains("href=\"/ui/users\""),
        "no admin links: {page}"
    );
    let token = hidden(&page, "_csrf");
    let refused = jar
        .post(
            &gw,
            "/ui/users",
            &[
                ("_csrf", &token),
                ("username", "mallory"),
                ("password", "mallory-password"),
                ("role", "admin"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);
    let admin = gw.runtime.admin();
    let users = admin
        .list_users(aigateway::domain::Page::max())
        .await
        .unwrap();
    assert!(users.data.iter().all(|u| u.username != "mallory"));
    // A user sees their own keys only.
    let admin_jar = &mut Jar::admin(&gw).await;
    let t = admin_jar.csrf(&gw, "/ui/keys").await;
    admin_jar
        .post(
            &gw,
            "/ui/keys",
            &[("_csrf", &t), ("label", "admins-key")],
            &[],
        )
        .await;
    assert!(!jar.get(&gw, "/ui/keys").await.text().contains("admins-key"));
}

async fn the_sixth_rapid_wrong_password_is_refused(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    user(&gw, "eve", Role::User).await;
    let mut jar = Jar::default();
    for _ in 0..5 {
        assert_eq!(jar.sign_in(&gw, "eve", "wrong-password").await.status, 401);
    }
    let refused = jar.sign_in(&gw, "eve", "eve-password").await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(refused.headers.contains_key("retry-after"));
    assert!(refused.text().contains("Too many sign-in attempts"));
}

async fn sessions_work_on_every_instance_and_sign_out_ends_them(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let mut jar = Jar::admin(&gw).await;
    // What a copied cookie would replay after the sign-out.
    let mut stolen = jar.clone();
    if d == Deployment::ScaleOut {
        // Signed in on one instance, used and signed out on another.
        let peer = gw.start_peer().await;
        assert_eq!(jar.get(&peer, "/ui/accounts").await.status, 200);
        let token = jar.csrf(&peer, "/ui/accounts").await;
        assert_eq!(
            jar.post(&peer, "/ui/signout", &[("_csrf", &token)], &[])
                .await
                .status,
            303
        );
    } else {
        let token = jar.csrf(&gw, "/ui/accounts").await;
        let out = jar
            .post(&gw, "/ui/signout", &[("_csrf", &token)], &[])
            .await;
        assert_eq!(out.status, 303);
        assert_eq!(out.headers["location"], "/ui/signin");
    }
    assert!(
        !jar.cookies.contains_key("aigw_session"),
        "the browser forgets it"
    );
    // The session is gone from the store, not only from this browser.
    let resp = stolen.get(&gw, "/ui/accounts").await;
    assert_eq!(resp.status, 303, "signed out everywhere");
}

async fn a_password_change_signs_out_the_other_sessions(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    user(&gw, "dana", Role::User).await;
    let mut first = Jar::default();
    first.sign_in(&gw, "dana", "dana-password").await;
    let mut second = Jar::default();
    second.sign_in(&gw, "dana", "dana-password").await;
    let token = first.csrf(&gw, "/ui/password").await;
    let short = first
        .post(
            &gw,
            "/ui/password",
            &[
                ("_csrf", &token),
                ("current_password", "dana-password"),
                ("new_password", "short"),
                ("confirm", "short"),
            ],
            &[],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short.text().contains("must be at least 8 characters"),
        "{}",
        short.text()
    );
    let changed = first
        .post(
            &gw,
            "/ui/password",
            &[
                ("_csrf", &token),
                ("current_password", "dana-password"),
                ("new_password", "dana-new-password"),
                ("confirm", "dana-new-password"),
            ],
            &[],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.text());
    assert_eq!(
        first.get(&gw, "/ui/keys").await.status,
        200,
        "this session stays"
    );
    assert_eq!(
        second.get(&gw, "/ui/keys").await.status,
        303,
        "the other one ends"
    );
}

async fn labels_are_shown_as_text(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    gw.add_account_with(
        "openai",
        "<script>alert(1)</script>",
        AuthData::ApiKey {
            api_key: Secret::new("sk-escaped"),
        },
    )
    .await;
    let mut jar = Jar::admin(&gw).await;
    let page = jar.get(&gw, "/ui/accounts").await.text();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert(1)"));
    assert!(
        !page.contains("sk-escaped"),
        "the credential is never shown back"
    );
}

/// With the dashboard turned off, `/` and `/ui/…` are 404 and the rest of
/// the gateway answers as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_dashboard_is_not_found() {
    let Some(gw) = TestGateway::start(Deployment::Embedded).await else {
        return;
    };
    let app = App::new(
        HealthDeployment {
            database: "sqlite",
            shared_state: "in_process",
        },
        gw.runtime.admin().clone(),
        1024 * 1024,
    )
    .with_dashboard(None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(aigateway::handlers::serve(
        listener,
        Arc::new(app),
        ServeOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for (path, status) in [
        ("/", 404),
        ("/ui/", 404),
        ("/ui/signin", 404),
        ("/health", 200),
    ] {
        let resp = client
            .request(
                http::Request::get(format!("http://{addr}{path}"))
                    .body(Full::default())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let _ = resp.into_body().collect().await;
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    // The same gateway with the dashboard on serves it.
    assert_eq!(Jar::default().get(&gw, "/ui/signin").await.status, 200);
}

/// The OAuth onboarding from the accounts page: the page offers the
/// provider's consent page (a popup with the script), and the account is
/// created when the provider sends the browser back, or from a pasted URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_onboarding_starts_from_the_accounts_page() {
    let Some(gw) = TestGateway::start(Deployment::Embedded).await else {
        return;
    };
    let mut jar = Jar::admin(&gw).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for (round, label_in) in [("callback", 0), ("pasted", 1)] {
        let token = jar.csrf(&gw, "/ui/accounts").await;
        let page = jar
            .post(
                &gw,
                "/ui/accounts/oauth",
                &[("_csrf", &token), ("flow", "claude")],
                &[],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.text());
        let html = page.text();
        assert!(html.contains("data-oauth-wait"), "{html}");
        let link = html.split("data-popup").next().unwrap();
        let href = link
            .rsplit("href=\"")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        // The provider (the mock) sends the browser back with a code.
        let resp = client
            .request(
                http::Request::get(href.as_str())
                    .body(Full::default())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{href}");
        let back = resp.headers()["location"].to_str().unwrap().to_owned();
        let query = back.split_once('?').unwrap().1.to_owned();
        if label_in == 0 {
            let done = jar
                .get(&gw, &format!("/api/v1/oauth/callback?{query}"))
                .await;
            assert_eq!(done.status, 200, "{round}: {}", done.text());
        } else {
            let token = jar.csrf(&gw, "/ui/accounts").await;
            let done = jar
                .post(
                    &gw,
                    "/ui/accounts/oauth/exchange",
                    &[("_csrf", &token), ("callback_url", &back)],
                    &[],
                )
                .await;
            assert_eq!(done.status, 303, "{round}: {}", done.text());
            assert_eq!(done.headers["location"], "/ui/accounts?done=oauth");
        }
    }
    let list = jar.get(&gw, "/ui/accounts?provider=anthropic").await.text();
    assert_eq!(list.matches("<td>anthropic</td>").count(), 2, "{list}");
    assert!(list.contains("oauth"), "{list}");
}

/// 1,000 accounts: the list pages them 50 at a time and filters by health,
/// each page in well under a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_accounts_stay_usable() {
    let Some(gw) = TestGateway::start(Deployment::Embedded).await else {
        return;
    };
    let repo = gw.runtime.repository();
    for i in 0..1000 {
        let mut new = aigateway::domain::NewAccount::new(
            "openai".parse().unwrap(),
            format!("bulk-{i:04}"),
            AuthData::ApiKey {
                api_key: Secret::new(format!("sk-bulk-{i}")),
            },
        );
        new.is_active = i % 10 != 0;
        repo.insert_account(&new).await.unwrap();
    }
    let mut jar = Jar::admin(&gw).await;
    for (path, shows) in [
        ("/ui/accounts", "Showing 1–50 of 1000"),
        ("/ui/accounts?page=20", "Showing 951–1000 of 1000"),
        ("/ui/accounts?health=disabled", "Showing 1–50 of 100"),
        (
            "/ui/accounts?health=healthy&page=18",
            "Showing 851–900 of 900",
        ),
    ] {
        let started = std::time::Instant::now();
        let page = jar.get(&gw, path).await;
        let took = started.elapsed();
        assert_eq!(page.status, 200, "{path}");
        assert!(page.text().contains(shows), "{path}: {}", page.text());
        assert_eq!(
            page.text().matches("<tr>").count(),
            51,
            "{path}: 50 rows and the header"
        );
        eprintln!("{path}: {took:?}");
        assert!(
            took < std::time::Duration::from_secs(2),
            "{path} took {took:?}"
        );
    }
}

/// The admin forms do what they say, and a bad value is named next to its field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_forms_change_what_they_show() {
    let Some(gw) = TestGateway::start(Deployment::Embedded).await else {
        return;
    };
    let mut jar = Jar::admin(&gw).await;
    let t = jar.csrf(&gw, "/ui/").await;

    // Accounts: a missing key is an error on its field; then add, edit, disable, delete.
    let missing = jar
        .post(
            &gw,
            "/ui/accounts",
            &[("_csrf", &t), ("provider_id", "openai"), ("label", "main")],
            &[],
        )
        .await;
    assert_eq!(missing.status, 422);
    assert!(
        missing
            .text()
            .contains("id=\"f-api_key-error\">enter the account's API key"),
        "{}",
        missing.text()
    );
    let added = jar
        .post(
            &gw,
            "/ui/accounts",
            &[
                ("_csrf", &t),
                ("provider_id", "openai"),
                ("label", "main"),
                ("api_key", "sk-first-key-1234"),
            ],
            &[],
        )
        .await;
    assert_eq!(
        added.headers["location"],
        "/ui/accounts?done=account-created"
    );
    let list = jar
        .get(&gw, "/ui/accounts?done=account-created")
        .await
        .text();
    assert!(
        list.contains("Account added.") && list.contains("…1234"),
        "{list}"
    );
    let id = list
        .split("href=\"/ui/accounts/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let saved = jar
        .post(
            &gw,
            &format!("/ui/accounts/{id}"),
            &[
                ("_csrf", &t),
                ("label", "renamed"),
                ("weight", "3"),
                ("is_active", "1"),
                ("api_key", "sk-second-key-9876"),
            ],
            &[],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.text());
    let account = gw
        .runtime
        .repository()
        .get_account(id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(account.weight, 3);
    for (weight, says) in [
        ("three", "a whole number from 1 to 100"),
        ("0", "must be 1 to 100"),
    ] {
        let refused = jar
            .post(
                &gw,
                &format!("/ui/accounts/{id}"),
                &[
                    ("_csrf", &t),
                    ("label", "renamed"),
                    ("weight", weight),
                    ("is_active", "1"),
                ],
                &[],
            )
            .await;
        assert_eq!(refused.status, 422, "{weight}: {}", refused.text());
        assert!(refused.text().contains(says), "{}", refused.text());
    }
    let edit = jar.get(&gw, &format!("/ui/accounts/{id}")).await.text();
    assert!(
        edit.contains("value=\"renamed\"") && edit.contains("…9876") && !edit.contains("sk-second"),
        "{edit}"
    );
    jar.post(
        &gw,
        &format!("/ui/accounts/{id}/toggle"),
        &[("_csrf", &t)],
        &[],
    )
    .await;
    assert!(
        jar.get(&gw, "/ui/accounts?health=disabled")
            .await
            .text()
            .contains("renamed")
    );
    let confirm = jar.get(&gw, &format!("/ui/accounts/{id}/delete")).await;
    assert!(confirm.text().contains("Delete account"));
    delete_and_see_empty(
        &mut jar,
        &gw,
        &t,
        &format!("/ui/accounts/{id}"),
        "No accounts yet",
    )
    .await;

    // Proxies: a bad URL is named; add, recalculate, delete.
    refused_naming(
        &mut jar,
        &gw,
        "/ui/proxies",
        &[("_csrf", &t), ("url", "ftp://nope")],
        "url",
    )
    .await;
    let proxy = jar
        .post(
            &gw,
            "/ui/proxies",
            &[
                ("_csrf", &t),
                ("url", "http://user:secret@127.0.0.1:3128"),
                ("max_accounts", "5"),
            ],
            &[],
        )
        .await;
    assert_eq!(proxy.status, 303, "{}", proxy.text());
    let proxies = jar.get(&gw, "/ui/proxies").await.text();
    assert!(
        proxies.contains("127.0.0.1:3128") && !proxies.contains("secret"),
        "{proxies}"
    );
    let recalculated = jar
        .post(&gw, "/ui/proxies/recalculate", &[("_csrf", &t)], &[])
        .await;
    assert_eq!(
        recalculated.headers["location"],
        "/ui/proxies?done=recalculated"
    );
    let pid = proxies
        .split("href=\"/ui/proxies/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    delete_and_see_empty(
        &mut jar,
        &gw,
        &t,
        &format!("/ui/proxies/{pid}"),
        "No proxies yet",
    )
    .await;

    // Model mappings and users.
    let mapped = jar
        .post(
            &gw,
            "/ui/mappings",
            &[
                ("_csrf", &t),
                ("alias", "fast"),
                ("provider_id", "openai"),
                ("model_name", "gpt-4o-mini"),
                ("is_global", "1"),
            ],
            &[],
        )
        .await;
    assert_eq!(mapped.status, 303, "{}", mapped.text());
    assert!(
        jar.get(&gw, "/ui/mappings")
            .await
            .text()
            .contains("<code>fast</code>")
    );
    let short = [
        ("_csrf", t.as_str()),
        ("username", "zoe"),
        ("password", "short"),
        ("role", "user"),
    ];
    refused_naming(&mut jar, &gw, "/ui/users", &short, "password").await;
    let created = jar
        .post(
            &gw,
            "/ui/users",
            &[
                ("_csrf", &t),
                ("username", "zoe"),
                ("password", "zoe-password"),
                ("role", "provider"),
            ],
            &[],
        )
        .await;
    assert_eq!(created.status, 303);
    let mut zoe = Jar::default();
    assert_eq!(
        zoe.sign_in(&gw, "zoe", "zoe-password").await.headers["location"],
        "/ui/accounts"
    );
}

/// Deletes the item at `item` (its page's path) and checks that its list
/// then says `empty`.
async fn delete_and_see_empty(
    jar: &mut Jar,
    gw: &TestGateway,
    csrf: &str,
    item: &str,
    empty: &str,
) {
    jar.post(gw, &format!("{item}/delete"), &[("_csrf", csrf)], &[])
        .await;
    let list = item.rsplit_once('/').map_or(item, |(list, _)| list);
    let listed = jar.get(gw, list).await.text();
    assert!(listed.contains(empty), "{listed}");
}

/// Posts `form` to `path` and checks the 422 marks `field` as the error.
async fn refused_naming(
    jar: &mut Jar,
    gw: &TestGateway,
    path: &str,
    form: &[(&str, &str)],
    field: &str,
) {
    let refused = jar.post(gw, path, form, &[]).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains(&format!("id=\"f-{field}-error\"")),
        "{}",
        refused.text()
    );
}
