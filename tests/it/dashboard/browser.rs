//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, started here on a free port) through `fantoccini`, one
//! browser session for every step. Each page is saved as a screenshot under
//! `$CARGO_TARGET_DIR/dashboard-screenshots/`.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's
//! `chromium` and `chromium-driver`) the test fails when
//! `AIGW_TEST_REQUIRE_SERVICES=1`, and is skipped with a reason otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aigateway::domain::Role;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::user;
use crate::support::{ADMIN_PASSWORD, Deployment, TestGateway};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Stops chromedriver (and with it the browser) when the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR/dashboard-screenshots`, else
/// the target directory this test binary was built into.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn start_browser() -> Option<(Driver, Client)> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} missing (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
        aigw_test_support::skip_or_fail(&format!("the browser test needs Chromium: {why}"));
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"],
        },
    });
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");
    Some((driver, client))
}

async fn fill(c: &Client, css: &str, value: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks what `css` finds. When that leaves the page (a link, a form),
/// waits until the old page is gone, so the next command sees the new one.
async fn click(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.tag_name().await.is_ok() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn text(c: &Client, css: &str) -> String {
    let found = c
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(css))
        .await;
    match found {
        Ok(found) => found.text().await.unwrap(),
        Err(e) => {
            let url = c.current_url().await.unwrap();
            let source = c.source().await.unwrap();
            panic!("{css} not on {url} ({e}): {source}")
        }
    }
}

async fn sign_in(c: &Client, gw: &TestGateway, username: &str, password: &str) {
    c.goto(&gw.url("/ui/signin")).await.unwrap();
    fill(c, "#f-username", username).await;
    fill(c, "#f-password", password).await;
    click(c, "form[action='/ui/signin'] button[type=submit]").await;
}

/// Opens `path` until its page contains `needle` (the stats writer records
/// a request within about a second), or fails after 15 s.
async fn wait_for(c: &Client, gw: &TestGateway, path: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        c.goto(&gw.url(path)).await.unwrap();
        let source = c.source().await.unwrap();
        if source.contains(needle) {
            return source;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never showed {needle}: {source}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A page on another origin (another port of this machine) whose form posts
/// to the dashboard: what a cross-site request forgery looks like.
async fn forger(target: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page = format!(
        "<!doctype html><title>prize</title><form method=post action='{target}'>\
         <input name=label value=forged><button id=go type=submit>Claim</button></form>"
    );
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    });
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_gateway_from_the_browser() {
    let Some((_driver, c)) = start_browser().await else {
        return;
    };
    let Some(gw) = TestGateway::start(Deployment::Embedded).await else {
        return;
    };
    user(&gw, "eve", Role::User).await;
    user(&gw, "carl", Role::User).await;

    // Signed out, `/` leads to the sign-in form; a wrong password is an error there.
    c.goto(&gw.url("/")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/signin");
    shot(&c, "signin").await;
    sign_in(&c, &gw, "admin", "not-the-password").await;
    assert_eq!(text(&c, ".notice.bad").await, "Wrong username or password.");
    shot(&c, "signin-error").await;
    // The sixth rapid wrong attempt is refused, even with the right password.
    for _ in 0..5 {
        sign_in(&c, &gw, "eve", "wrong-password").await;
        assert_eq!(text(&c, ".notice.bad").await, "Wrong username or password.");
    }
    sign_in(&c, &gw, "eve", "eve-password").await;
    assert!(
        text(&c, ".notice.bad")
            .await
            .starts_with("Too many sign-in attempts")
    );

    // The admin signs in and lands on the overview.
    sign_in(&c, &gw, "admin", ADMIN_PASSWORD).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/");
    assert_eq!(text(&c, "h1").await, "Overview");
    shot(&c, "overview-empty").await;

    // A key, shown once with a copy button.
    c.goto(&gw.url("/ui/keys")).await.unwrap();
    shot(&c, "keys-empty").await;
    fill(&c, "#f-label", "laptop").await;
    click(&c, "form[action='/ui/keys'] button[type=submit]").await;
    let key = text(&c, "#new-key").await;
    assert!(key.starts_with("ak_"), "{key}");
    let copy = c.find(Locator::Css("button[data-copy]")).await.unwrap();
    assert!(
        copy.is_displayed().await.unwrap(),
        "the script shows the copy button"
    );
    shot(&c, "keys-created").await;
    c.goto(&gw.url("/ui/keys")).await.unwrap();
    assert!(!c.source().await.unwrap().contains(&key), "shown only once");

    // An API-key account whose label is markup: shown as text, never run.
    let label = "<script>alert(1)</script>";
    c.goto(&gw.url("/ui/accounts")).await.unwrap();
    assert!(c.source().await.unwrap().contains("No accounts yet"));
    shot(&c, "accounts-empty").await;
    fill(&c, "#f-label", label).await;
    fill(&c, "#f-api_key", "sk-browser-test").await;
    click(
        &c,
        "form[method='post'][action='/ui/accounts'] button[type=submit]",
    )
    .await;
    assert_eq!(text(&c, ".notice.ok").await, "Account added.");
    assert_eq!(text(&c, "tbody td a").await, label);
    assert!(c.get_alert_text().await.is_err(), "no script ran");
    assert!(!c.source().await.unwrap().contains("sk-browser-test"));
    shot(&c, "accounts").await;

    // A request through the data plane with that key shows up in the
    // request log and the overview.
    let resp = gw
        .post(
            "/v1/chat/completions",
            &key,
            serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    wait_for(&c, &gw, "/ui/logs", "gpt-4o-mini").await;
    assert_eq!(text(&c, "tbody td .badge").await, "200");
    shot(&c, "logs").await;
    wait_for(&c, &gw, "/ui/", "By provider").await;
    assert_eq!(text(&c, "[data-live='total:requests']").await, "1");
    assert!(
        !c.find_all(Locator::Css("svg.chart rect"))
            .await
            .unwrap()
            .is_empty()
    );
    shot(&c, "overview").await;

    // The account's page and its delete confirmation.
    c.goto(&gw.url("/ui/accounts")).await.unwrap();
    click(&c, "tbody td a").await;
    assert!(text(&c, "h1").await.starts_with("Account "));
    shot(&c, "account-edit").await;
    let edit = c.current_url().await.unwrap();
    c.goto(&format!("{edit}/delete")).await.unwrap();
    shot(&c, "account-delete").await;

    for (path, name) in [
        ("/ui/proxies", "proxies"),
        ("/ui/users", "users"),
        ("/ui/mappings", "mappings"),
        ("/ui/errors", "errors"),
        ("/ui/quota", "quota"),
        ("/ui/password", "password"),
    ] {
        c.goto(&gw.url(path)).await.unwrap();
        shot(&c, name).await;
    }

    // A form on another origin posting to the dashboard is refused.
    let evil = forger(&gw.url("/ui/keys")).await;
    c.goto(&evil).await.unwrap();
    click(&c, "#go").await;
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("not sent from this dashboard")
    );
    c.goto(&gw.url("/ui/keys")).await.unwrap();
    assert!(!c.source().await.unwrap().contains("forged"));

    // On a phone the navigation folds behind a menu button.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&gw.url("/ui/")).await.unwrap();
    let nav = c.find(Locator::Css("#nav")).await.unwrap();
    assert!(!nav.is_displayed().await.unwrap());
    shot(&c, "overview-phone").await;
    c.find(Locator::Css(".nav-toggle"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(nav.is_displayed().await.unwrap());
    shot(&c, "nav-phone").await;
    c.set_window_size(1280, 1000).await.unwrap();

    // A `user` is refused the admin pages by the server.
    click(&c, "form[action='/ui/signout'] button").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/signin");
    sign_in(&c, &gw, "carl", "carl-password").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/ui/keys");
    c.goto(&gw.url("/ui/users")).await.unwrap();
    assert_eq!(text(&c, "h1").await, "Not allowed");
    shot(&c, "forbidden").await;

    c.close().await.unwrap();
}
