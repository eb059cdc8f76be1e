//! Harness: a gateway on port 0 wired to a mock upstream, in either
//! deployment, with a fresh database (temp SQLite file, or a PostgreSQL
//! database created and dropped per test) and its own Redis key prefix.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aigateway::domain::{AuthData, ProviderId, Secret};
use aigateway::handlers::{App, Deployment as HealthDeployment, ServeOptions};
use aigateway::repository::state::StateConfig;
use aigateway::repository::{Keyring, SecretKey, SqlOptions};
use aigateway::services::{Runtime, RuntimeSettings};
use aigw_mock_upstream::MockUpstream;
use aigw_test_support::{PgDatabase, redis_available, redis_url, unique_prefix};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The password of the `admin` user every test gateway starts with.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Which deployment a test runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// SQLite file + in-process shared state.
    Embedded,
    /// PostgreSQL + Redis.
    ScaleOut,
}

/// Where a test gateway keeps its data; the database is dropped with the
/// instance that created it.
struct Stores {
    database_url: String,
    secret_key: SecretKey,
    dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

/// OAuth onboarding against the mock's OAuth server, every flow redirecting
/// to [`OAUTH_CALLBACK`] (tests take the code and state from the redirect and
/// call the gateway's callback themselves).
fn mock_onboarding(base: &str) -> aigateway::services::onboarding::OnboardingSettings {
    use aigateway::services::onboarding::{OAuthApp, OnboardingSettings};
    let app = |defaults: OAuthApp| OAuthApp {
        authorize_url: format!("{base}/oauth/authorize"),
        token_url: format!("{base}/oauth/token"),
        client_id: Some("test-client".to_owned()),
        redirect_uri: None,
        userinfo_url: defaults
            .userinfo_url
            .as_ref()
            .map(|_| format!("{base}/oauth2/v1/userinfo")),
        ..defaults
    };
    OnboardingSettings {
        redirect_uri: OAUTH_CALLBACK.to_owned(),
        callback_origin: Some(OAUTH_ORIGIN.to_owned()),
        google: app(OAuthApp::google()),
        anthropic: app(OAuthApp::anthropic()),
        openai: app(OAuthApp::openai()),
        ..OnboardingSettings::default()
    }
}

/// Where the mock OAuth server sends the browser back (never requested).
pub const OAUTH_CALLBACK: &str = "http://127.0.0.1:9/api/v1/oauth/callback";
/// The admin page origin the callback page posts its result to.
pub const OAUTH_ORIGIN: &str = "http://127.0.0.1:9";

/// A running gateway and the mock upstream it talks to.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub mock: Arc<MockUpstream>,
    pub runtime: Runtime,
    /// What the services were started with, for peers.
    settings: RuntimeSettings,
    /// The database the gateway runs on, to open it beside the gateway.
    pub database_url: String,
    /// The key the gateway's credentials are encrypted with.
    pub secret_key: SecretKey,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

/// A stopped gateway's database, kept until this is dropped, and what its
/// stats writer reported.
pub struct Flushed {
    pub repo: aigateway::repository::SqlRepository,
    pub report: aigateway::services::stats::FlushReport,
    _mock: Arc<MockUpstream>,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

/// A response read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl TestGateway {
    /// Starts a gateway in `deployment`, or returns `None` (after reporting)
    /// when that deployment's services are unreachable and not required.
    pub async fn start(deployment: Deployment) -> Option<Self> {
        Self::start_with(deployment, |_| {}).await
    }

    /// Like [`TestGateway::start`], letting the test adjust the settings.
    pub async fn start_with(
        deployment: Deployment,
        adjust: impl FnOnce(&mut RuntimeSettings),
    ) -> Option<Self> {
        Self::start_serving_with(deployment, adjust, ServeOptions::default()).await
    }

    /// Like [`TestGateway::start`], with the HTTP edge's limits in `options`.
    pub async fn start_serving(deployment: Deployment, options: ServeOptions) -> Option<Self> {
        Self::start_serving_with(deployment, |_| {}, options).await
    }

    async fn start_serving_with(
        deployment: Deployment,
        adjust: impl FnOnce(&mut RuntimeSettings),
        options: ServeOptions,
    ) -> Option<Self> {
        let mock = MockUpstream::start()
            .await
            .expect("start the mock upstream");
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg, state) = match deployment {
            Deployment::Embedded => (
                format!("sqlite://{}", dir.path().join("gw.db").display()),
                None,
                StateConfig::in_process(),
            ),
            Deployment::ScaleOut => {
                if !redis_available().await {
                    return None;
                }
                let pg = PgDatabase::create("aigw_e2e").await?;
                let url = pg.url();
                let mut state = StateConfig::redis(redis_url());
                state.key_prefix = unique_prefix("aigw_e2e_");
                // A loaded CI machine can stall a Redis reply past the
                // production 50 ms bound; these tests are about behaviour
                // with Redis up, not about the fallback (tested on its own).
                state.command_timeout = Duration::from_secs(2);
                (url, Some(pg), state)
            }
        };
        let base = mock.base_url();
        let overrides: BTreeMap<String, String> = [
            ("openai", format!("{base}/v1")),
            ("glm", format!("{base}/api/paas/v4")),
            ("anthropic", format!("{base}/v1")),
            ("gemini", format!("{base}/v1beta")),
            ("antigravity", base.clone()),
            ("codex", format!("{base}/backend-api/codex")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // Like the binary, every test gateway encrypts credentials at rest.
        let secret_key = SecretKey::generate();
        let mut settings = RuntimeSettings {
            database_url: database_url.clone(),
            sql: SqlOptions {
                max_connections: 8,
                acquire_timeout: Duration::from_secs(30),
                keyring: Some(Keyring::new(secret_key.clone())),
                ..SqlOptions::default()
            },
            migrate: true,
            state,
            base_url_overrides: overrides,
            snapshot_refresh: Duration::from_secs(60),
            auth: aigateway::services::admin::auth::AuthSettings {
                admin_password: Some(Secret::new(ADMIN_PASSWORD)),
                ..Default::default()
            },
            onboarding: mock_onboarding(&base),
            ..RuntimeSettings::default()
        };
        adjust(&mut settings);
        let stores = Stores {
            database_url,
            secret_key,
            dir,
            pg,
        };
        Some(Self::launch(settings, Arc::new(mock), stores, options).await)
    }

    /// A second instance sharing this one's database, shared state and mock
    /// upstream: a scale-out peer when this one runs on PostgreSQL + Redis.
    pub async fn start_peer(&self) -> Self {
        let stores = Stores {
            database_url: self.database_url.clone(),
            secret_key: self.secret_key.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            pg: None,
        };
        Self::launch(
            self.settings.clone(),
            Arc::clone(&self.mock),
            stores,
            ServeOptions::default(),
        )
        .await
    }

    async fn launch(
        settings: RuntimeSettings,
        mock: Arc<MockUpstream>,
        stores: Stores,
        options: ServeOptions,
    ) -> Self {
        let Stores {
            database_url,
            secret_key,
            dir,
            pg,
        } = stores;
        let scale_out = settings.database_url.starts_with("postgres");
        let runtime = Runtime::start(settings.clone())
            .await
            .expect("start the services");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = Arc::new(App::new(
            HealthDeployment {
                database: if scale_out { "postgres" } else { "sqlite" },
                shared_state: if scale_out { "redis" } else { "in_process" },
            },
            runtime.admin().clone(),
            1024 * 1024,
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            aigateway::handlers::serve(listener, app, options, shutdown)
                .await
                .expect("server");
        });
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Self {
            addr,
            mock,
            runtime,
            settings,
            database_url,
            secret_key,
            client,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
            _pg: pg,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Issues a client key (for the CLI's default `admin` user).
    pub async fn issue_key(&self) -> String {
        let repo = self.runtime.repository();
        let user = aigateway::services::admin::ensure_user(repo, "admin")
            .await
            .expect("user");
        let issued = aigateway::services::admin::issue_api_key(repo, &user, None)
            .await
            .expect("issue key");
        self.runtime.reload().await.expect("reload");
        issued.raw
    }

    /// Adds an account with `auth` to `provider` and reloads the snapshot.
    pub async fn add_account_with(&self, provider: &str, label: &str, auth: AuthData) -> String {
        let account = aigateway::services::admin::add_account(
            self.runtime.repository(),
            &ProviderId::new(provider).expect("provider id"),
            label,
            auth,
        )
        .await
        .expect("add account");
        self.runtime.reload().await.expect("reload");
        account.id.to_string()
    }

    /// Adds an account the mock knows by `key` to `provider`: an OAuth
    /// account good for a day (with a project) on Antigravity, which takes
    /// no API key, an API-key account elsewhere.
    pub async fn add_account_for(&self, provider: &str, key: &str) -> String {
        if provider != "antigravity" {
            return self.add_api_key_account(provider, key).await;
        }
        self.add_account_with(
            provider,
            key,
            AuthData::Oauth(Box::new(aigateway::domain::OAuthCredentials {
                access_token: Some(Secret::new(key)),
                refresh_token: Some(Secret::new(format!("refresh-{key}"))),
                expires_at: Some(chrono::Utc::now() + chrono::Duration::days(1)),
                project_id: Some("proj-e2e".to_owned()),
                ..aigateway::domain::OAuthCredentials::default()
            })),
        )
        .await
    }

    /// Adds an API-key account whose key is `key` (the mock's account key).
    pub async fn add_api_key_account(&self, provider: &str, key: &str) -> String {
        self.add_account_with(
            provider,
            key,
            AuthData::ApiKey {
                api_key: Secret::new(key),
            },
        )
        .await
    }

    /// Sends a request and reads the whole response.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let resp = self.send(method, path, headers, body).await;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("read body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Sends a request and returns the response with its body unread.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> http::Response<hyper::body::Incoming> {
        let mut req = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        self.client.request(req).await.expect("send request")
    }

    /// POSTs JSON with the key in the header the client format's SDK uses.
    pub async fn post(&self, path: &str, key: &str, body: serde_json::Value) -> Resp {
        let auth = format!("Bearer {key}");
        let headers: Vec<(&str, &str)> = if path == "/v1/messages" {
            vec![("x-api-key", key), ("content-type", "application/json")]
        } else {
            vec![
                ("authorization", &auth),
                ("content-type", "application/json"),
            ]
        };
        self.request(Method::POST, path, &headers, body.to_string())
            .await
    }

    /// Stops the server, then the services (draining the stats writer), and
    /// returns the repository for inspection with the flush report.
    pub async fn stop_and_flush(self) -> Flushed {
        let TestGateway {
            runtime,
            mock,
            stop,
            server,
            _dir,
            _pg,
            ..
        } = self;
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(server) = server {
            let _ = server.await;
        }
        let repo = runtime.repository().clone();
        let report = runtime.shutdown().await.expect("stats report");
        Flushed {
            repo,
            report,
            _mock: mock,
            _dir,
            _pg,
        }
    }

    /// Sends a body the server may refuse before reading it: `None` when the
    /// connection was closed while the body was still being written.
    pub async fn try_post_raw(&self, path: &str, key: &str, body: String) -> Option<Resp> {
        let auth = format!("Bearer {key}");
        let mut req = Request::builder().method(Method::POST).uri(self.url(path));
        req = if path == "/v1/messages" {
            req.header("x-api-key", key)
        } else {
            req.header("authorization", auth)
        };
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        match self.client.request(req).await {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                let body = body.collect().await.expect("read body").to_bytes();
                Some(Resp {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                })
            }
            Err(e) => {
                let text = format!("{e:?}");
                assert!(
                    text.contains("BodyWrite") || text.contains("BrokenPipe"),
                    "unexpected error: {text}"
                );
                None
            }
        }
    }

    /// Stops the server and the services.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

// Dropping a `TestGateway` drops `stop`, which ends the server's shutdown
// future: the server stops with it.

/// Parses an SSE body into (event name, data JSON) pairs; `[DONE]` becomes
/// `("done", null)`.
pub fn sse_events(body: &str) -> Vec<(String, serde_json::Value)> {
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let mut name = String::from("message");
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if data.is_empty() {
            continue;
        }
        if data == "[DONE]" {
            events.push(("done".to_owned(), serde_json::Value::Null));
        } else {
            events.push((
                name,
                serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("bad event data {data}: {e}")),
            ));
        }
    }
    events
}

/// Runs each `async fn name(d: Deployment)` in both deployments, as
/// `embedded::name` and `scale_out::name`.
macro_rules! deployment_tests {
    ($($name:ident),* $(,)?) => {
        aigw_test_support::case_tests! {
            worker_threads = 2;
            embedded => aigw_test_support::Arg($crate::support::Deployment::Embedded),
            scale_out => aigw_test_support::Arg($crate::support::Deployment::ScaleOut);
            tests [$($name),*]
        }
    };
}
