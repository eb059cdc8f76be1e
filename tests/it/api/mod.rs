//! The management API end to end: sign-in, roles and ownership, each
//! resource's happy path and error statuses, the authorization matrix over
//! the route table, and that stored secrets never come back.
//!
//! Every response these tests read goes through [`Api::call`], which fails
//! the test if a body contains [`CANARY`]: the tests store credentials
//! carrying that marker, and no answer may ever include one.

mod auth;
mod matrix;
mod oauth;
mod reports;
mod resources;
mod scale_out;

use std::io::Write;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use http::Method;
use serde_json::Value;

use crate::support::{ADMIN_PASSWORD, Resp, TestGateway};

/// A marker inside every secret the API tests store.
pub const CANARY: &str = "canary-5e1f0c";

/// A management-API client of one test gateway.
pub struct Api<'a> {
    pub gw: &'a TestGateway,
}

impl<'a> Api<'a> {
    pub fn new(gw: &'a TestGateway) -> Self {
        captured_logs();
        Self { gw }
    }

    /// Sends a request with an optional bearer credential and JSON body, and
    /// checks that the answer carries no stored secret and, on errors, the
    /// management API's error shape.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        credential: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let auth = credential.map(|c| format!("Bearer {c}"));
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let resp = self.gw.request(method.clone(), path, &headers, body).await;
        check_response(&method, path, &resp);
        resp
    }

    pub async fn get(&self, path: &str, credential: &str) -> Resp {
        self.call(Method::GET, path, Some(credential), None).await
    }

    pub async fn post(&self, path: &str, credential: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(credential), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, credential: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(credential), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, credential: &str) -> Resp {
        self.call(Method::DELETE, path, Some(credential), None)
            .await
    }

    /// Signs in and returns the session token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let resp = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(resp.status, 200, "login as {username}: {}", resp.text());
        resp.json()["token"].as_str().unwrap().to_owned()
    }

    /// The session token of the bootstrap `admin`.
    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates a user with `role` (as `admin_token`) and returns (id, token).
    pub async fn user(&self, admin_token: &str, username: &str, role: &str) -> (String, String) {
        let password = format!("{username}-password");
        let resp = self
            .post(
                "/api/v1/users",
                admin_token,
                serde_json::json!({"username": username, "password": password, "role": role}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.text());
        let id = resp.json()["id"].as_str().unwrap().to_owned();
        (id, self.login(username, &password).await)
    }
}

/// What every management answer must satisfy.
pub fn check_response(method: &Method, path: &str, resp: &Resp) {
    let text = resp.text();
    assert!(
        !text.contains(CANARY),
        "{method} {path} returned a stored secret: {text}"
    );
    if resp.status.is_client_error() || resp.status.is_server_error() {
        let body = resp.json();
        assert!(
            body["error"].is_string() && body["code"].is_string(),
            "{method} {path}: error without the error shape: {text}"
        );
        assert_eq!(
            body["request_id"].as_str(),
            resp.headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            "{method} {path}: request_id differs from the x-request-id header"
        );
    }
}

/// Every log line of the gateway's crates written by this test process,
/// at every level: the subscriber is installed once, by the first API test,
/// and sees the requests of every test running alongside.
pub fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,aigw_services=trace,aigw_handlers=trace,aigw_repository=trace,aigateway=trace",
            ))
            .with_writer(move || LogSink(sink.clone()))
            .with_ansi(false)
            .finish();
        // Another test module may have installed one first; then there is
        // nothing to capture here and the check below is vacuous, so fail.
        tracing_subscriber::util::SubscriberInitExt::try_init(subscriber)
            .expect("no other global tracing subscriber in the e2e binary");
        buffer
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fails if any captured log line so far contains a stored secret; returns
/// how many bytes of log were checked.
pub fn assert_logs_free_of_canary() -> usize {
    let logs = captured_logs();
    let logs = logs.lock();
    let text = String::from_utf8_lossy(&logs);
    if let Some(line) = text.lines().find(|l| l.contains(CANARY)) {
        panic!("a log line carries a stored secret: {line}");
    }
    logs.len()
}
