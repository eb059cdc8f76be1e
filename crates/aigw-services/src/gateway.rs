//! The data plane: one client request from authentication to the reply in
//! the client's own format.
//!
//! ```text
//! authenticate (snapshot) → inspect body → route (snapshot) → select account
//! (one shared INCR) → credential → translate request → send through the
//! account's route → classify → translate reply or stream back
//! ```
//!
//! No SQL runs here and no lock is held across an `.await`: everything read
//! comes from one `Arc<Snapshot>` loaded at the start.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aigw_domain::{Account, ApiKeyId, Format, ProviderKind, UserId};
use aigw_formats::RequestMeta;
use aigw_repository::state::SharedState;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};

use aigw_formats::stream::{StreamContext, StreamError, StreamTranslator};

use crate::Error;
use crate::client_pool::{ClientPool, Route};
use crate::selector::{counter_key, first_usable, pick};
use crate::snapshot::SnapshotStore;
use crate::stream::{ClientStream, PrimeError};
use crate::upstream::{auth_headers, endpoint_url};

/// Who is calling the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Principal {
    /// The client key used, if any.
    pub api_key_id: Option<ApiKeyId>,
    /// Its owner.
    pub user_id: Option<UserId>,
}

/// Data-plane settings.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Refuse requests without a valid client key.
    pub require_client_key: bool,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            require_client_key: true,
        }
    }
}

/// What the client gets back.
#[derive(Debug)]
pub enum Reply {
    /// A complete JSON body in the client's format.
    Full {
        /// The HTTP status.
        status: StatusCode,
        /// The body.
        body: Bytes,
    },
    /// A server-sent event stream in the client's format.
    Stream(Box<ClientStream>),
}

/// The data plane. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    snapshot: SnapshotStore,
    state: SharedState,
    pool: ClientPool,
    settings: GatewaySettings,
    /// Used only if the shared store cannot count at all, so selection still rotates.
    local_counter: AtomicU64,
}

impl Gateway {
    /// A data plane reading `snapshot`, counting in `state`, sending through `pool`.
    pub fn new(
        snapshot: SnapshotStore,
        state: SharedState,
        pool: ClientPool,
        settings: GatewaySettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                snapshot,
                state,
                pool,
                settings,
                local_counter: AtomicU64::new(0),
            }),
        }
    }

    /// The snapshot store this gateway reads.
    pub fn snapshot(&self) -> &SnapshotStore {
        &self.inner.snapshot
    }

    /// The shared state this gateway counts in.
    pub fn state(&self) -> &SharedState {
        &self.inner.state
    }

    /// The client pool this gateway sends through.
    pub fn pool(&self) -> &ClientPool {
        &self.inner.pool
    }

    /// Checks the client's credential against the snapshot's active keys.
    pub fn authenticate(&self, credential: Option<&str>) -> Result<Principal, Error> {
        let snapshot = self.inner.snapshot.load();
        match credential.and_then(|c| snapshot.client_key(c)) {
            Some(found) => Ok(Principal {
                api_key_id: Some(found.key.id),
                user_id: Some(found.key.user_id),
            }),
            None if !self.inner.settings.require_client_key && credential.is_none() => {
                Ok(Principal::default())
            }
            None => Err(Error::Unauthenticated),
        }
    }

    /// Serves one request of `client` format.
    pub async fn handle(
        &self,
        principal: &Principal,
        client: Format,
        body: Bytes,
        request_id: &str,
    ) -> Result<Reply, Error> {
        let meta = RequestMeta::parse(client, &body)?;
        let snapshot = self.inner.snapshot.load();
        let candidates = snapshot.route(&meta.model, principal.user_id);
        if candidates.is_empty() {
            return Err(Error::ModelNotFound(meta.model));
        }
        let mut scratch = Vec::new();
        let Some((entry, upstream_model)) =
            first_usable(&snapshot, &candidates, |_, _| true, &mut scratch)
        else {
            return Err(Error::NoUsableAccount {
                model: meta.model,
                retry_after: None,
            });
        };
        let counter = self
            .next_counter(entry.provider.id.as_str(), upstream_model)
            .await;
        let account = pick(&scratch, counter).ok_or_else(|| Error::NoUsableAccount {
            model: meta.model.clone(),
            retry_after: None,
        })?;
        let kind = entry.provider.kind;
        let attempt = Attempt {
            request_id,
            account: &account,
            kind,
            base_url: &entry.provider.base_url,
            upstream_model,
            client,
            meta: &meta,
            body: &body,
        };
        self.send(attempt).await
    }

    async fn next_counter(&self, provider: &str, model: &str) -> u64 {
        match self.inner.state.incr(&counter_key(provider, model)).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "round-robin counter unavailable; rotating locally");
                self.inner.local_counter.fetch_add(1, Ordering::Relaxed) + 1
            }
        }
    }

    async fn send(&self, attempt: Attempt<'_>) -> Result<Reply, Error> {
        let upstream_format = attempt.kind.format();
        let project = project_id(attempt.account);
        let envelope = aigw_formats::AntigravityEnvelope {
            project,
            request_id: attempt.request_id,
            ..aigw_formats::AntigravityEnvelope::DEFAULT
        };
        let target = aigw_formats::UpstreamTarget::new(attempt.upstream_model, attempt.meta.stream)
            .with_antigravity(envelope);
        let payload = aigw_formats::translate_request(
            attempt.client,
            upstream_format,
            attempt.body,
            &target,
        )?;
        let url = endpoint_url(
            attempt.kind,
            attempt.base_url,
            attempt.upstream_model,
            attempt.meta.stream,
        );
        let oauth_token = oauth_access_token(attempt.account);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if attempt.meta.stream {
            request = request.header(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        for (name, value) in auth_headers(attempt.kind, attempt.account, oauth_token)? {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(payload))
            .map_err(|_| Error::InvalidUpstreamUrl)?;
        let response = self
            .inner
            .pool
            .send(&Route::Direct, request)
            .await
            .map_err(Error::Upstream)?;
        let status = response.status();
        if !status.is_success() {
            let body = collect(response.into_body()).await?;
            let translated = aigw_formats::translate_error(
                upstream_format,
                attempt.client,
                status.as_u16(),
                &body,
            );
            return Err(Error::UpstreamStatus {
                status,
                body: translated,
            });
        }
        let created = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
        if attempt.meta.stream {
            let ctx = StreamContext {
                request_id: attempt.request_id.to_owned(),
                model: attempt.meta.model.clone(),
                created,
                include_usage: attempt.meta.include_usage,
            };
            let translator = StreamTranslator::new(upstream_format, attempt.client, ctx)
                .map_err(|e| Error::UpstreamStream(e.to_string()))?;
            let mut stream = ClientStream::new(response.into_body(), translator);
            return match stream.prime().await {
                Ok(()) => Ok(Reply::Stream(Box::new(stream))),
                Err(PrimeError::Upstream(e)) => Err(Error::Upstream(e)),
                Err(PrimeError::Stream(StreamError::Upstream(e))) => Err(Error::UpstreamStatus {
                    status: StatusCode::from_u16(e.kind.http_status())
                        .unwrap_or(StatusCode::BAD_GATEWAY),
                    body: aigw_formats::error_body(attempt.client, e.kind, &e.message, None),
                }),
                Err(PrimeError::Stream(e)) => Err(Error::UpstreamStream(e.to_string())),
            };
        }
        let body = collect(response.into_body()).await?;
        let ctx = aigw_formats::ResponseContext {
            model: &attempt.meta.model,
            request_id: attempt.request_id,
            created,
        };
        let (translated, _usage) =
            aigw_formats::translate_response(upstream_format, attempt.client, body, &ctx)
                .map_err(Error::UpstreamResponse)?;
        Ok(Reply::Full {
            status: StatusCode::OK,
            body: translated,
        })
    }
}

/// One try at one account.
struct Attempt<'a> {
    request_id: &'a str,
    account: &'a Account,
    kind: ProviderKind,
    base_url: &'a str,
    upstream_model: &'a str,
    client: Format,
    meta: &'a RequestMeta,
    body: &'a Bytes,
}

async fn collect(body: crate::client_pool::UpstreamBody) -> Result<Bytes, Error> {
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(Error::Upstream)
}

fn oauth_access_token(account: &Account) -> Option<&str> {
    match &account.auth_data {
        aigw_domain::AuthData::Oauth(o) => o.access_token.as_ref().map(|t| t.expose()),
        _ => None,
    }
}

/// The Google Cloud project of an Antigravity account: from its OAuth
/// credentials, else from its metadata (where OAuth onboarding puts it).
fn project_id(account: &Account) -> Option<&str> {
    if let aigw_domain::AuthData::Oauth(o) = &account.auth_data
        && let Some(p) = &o.project_id
    {
        return Some(p);
    }
    account.metadata.get("project_id").and_then(|v| v.as_str())
}
