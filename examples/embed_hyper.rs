//! Mounts the gateway inside another hyper service. The host answers
//! `/healthz` itself and hands every `/v1/…` request to the gateway's
//! [`App::handle`]; everything else is its own 404. The gateway's settings
//! are values built in code (no configuration file, no environment), its
//! database a SQLite file in a temporary directory, and its one upstream
//! account is served by the mock upstream on 127.0.0.1.
//!
//! Run: `cargo run --example embed_hyper`. `cargo test --example
//! embed_hyper` (and `cargo test --workspace`) runs the same steps as a test.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aigateway::domain::{AuthData, ProviderId, Secret};
use aigateway::handlers::{App, Deployment, ResponseBody};
use aigateway::repository::{Keyring, SecretKey, SqlOptions};
use aigateway::services::admin::{add_account, ensure_user, issue_api_key};
use aigateway::services::{Runtime, RuntimeSettings};
use aigw_mock_upstream::MockUpstream;
use anyhow::Context as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The largest request body the gateway reads.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the host service answered.
#[derive(Debug)]
struct Answers {
    /// `GET /healthz`, answered by the host.
    healthz: (StatusCode, String),
    /// `POST /v1/chat/completions`, answered by the gateway.
    chat: (StatusCode, Value),
    /// `POST /v1/messages` streaming, answered by the gateway (an OpenAI
    /// upstream translated into Anthropic events).
    messages_stream: (StatusCode, String),
    /// `POST /v1/chat/completions` without a key.
    no_key: StatusCode,
    /// `GET /elsewhere`, the host's own 404.
    elsewhere: StatusCode,
    /// Upstream calls the mock received (counted once the host has stopped).
    upstream_calls: usize,
}

/// The gateway's settings as values: SQLite in `dir`, credentials sealed
/// with a key generated here, the `openai` provider pointed at the mock.
fn settings(dir: &std::path::Path, mock: &MockUpstream) -> RuntimeSettings {
    let base_url_overrides =
        BTreeMap::from([("openai".to_owned(), format!("{}/v1", mock.base_url()))]);
    RuntimeSettings {
        database_url: format!("sqlite://{}", dir.join("gateway.db").display()),
        sql: SqlOptions {
            keyring: Some(Keyring::new(SecretKey::generate())),
            ..SqlOptions::default()
        },
        base_url_overrides,
        ..RuntimeSettings::default()
    }
}

/// The host service: its own routes, and the gateway's under `/v1/`.
async fn host(app: Arc<App>, req: Request<Incoming>) -> Result<Response<ResponseBody>, Infallible> {
    let path = req.uri().path();
    let resp = if path == "/healthz" {
        Response::new(ResponseBody::full("ok"))
    } else if path == "/v1" || path.starts_with("/v1/") {
        app.handle(req).await
    } else {
        let mut resp = Response::new(ResponseBody::full("not found"));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        resp
    };
    Ok(resp)
}

/// Serves [`host`] on `listener` until `stop` fires.
async fn serve_host(listener: TcpListener, app: Arc<App>, mut stop: oneshot::Receiver<()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = &mut stop => return,
        };
        let app = Arc::clone(&app);
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |req| host(Arc::clone(&app), req)),
            )
            .into_owned();
        #[expect(
            clippy::disallowed_methods,
            reason = "the host serves each connection on its own task, as the gateway's server does"
        )]
        tokio::spawn(connection);
    }
}

/// An HTTP client of the host at `addr`.
struct HostClient {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HostClient {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = if body.is_null() {
            Bytes::new()
        } else {
            body.to_string().into()
        };
        let resp = self.client.request(req.body(Full::new(body))?).await?;
        let status = resp.status();
        Ok((status, resp.into_body().collect().await?.to_bytes()))
    }
}

async fn run() -> anyhow::Result<Answers> {
    let mock = MockUpstream::start().await?;
    let dir = tempfile::tempdir()?;
    let runtime = Runtime::start(settings(dir.path(), &mock)).await?;

    // A client key, and one upstream account the mock knows by its key.
    let repo = runtime.repository();
    let user = ensure_user(repo, "host-service").await?;
    let key = issue_api_key(repo, &user, Some("example".to_owned()))
        .await?
        .raw;
    let openai = ProviderId::new("openai").context("a valid provider id")?;
    let api_key = Secret::new("sk-mock-account");
    add_account(repo, &openai, "mock account", AuthData::ApiKey { api_key }).await?;
    runtime.reload().await?;

    // The gateway as a value the host calls, without its dashboard.
    let deployment = Deployment {
        database: "sqlite",
        shared_state: "in_process",
    };
    let app = App::new(deployment, runtime.admin().clone(), MAX_BODY_BYTES).with_dashboard(None);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = HostClient {
        addr: listener.local_addr()?,
        client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
    };
    let (stop, stopped) = oneshot::channel();
    // The host serves while the client asks, on this task: no task is
    // spawned but the host's one per connection.
    let asking = async {
        let answers = ask(&client, &key).await;
        let _ = stop.send(());
        answers
    };
    let ((), answers) = tokio::join!(serve_host(listener, Arc::new(app), stopped), asking);
    let mut answers = answers?;
    answers.upstream_calls = mock.count_for("sk-mock-account");

    // The host has stopped; then the gateway's services (which drains the
    // stats writer), then the mock.
    runtime.shutdown().await;
    mock.shutdown().await;
    Ok(answers)
}

/// Asks the host at `client` for its own and the gateway's paths, with the
/// client key `key`.
async fn ask(client: &HostClient, key: &str) -> anyhow::Result<Answers> {
    let bearer = format!("Bearer {key}");
    let (status, body) = client
        .send(Method::GET, "/healthz", &[], Value::Null)
        .await?;
    let healthz = (status, String::from_utf8(body.to_vec())?);
    let chat_request = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = client
        .send(
            Method::POST,
            "/v1/chat/completions",
            &[("authorization", &bearer)],
            chat_request.clone(),
        )
        .await?;
    let chat = (status, serde_json::from_slice(&body)?);
    let (status, body) = client
        .send(
            Method::POST,
            "/v1/messages",
            &[("x-api-key", key), ("anthropic-version", "2023-06-01")],
            json!({"model": "gpt-4o", "max_tokens": 64, "stream": true,
                "messages": [{"role": "user", "content": "stream this"}]}),
        )
        .await?;
    let messages_stream = (status, String::from_utf8(body.to_vec())?);
    let (no_key, _) = client
        .send(Method::POST, "/v1/chat/completions", &[], chat_request)
        .await?;
    let (elsewhere, _) = client
        .send(Method::GET, "/elsewhere", &[], Value::Null)
        .await?;
    Ok(Answers {
        healthz,
        chat,
        messages_stream,
        no_key,
        elsewhere,
        upstream_calls: 0,
    })
}

#[expect(
    clippy::print_stdout,
    reason = "the example shows what the host answered"
)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let answers = tokio::time::timeout(Duration::from_secs(60), run())
        .await
        .context("the example did not finish within 60 s")??;
    println!("GET /healthz: {} {}", answers.healthz.0, answers.healthz.1);
    println!(
        "POST /v1/chat/completions: {} {}",
        answers.chat.0, answers.chat.1["choices"][0]["message"]["content"]
    );
    println!(
        "POST /v1/messages (stream): {}\n{}",
        answers.messages_stream.0, answers.messages_stream.1
    );
    println!(
        "POST /v1/chat/completions without a key: {}",
        answers.no_key
    );
    println!("GET /elsewhere: {}", answers.elsewhere);
    println!("upstream calls: {}", answers.upstream_calls);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_host_answers_its_own_paths_and_the_gateway_the_data_plane() {
        let answers = run().await.unwrap();

        assert_eq!(answers.healthz, (StatusCode::OK, "ok".to_owned()));

        let (status, chat) = &answers.chat;
        assert_eq!(*status, StatusCode::OK, "{chat}");
        assert_eq!(chat["object"], "chat.completion");
        assert_eq!(chat["choices"][0]["message"]["content"], "echo: hi");

        let (status, stream) = &answers.messages_stream;
        assert_eq!(*status, StatusCode::OK, "{stream}");
        assert!(stream.starts_with("event: message_start\n"), "{stream}");
        let text: String = stream
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .filter_map(|event| event["delta"]["text"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(text, "echo: stream this", "{stream}");
        assert!(stream.contains("event: message_stop\n"), "{stream}");

        assert_eq!(answers.no_key, StatusCode::UNAUTHORIZED);
        assert_eq!(answers.elsewhere, StatusCode::NOT_FOUND);
        assert_eq!(answers.upstream_calls, 2);
    }
}
