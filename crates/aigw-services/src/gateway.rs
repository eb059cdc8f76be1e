//! The data plane: one client request from authentication to the reply in
//! the client's own format.
//!
//! ```text
//! authenticate (snapshot) → inspect body → route (snapshot) → select account
//! (one shared INCR) → credential → translate request → send through the
//! account's egress → classify → translate reply or stream back
//! ```
//!
//! No SQL runs here and no lock is held across an `.await`: everything read
//! comes from one `Arc<Snapshot>` loaded at the start.

use std::sync::Arc;
use std::time::Instant;

use aigw_domain::{Account, AccountId, ApiKeyId, Format, ProviderKind, ProxyId, UserId};
use aigw_formats::RequestMeta;
use aigw_repository::state::SharedState;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use aigw_formats::stream::{StreamContext, StreamError, StreamTranslator};

use crate::attempt::{Attempt, AttemptFailure, Exchange, Refused, Requested};
use crate::client_pool::{ClientPool, Egress, RequestBody, TransportError, UpstreamBody};
use crate::cooldown::{CooldownNotice, CooldownReason, Cooldowns};
use crate::credentials::{CredentialError, CredentialService};
use crate::failover::{FailoverSettings, Verdict};
use crate::limits::UpstreamLimits;
use crate::metrics::Metrics;
use crate::pins::{self, Pin, PinQueue};
use crate::redact::Secrets;
use crate::selector::{Conversation, Selection, Selector, Turn};
use crate::snapshot::{RouteCandidate, SnapshotStore};
use crate::stats::{StatsRecorder, TokenUsage};
use crate::stream::{ClientStream, PrimeError};
use crate::token_count::{Counter, estimate_chat};
use crate::upstream::{
    ClientHeaders, anthropic_headers, auth_headers, count_tokens_url, endpoint_url, upstream_format,
};
use crate::{ErrorStatus, RequestError};

/// Tunnel failures on traffic waiting for the proxy health task; more are
/// dropped (the proxy is failing anyway, and the next round of probes sees
/// it).
const PROXY_REPORTS_QUEUE: usize = 1024;

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
    /// Attempts, time bound and cooldowns of failover.
    pub failover: FailoverSettings,
    /// How long the account that produced a Responses id is remembered, so
    /// that a follow-up naming it (`previous_response_id`) goes there.
    pub response_pin_ttl: std::time::Duration,
    /// How long a conversation stays on its account after its last turn
    /// (providers with session affinity).
    pub affinity_ttl: std::time::Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            require_client_key: true,
            failover: FailoverSettings::default(),
            response_pin_ttl: std::time::Duration::from_secs(24 * 3600),
            affinity_ttl: std::time::Duration::from_secs(3600),
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
    /// A token count in the client's format (status 200).
    Count {
        /// The body: `{"input_tokens": n}` or `{"totalTokens": n}`.
        body: Bytes,
        /// Whether the upstream counted or the gateway estimated.
        counter: Counter,
    },
}

/// A client request as the data plane takes it: its format, and what its
/// URL says that its body does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCall {
    /// A body that names its model and whether it streams (OpenAI Chat,
    /// OpenAI Responses, Anthropic Messages).
    Body(Format),
    /// Anthropic's `POST /v1/messages/count_tokens`: a Messages body
    /// without `max_tokens`, whose prompt is counted.
    AnthropicCountTokens,
    /// A Gemini call: the model and the method are in the URL.
    Gemini {
        /// The model named by the path, percent-decoded.
        model: String,
        /// What the client asks of it.
        method: GeminiMethod,
    },
}

/// The Gemini methods the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiMethod {
    /// `:generateContent`.
    Generate,
    /// `:streamGenerateContent`: SSE with `alt=sse`, else one JSON array.
    Stream {
        /// The client asked `alt=sse`.
        sse: bool,
    },
    /// `:countTokens`, answered by the upstream's own counter.
    CountTokens,
}

impl ClientCall {
    /// The client's wire format.
    pub const fn format(&self) -> Format {
        match self {
            Self::Body(format) => *format,
            Self::AnthropicCountTokens => Format::AnthropicMessages,
            Self::Gemini { .. } => Format::Gemini,
        }
    }

    /// The first look at the body: model, stream flag, and the 400s that
    /// name a field; with the generation request to translate, which for a
    /// token count is the request it counts.
    fn inspect(&self, body: &Bytes) -> Result<(RequestMeta, Bytes), aigw_formats::FormatError> {
        match self {
            Self::Body(format) => Ok((RequestMeta::parse(*format, body)?, body.clone())),
            Self::AnthropicCountTokens => {
                let counted = aigw_formats::anthropic_count_request(body)?;
                let meta = RequestMeta::parse(Format::AnthropicMessages, &counted)?;
                Ok((meta, counted))
            }
            Self::Gemini { model, method } => match method {
                GeminiMethod::Generate => {
                    Ok((RequestMeta::parse_gemini(model, false, body)?, body.clone()))
                }
                GeminiMethod::Stream { .. } => {
                    Ok((RequestMeta::parse_gemini(model, true, body)?, body.clone()))
                }
                GeminiMethod::CountTokens => {
                    let counted = aigw_formats::gemini_count_request(body)?;
                    let meta = RequestMeta::parse_gemini(model, false, &counted)?;
                    Ok((meta, counted))
                }
            },
        }
    }

    /// Whether the call only counts the prompt's tokens.
    const fn counts_tokens(&self) -> bool {
        matches!(
            self,
            Self::AnthropicCountTokens
                | Self::Gemini {
                    method: GeminiMethod::CountTokens,
                    ..
                }
        )
    }

    /// Who counts this call's tokens on an upstream of `kind`: `None` for a
    /// call that does not count, or cannot be counted there.
    const fn counter(&self, kind: ProviderKind) -> Option<Counter> {
        if self.counts_tokens() {
            Counter::of(self.format(), kind)
        } else {
            None
        }
    }

    /// A Gemini stream without `alt=sse`: the chunks form one JSON array.
    pub const fn json_array(&self) -> bool {
        matches!(
            self,
            Self::Gemini {
                method: GeminiMethod::Stream { sse: false },
                ..
            }
        )
    }
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
    cooldowns: Cooldowns,
    /// The receiving end of the cooldown announcements, until the runtime
    /// takes it to publish them.
    cooldown_notices: parking_lot::Mutex<Option<tokio::sync::mpsc::Receiver<CooldownNotice>>>,
    metrics: Metrics,
    /// The receiving end of the pin queue (response and conversation pins),
    /// until the runtime takes it to write the pins.
    pin_outbox: parking_lot::Mutex<Option<tokio::sync::mpsc::Receiver<Pin>>>,
    credentials: CredentialService,
    stats: StatsRecorder,
    /// Account selection; it holds the pin queue.
    selector: Selector,
    /// Proxies whose tunnel failed on traffic, for the proxy health task.
    proxy_reports: tokio::sync::mpsc::Sender<ProxyId>,
    /// The receiving end, until the runtime takes it.
    proxy_reports_rx: parking_lot::Mutex<Option<tokio::sync::mpsc::Receiver<ProxyId>>>,
}

impl Gateway {
    /// A data plane reading `snapshot`, counting in `state`, sending through `pool`.
    pub fn new(
        snapshot: SnapshotStore,
        state: SharedState,
        pool: ClientPool,
        credentials: CredentialService,
        stats: StatsRecorder,
        settings: GatewaySettings,
    ) -> Self {
        let (cooldowns, cooldown_notices) = Cooldowns::with_outbox();
        let cooldowns = cooldowns.with_down(stats.down_accounts().clone());
        let (proxy_reports, proxy_reports_rx) = tokio::sync::mpsc::channel(PROXY_REPORTS_QUEUE);
        let (pins, pin_outbox) = PinQueue::new();
        let selector = Selector::new(state.clone(), pins, settings.affinity_ttl);
        Self {
            inner: Arc::new(Inner {
                snapshot,
                state,
                pool,
                settings,
                cooldowns,
                cooldown_notices: parking_lot::Mutex::new(Some(cooldown_notices)),
                metrics: Metrics::default(),
                pin_outbox: parking_lot::Mutex::new(Some(pin_outbox)),
                credentials,
                stats,
                selector,
                proxy_reports,
                proxy_reports_rx: parking_lot::Mutex::new(Some(proxy_reports_rx)),
            }),
        }
    }

    /// The proxies whose tunnel failed on this instance's traffic, for the
    /// proxy health task; `None` once taken.
    pub(crate) fn take_proxy_reports(&self) -> Option<tokio::sync::mpsc::Receiver<ProxyId>> {
        self.inner.proxy_reports_rx.lock().take()
    }

    /// The snapshot store this gateway reads.
    pub fn snapshot(&self) -> &SnapshotStore {
        &self.inner.snapshot
    }

    /// The shared state this gateway counts in.
    pub fn state(&self) -> &SharedState {
        &self.inner.state
    }

    /// The cooldowns in force on this instance.
    pub fn cooldowns(&self) -> &Cooldowns {
        &self.inner.cooldowns
    }

    /// The cooldowns this instance sets, to announce to the others; `None`
    /// once taken. Until taken, announcements queue up to a bound and then
    /// are dropped (and counted).
    pub fn take_cooldown_notices(&self) -> Option<tokio::sync::mpsc::Receiver<CooldownNotice>> {
        self.inner.cooldown_notices.lock().take()
    }

    /// The Responses ids this instance pins to their accounts, to write to
    /// the shared state; `None` once taken. Until taken, pins queue up to a
    /// bound and then are dropped (and counted).
    pub fn take_pin_outbox(&self) -> Option<tokio::sync::mpsc::Receiver<Pin>> {
        self.inner.pin_outbox.lock().take()
    }

    /// How long a response id stays pinned to its account.
    pub fn response_pin_ttl(&self) -> std::time::Duration {
        self.inner.settings.response_pin_ttl
    }

    /// The queue of response and conversation pins this instance writes.
    pub(crate) fn pin_queue(&self) -> &PinQueue {
        self.inner.selector.pins()
    }

    /// Response and conversation pins dropped because their queue was full.
    pub fn response_pins_dropped(&self) -> u64 {
        self.inner.selector.pins().dropped()
    }

    /// The OAuth credential service.
    pub fn credentials(&self) -> &CredentialService {
        &self.inner.credentials
    }

    /// The stats recorder requests report to.
    pub fn stats(&self) -> &StatsRecorder {
        &self.inner.stats
    }

    /// The data plane's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The client pool this gateway sends through.
    pub fn pool(&self) -> &ClientPool {
        &self.inner.pool
    }

    /// Checks the client's credential against the snapshot's active keys.
    pub fn authenticate(&self, credential: Option<&str>) -> Result<Principal, RequestError> {
        let snapshot = self.inner.snapshot.load();
        match credential.and_then(|c| snapshot.client_key(c)) {
            Some(found) => Ok(Principal {
                api_key_id: Some(found.key.id),
                user_id: Some(found.key.user_id),
            }),
            None if !self.inner.settings.require_client_key && credential.is_none() => {
                Ok(Principal::default())
            }
            None => Err(RequestError::Unauthenticated),
        }
    }

    /// Serves one request of `client` format; `headers` are the client's
    /// headers that go on to the upstream, `status_of` the HTTP layer's
    /// status table, which labels the request's metrics.
    pub async fn handle(
        &self,
        principal: &Principal,
        client: Format,
        body: Bytes,
        request_id: &str,
        headers: &ClientHeaders,
        status_of: ErrorStatus<RequestError>,
    ) -> Result<Reply, RequestError> {
        self.handle_call(
            principal,
            &ClientCall::Body(client),
            body,
            request_id,
            headers,
            status_of,
        )
        .await
    }

    /// Serves one client request described by `call` (a Gemini call's model
    /// and method come from its URL); `headers` are the client's headers
    /// that go on to the upstream, `status_of` the HTTP layer's status
    /// table, which labels the request's metrics.
    pub async fn handle_call(
        &self,
        principal: &Principal,
        call: &ClientCall,
        body: Bytes,
        request_id: &str,
        headers: &ClientHeaders,
        status_of: ErrorStatus<RequestError>,
    ) -> Result<Reply, RequestError> {
        let client = call.format();
        let mut served = Served::default();
        let result = self
            .handle_inner(principal, call, body, request_id, headers, &mut served)
            .await;
        let status = match &result {
            Ok(Reply::Full { status, .. }) => status.as_u16(),
            Ok(Reply::Stream(_) | Reply::Count { .. }) => 200,
            Err(e) => status_of(e).as_u16(),
        };
        if served.attempts == 0 {
            Refused {
                request_id,
                api_key_id: principal.api_key_id,
                model: served.model.as_deref(),
                status,
                error: result.as_ref().err(),
            }
            .record(&self.inner.stats);
        }
        self.inner.metrics.request(
            served.provider.as_ref().map_or("none", |p| p.as_str()),
            served.model_label(),
            status,
            client.as_str(),
        );
        result
    }

    /// The request from its body to its reply: inspected, routed, then sent
    /// to the account holding the response it continues, or through
    /// failover.
    async fn handle_inner(
        &self,
        principal: &Principal,
        call: &ClientCall,
        body: Bytes,
        request_id: &str,
        headers: &ClientHeaders,
        served: &mut Served,
    ) -> Result<Reply, RequestError> {
        let (meta, counted) = call.inspect(&body)?;
        served.model = Some(meta.model.clone());
        let snapshot = self.inner.snapshot.load();
        let mut candidates = snapshot.route(&meta.model, principal.user_id);
        served.known_model = candidates.iter().any(|c| c.entry.knows(c.upstream_model));
        if candidates.is_empty() {
            return Err(RequestError::ModelNotFound(meta.model.clone()));
        }
        let request = ClientRequest {
            principal,
            call,
            meta: &meta,
            body: &body,
            counted: &counted,
            request_id,
            headers,
        };
        if let Some(previous) = meta.previous_response_id.as_deref() {
            return Box::pin(self.handle_pinned(&request, &candidates, previous, served)).await;
        }
        if call.counts_tokens() {
            let first = candidates[0].entry.provider.kind;
            candidates.retain(|c| call.counter(c.entry.provider.kind).is_some());
            if candidates.is_empty() {
                return Err(RequestError::BadRequest(counting_unavailable(first)));
            }
        }
        Box::pin(self.fail_over(&request, &candidates, served)).await
    }

    /// Attempts on the candidates' accounts, one after another while each
    /// failure is one that another account may cure, until one answers or
    /// the attempts or the time allowed run out.
    async fn fail_over(
        &self,
        request: &ClientRequest<'_>,
        candidates: &[RouteCandidate<'_>],
        served: &mut Served,
    ) -> Result<Reply, RequestError> {
        // A count costs the account nothing, so it does not take the turn
        // of the next real request.
        let turn = if request.call.counts_tokens() {
            Turn::Leave
        } else {
            Turn::Take
        };
        let conversation = conversation(request, candidates);
        let policy = &self.inner.settings.failover;
        let started = Instant::now();
        let mut tried: Vec<AccountId> = Vec::new();
        let mut last_error: Option<RequestError> = None;
        for _ in 0..policy.max_attempts.max(1) {
            // Boxed, as in `handle_inner` and `attempt`: see `attempt`.
            let select = self.select(candidates, &tried, turn, conversation);
            let Some(selection) = Box::pin(select).await else {
                break;
            };
            let account = selection.chosen.account.id;
            match Box::pin(self.attempt(request, &selection, &tried, served)).await {
                Ok(reply) => return Ok(reply),
                Err(AttemptFailure {
                    error,
                    verdict: Verdict::Fatal,
                    ..
                }) => return Err(error),
                Err(AttemptFailure { error, .. }) => {
                    tried.push(account);
                    last_error = Some(error);
                    if started.elapsed() >= policy.max_total {
                        break;
                    }
                }
            }
        }
        if let Some(error) = last_error {
            return Err(error);
        }
        Err(RequestError::NoUsableAccount {
            retry_after: self.earliest_rejoin(candidates),
            model: request.meta.model.clone(),
        })
    }

    /// The account for the next attempt: the selector's pick, unless it is
    /// a `down` account whose probe another request (here or on another
    /// instance) has claimed, which is then skipped.
    async fn select<'a>(
        &self,
        candidates: &[RouteCandidate<'a>],
        tried: &[AccountId],
        turn: Turn,
        conversation: Option<Conversation>,
    ) -> Option<Selection<'a>> {
        let mut skipped: Option<Vec<AccountId>> = None;
        loop {
            let excluded = skipped.as_deref().unwrap_or(tried);
            let selection = self
                .inner
                .selector
                .select(
                    candidates,
                    &self.inner.cooldowns,
                    excluded,
                    turn,
                    conversation,
                )
                .await?;
            let account = selection.chosen.account.id;
            if self.claim_probe(account).await {
                return Some(selection);
            }
            skipped.get_or_insert_with(|| tried.to_vec()).push(account);
        }
    }

    /// Whether `account` may take this attempt: always, unless it is
    /// `down`; then only as its one probe, claimed on this instance and in
    /// the shared state (held for the wait before the next probe, so that
    /// no instance sends another meanwhile). The shared claim is the only
    /// round trip, and only ever for a `down` account whose probe is due.
    async fn claim_probe(&self, account: AccountId) -> bool {
        let down = self.inner.cooldowns.down();
        if !down.is_down(account) {
            return true;
        }
        let Some(hold) = down.claim_local(account) else {
            return false;
        };
        let key = crate::health::probe_key(account);
        // Boxed: a shared-state call's future is kilobytes, and this one is
        // rare; unboxed it would size every request's future.
        match Box::pin(self.inner.state.try_lock(&key, hold)).await {
            Ok(Some(claim)) => {
                claim.keep_until_expiry();
                tracing::info!(%account, "probing a down account");
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(%account, %error, "probe of a down account not claimed");
                false
            }
        }
    }

    /// A request continuing a stored response: one attempt, on the account
    /// that produced it, or a 400 saying why not. Never another account,
    /// where the response does not exist and the conversation would restart.
    async fn handle_pinned(
        &self,
        request: &ClientRequest<'_>,
        candidates: &[RouteCandidate<'_>],
        previous: &str,
        served: &mut Served,
    ) -> Result<Reply, RequestError> {
        let selection = self.pinned_selection(request, candidates, previous).await?;
        let account = selection.chosen.account.id;
        if let Some(left) = self
            .inner
            .cooldowns
            .remaining(account, selection.upstream_model)
        {
            return Err(unpinnable(&format!(
                "the account that produced this response is cooling down for {} more seconds \
                 after an upstream failure; retry then, or send the whole conversation in \
                 `input`",
                left.as_secs().max(1)
            )));
        }
        if !self.claim_probe(account).await {
            return Err(unpinnable(
                "the account that produced this response is down after repeated upstream \
                 failures and another request is probing it; retry later, or send the whole \
                 conversation in `input`",
            ));
        }
        self.attempt(request, &selection, &[], served)
            .await
            .map_err(|failure| failure.error)
    }

    /// The account that produced response `previous`, among the candidates
    /// whose upstream keeps responses (speaks the Responses API), or why
    /// there is none.
    async fn pinned_selection<'a>(
        &self,
        request: &ClientRequest<'_>,
        candidates: &[RouteCandidate<'a>],
        previous: &str,
    ) -> Result<Selection<'a>, RequestError> {
        let client = request.call.format();
        let native: Vec<_> = candidates
            .iter()
            .filter(|c| upstream_format(&c.entry.provider, client) == Format::OpenAiResponses)
            .collect();
        if native.is_empty() {
            return Err(unpinnable(
                "this model's upstream does not keep responses (it does not speak the Responses \
                 API); send the whole conversation in `input` instead",
            ));
        }
        let account = self.pinned_account(previous).await?;
        let found = native.iter().find_map(|c| {
            let chosen = c.entry.rotation.iter().find(|r| r.account.id == account)?;
            Some(Selection {
                entry: c.entry,
                chosen,
                upstream_model: c.upstream_model,
            })
        });
        found.ok_or_else(|| {
            unpinnable(
                "the account that produced this response no longer serves this model (removed, \
                 deactivated or unreachable); send the whole conversation in `input` instead",
            )
        })
    }

    /// The account the pin of response `previous` names.
    async fn pinned_account(&self, previous: &str) -> Result<AccountId, RequestError> {
        match pins::lookup(self.inner.selector.pins(), &self.inner.state, previous).await {
            Ok(Some(account)) => Ok(account),
            Ok(None) => Err(unpinnable(
                "unknown or expired response id, or one made with `store: false`: this \
                 gateway does not know which account produced it; send the whole \
                 conversation in `input` instead",
            )),
            Err(e) => {
                tracing::warn!(error = %e, "response pin lookup failed");
                Err(unpinnable(
                    "the account that produced this response cannot be looked up now; send the \
                     whole conversation in `input` instead",
                ))
            }
        }
    }

    /// One attempt on the selected account, recorded once (see
    /// `attempt.rs`) and, when it fails in a way that retrying elsewhere may
    /// cure, the account cooled down.
    async fn attempt(
        &self,
        request: &ClientRequest<'_>,
        selection: &Selection<'_>,
        tried: &[AccountId],
        served: &mut Served,
    ) -> Result<Reply, AttemptFailure> {
        served.provider = Some(selection.entry.provider.id.clone());
        served.attempts += 1;
        let attempt = Attempt::start(
            request.requested(),
            selection,
            served.attempts,
            tried.last().copied(),
        );
        let out = UpstreamCall::new(request, selection);
        // Boxed, like the calls under it: an `async fn` awaiting another one
        // holds its callee's future beside its own state, so unboxed the
        // request's future doubled in size at every level of this call chain
        // (the routed request's reached 190 KB, copied into its box on every
        // request). Each box holds one level, a few hundred bytes to 2.5 KB.
        match Box::pin(self.send(&out)).await {
            Ok(answer) => Ok(self.answered(attempt, answer)),
            Err(mut failure) => {
                attempt.failed(&self.inner.stats, &mut failure);
                self.account_failed(&out, &failure);
                Err(failure)
            }
        }
    }

    /// Records an answered attempt (a streamed one when its stream ends) and
    /// gives its reply.
    fn answered(&self, attempt: Attempt, answer: Answer) -> Reply {
        let Answer {
            mut reply,
            exchange,
        } = answer;
        let stats = &self.inner.stats;
        match &mut reply {
            Reply::Full { .. } => attempt.replied(stats, exchange),
            Reply::Count { counter, .. } => attempt.counted(stats, exchange, *counter),
            Reply::Stream(stream) => stream.record_to(attempt.streaming(stats, exchange)),
        }
        reply
    }

    /// What a failed attempt means for its account: a tunnel failure is
    /// reported to the proxy health task, and a verdict to move on cools the
    /// account down.
    fn account_failed(&self, out: &UpstreamCall<'_>, failure: &AttemptFailure) {
        self.report_proxy_failure(out.account, &failure.error);
        let Verdict::Retry {
            cooldown,
            reason,
            account_wide,
        } = failure.verdict
        else {
            return;
        };
        let model = (!account_wide).then_some(out.upstream_model);
        self.inner
            .cooldowns
            .set(out.account.id, model, cooldown, reason);
        self.inner.metrics.cooldown(reason.as_str());
        self.inner.metrics.failover(reason.as_str());
        tracing::info!(
            account = %out.account.id,
            provider = %out.provider,
            reason = reason.as_str(),
            cooldown_ms = cooldown.as_millis() as u64,
            error = failure.error.kind(),
            "attempt failed; account cooling down"
        );
    }

    /// Tells the proxy health task that the account's proxy failed to open a
    /// tunnel. Never waits: when the task's queue is full the report is
    /// dropped (the proxy's probes see the same failure).
    fn report_proxy_failure(&self, account: &Account, error: &RequestError) {
        let (Some(proxy), RequestError::Upstream(e)) = (account.proxy_id, error) else {
            return;
        };
        if e.error_source() == crate::client_pool::ErrorSource::Proxy {
            let _ = self.inner.proxy_reports.try_send(proxy);
        }
    }

    /// When the first cooling-down account of the candidates rejoins.
    fn earliest_rejoin(&self, candidates: &[RouteCandidate<'_>]) -> Option<std::time::Duration> {
        candidates
            .iter()
            .flat_map(|c| {
                c.entry.rotation.iter().filter_map(|r| {
                    self.inner
                        .cooldowns
                        .remaining(r.account.id, c.upstream_model)
                })
            })
            .min()
    }

    /// One attempt on one account. An OAuth account's token comes from the
    /// credential service; an upstream 401 on it forces one refresh and one
    /// retry on the same account before the account counts as failed.
    async fn send(&self, out: &UpstreamCall<'_>) -> Result<Answer, AttemptFailure> {
        if out.counter() == Some(Counter::Estimate) {
            return self.estimate(out);
        }
        let is_oauth = matches!(out.account.auth_data, aigw_domain::AuthData::Oauth(_));
        if !is_oauth {
            return Box::pin(self.send_to_base_urls(out, None)).await;
        }
        let credentials = &self.inner.credentials;
        let token = Box::pin(credentials.token(out.account, out.kind, out.egress))
            .await
            .map_err(|e| self.credential_failure(e))?;
        match Box::pin(self.send_to_base_urls(out, Some(token.expose()))).await {
            Err(failure) if failure.is_unauthorized() => {
                let fresh =
                    Box::pin(credentials.force_refresh(out.account, out.kind, out.egress, &token))
                        .await
                        .map_err(|e| self.credential_failure(e))?;
                Box::pin(self.send_to_base_urls(out, Some(fresh.expose()))).await
            }
            other => other,
        }
    }

    /// Sends to the provider's base URL, then to each fallback base URL in
    /// order while the upstream cannot be reached or answers 5xx; nothing
    /// has reached the client before an attempt returns, so moving on is
    /// safe. The last URL's failure is the attempt's.
    async fn send_to_base_urls(
        &self,
        out: &UpstreamCall<'_>,
        oauth_token: Option<&str>,
    ) -> Result<Answer, AttemptFailure> {
        let mut result = Box::pin(self.send_once(out, oauth_token)).await;
        for fallback in out.fallback_base_urls {
            match &result {
                Err(failure) if failure.is_unreachable_upstream() => {}
                _ => break,
            }
            tracing::info!(
                provider = %out.provider,
                account = %out.account.id,
                error = result.as_ref().err().map_or("", |f| f.error.kind()),
                "upstream unreachable at this base URL; trying the next"
            );
            self.inner.metrics.base_url_fallback(out.provider.as_str());
            let next = UpstreamCall {
                base_url: fallback,
                ..*out
            };
            result = Box::pin(self.send_once(&next, oauth_token)).await;
            if let Ok(answer) = &mut result {
                // The request log names the fallback URL that served.
                let masked = aigw_domain::mask_url_credentials(fallback);
                answer.exchange.fallback_base_url = Some(Arc::from(masked));
            }
        }
        result
    }

    /// The failure of an account whose OAuth token cannot be had.
    fn credential_failure(&self, error: CredentialError) -> AttemptFailure {
        tracing::warn!(kind = error.kind(), "account credential unavailable");
        let verdict = self.inner.settings.failover.classify_credential(&error);
        AttemptFailure::new(RequestError::Credential(error), verdict)
    }

    /// One request to one base URL, and its answer: a stream primed, a
    /// whole reply read and translated, or the failure classified.
    async fn send_once(
        &self,
        out: &UpstreamCall<'_>,
        oauth_token: Option<&str>,
    ) -> Result<Answer, AttemptFailure> {
        let request = self.upstream_request(out, oauth_token)?;
        let sent_at = Instant::now();
        let response = self
            .inner
            .pool
            .send(out.egress, request)
            .await
            .map_err(|e| self.transport_failure(e))?;
        self.inner
            .metrics
            .time_to_first_byte(out.provider.as_str(), sent_at.elapsed());
        if !response.status().is_success() {
            return Err(self.status_failure(out, response, oauth_token).await);
        }
        let limits = self.learn_limits(out, response.headers());
        let exchange = Exchange::new(sent_at, limits);
        if out.meta.stream {
            self.open_stream(out, response, oauth_token, exchange).await
        } else {
            self.read_whole(out, response, oauth_token, exchange).await
        }
    }

    /// The upstream request of `out`: its body in the upstream's format, to
    /// the endpoint of its base URL, with the account's credential.
    fn upstream_request(
        &self,
        out: &UpstreamCall<'_>,
        oauth_token: Option<&str>,
    ) -> Result<Request<RequestBody>, AttemptFailure> {
        let upstream_stream = out.upstream_streams();
        let target = upstream_target(out, upstream_stream);
        let payload = upstream_payload(out, out.format, &target)
            .map_err(|e| AttemptFailure::fatal(RequestError::BadRequest(e)))?;
        let uri = upstream_url(out, upstream_stream)
            .and_then(|url| http::Uri::try_from(url).ok())
            .ok_or_else(|| AttemptFailure::fatal(RequestError::InvalidUpstreamUrl))?;
        let policy = &self.inner.settings.failover;
        let auth = auth_headers(out.kind, out.account, oauth_token)
            .map_err(|e| AttemptFailure::new(e, policy.classify_unsendable_credential()))?;
        // Built in place rather than through `Request::builder()`, which
        // moves its whole partial request through a closure per header.
        let mut request = Request::new(Full::new(payload));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.append(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if upstream_stream {
            headers.append(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        for (name, value) in auth {
            headers.append(name, value);
        }
        if out.kind == ProviderKind::Anthropic {
            let oauth = oauth_token.is_some();
            for (name, value) in anthropic_headers(oauth, out.client_headers) {
                headers.append(name, value);
            }
        }
        Ok(request)
    }

    /// The failure of an answer with a non-2xx status: its body read into
    /// the client's error, the policy's verdict, and the limits it states.
    async fn status_failure(
        &self,
        out: &UpstreamCall<'_>,
        response: Response<UpstreamBody>,
        oauth_token: Option<&str>,
    ) -> AttemptFailure {
        let status = response.status();
        let (parts, body) = response.into_parts();
        let body = match collect(body).await {
            Ok(body) => body,
            Err(e) => return self.transport_failure(e),
        };
        let policy = &self.inner.settings.failover;
        let verdict = policy.classify_status(status, &parts.headers, &body);
        let limits = UpstreamLimits::of_answer(&parts.headers, Some(&body), chrono::Utc::now())
            .map(Arc::new);
        // Built only on the error paths: a success never looks at them.
        let secrets = Secrets::of(out.account, oauth_token);
        AttemptFailure {
            error: upstream_status_error(out, status, &body, &secrets),
            verdict,
            limits,
        }
    }

    /// The stream for a client that asked for one, primed. Nothing has
    /// reached the client yet, so a stream that fails before its first
    /// event is still a failed attempt to fail over.
    async fn open_stream(
        &self,
        out: &UpstreamCall<'_>,
        response: Response<UpstreamBody>,
        oauth_token: Option<&str>,
        exchange: Exchange,
    ) -> Result<Answer, AttemptFailure> {
        let ctx = StreamContext {
            request_id: out.request_id.to_owned(),
            model: out.meta.model.clone(),
            created: unix_now(),
            include_usage: out.meta.include_usage,
        };
        let mut translator = StreamTranslator::new(out.format, out.client(), ctx)
            .map_err(|e| AttemptFailure::fatal(RequestError::UpstreamStream(e)))?;
        if out.call.json_array() {
            translator = translator.gemini_json_array();
        }
        if !out.meta.tool_namespaces.is_empty() {
            translator = translator.tool_namespaces(out.meta.tool_namespaces.clone());
        }
        let mut stream = ClientStream::new(response.into_body(), translator);
        stream.hide_secrets_of(Arc::clone(out.account), oauth_token);
        match stream.prime().await {
            Ok(()) => {}
            Err(PrimeError::Upstream(e)) => return Err(self.transport_failure(e)),
            Err(PrimeError::Stream(e)) => return Err(self.stream_failure(out, e, oauth_token)),
        }
        if let Some(id) = stream.translator().upstream_response_id() {
            self.pin(out, id);
        }
        Ok(Answer {
            reply: Reply::Stream(Box::new(stream)),
            exchange,
        })
    }

    /// The whole reply for a client that asked for one: read (back from the
    /// stream of an upstream that only streams) and translated, or read as
    /// a token count.
    async fn read_whole(
        &self,
        out: &UpstreamCall<'_>,
        response: Response<UpstreamBody>,
        oauth_token: Option<&str>,
        mut exchange: Exchange,
    ) -> Result<Answer, AttemptFailure> {
        let created = unix_now();
        let body = collect(response.into_body())
            .await
            .map_err(|e| self.transport_failure(e))?;
        self.inner
            .metrics
            .upstream_latency(out.provider.as_str(), exchange.sent_at.elapsed());
        let (upstream_format, body) = if out.upstream_streams() {
            let whole = self.aggregate(out, &body, oauth_token)?;
            (Format::OpenAiResponses, whole)
        } else {
            (out.format, body)
        };
        if let Some(counter) = out.counter() {
            let body = self.count_reply(out, upstream_format, body)?;
            let reply = Reply::Count { body, counter };
            return Ok(Answer { reply, exchange });
        }
        let ctx = aigw_formats::ResponseContext {
            model: &out.meta.model,
            request_id: out.request_id,
            created,
            tool_namespaces: &out.meta.tool_namespaces,
        };
        let (translated, usage) =
            aigw_formats::translate_response(upstream_format, out.client(), body, &ctx)
                .map_err(|e| self.unreadable_reply(e))?;
        if out.client() == Format::OpenAiResponses && upstream_format == out.client() {
            // The client sees the upstream's own response, id included.
            if let Some(id) = response_id(&translated) {
                self.pin(out, &id);
            }
        }
        exchange.usage = TokenUsage::from(usage);
        let reply = Reply::Full {
            status: StatusCode::OK,
            body: translated,
        };
        Ok(Answer { reply, exchange })
    }

    /// An upstream's token count, in the client's format.
    fn count_reply(
        &self,
        out: &UpstreamCall<'_>,
        upstream_format: Format,
        body: Bytes,
    ) -> Result<Bytes, AttemptFailure> {
        if upstream_format == out.client() {
            return Ok(body);
        }
        aigw_formats::read_count_reply(upstream_format, &body)
            .and_then(|n| aigw_formats::count_reply(out.client(), n))
            .map_err(|e| self.unreadable_reply(e))
    }
}

impl Gateway {
    /// A count made here, with the tokenizer of the upstream model's
    /// family, over the request as an OpenAI Chat request (what the
    /// tokenizer's figures are for). Nothing is sent and no credential is
    /// needed.
    fn estimate(&self, out: &UpstreamCall<'_>) -> Result<Answer, AttemptFailure> {
        let started = Instant::now();
        let target = aigw_formats::UpstreamTarget::new(out.upstream_model, false);
        let chat =
            aigw_formats::translate_request(out.client(), Format::OpenAiChat, out.request, &target)
                .map_err(|e| AttemptFailure::fatal(RequestError::BadRequest(e)))?;
        let tokens = estimate_chat(out.upstream_model, &chat).map_err(AttemptFailure::fatal)?;
        let body = aigw_formats::count_reply(out.client(), tokens)
            .map_err(|e| AttemptFailure::fatal(RequestError::BadRequest(e)))?;
        Ok(Answer {
            reply: Reply::Count {
                body,
                counter: Counter::Estimate,
            },
            exchange: Exchange::new(started, None),
        })
    }

    /// The limits a successful answer's headers state, if any: a window
    /// used up (remaining 0, a `rejected` plan, 100 % used) cools the
    /// account down until its stated reset (bounded by `max_cooldown`), for
    /// every model when the window is the account's, without waiting for a
    /// 429. Parsed only when one of the forms' headers is there.
    fn learn_limits(
        &self,
        out: &UpstreamCall<'_>,
        headers: &http::HeaderMap,
    ) -> Option<Arc<UpstreamLimits>> {
        let limits = UpstreamLimits::from_headers(headers, chrono::Utc::now())?;
        if let Some(at) = limits.exhausted_until()
            && let Some(wait) = crate::failover::until(at)
            && !wait.is_zero()
        {
            let policy = &self.inner.settings.failover;
            let (reason, model) = if limits.account_wide {
                (CooldownReason::QuotaExhausted, None)
            } else {
                (CooldownReason::RateLimited, Some(out.upstream_model))
            };
            let wait = wait.min(policy.max_cooldown);
            self.inner
                .cooldowns
                .set(out.account.id, model, wait, reason);
            self.inner.metrics.cooldown(reason.as_str());
            tracing::info!(
                account = %out.account.id,
                reason = reason.as_str(),
                cooldown_ms = wait.as_millis() as u64,
                "upstream limit used up; account cooling down until its reset"
            );
        }
        Some(Arc::new(limits))
    }

    /// The failure of an upstream stream that ended before anything reached
    /// the client: an error event is the same error as a status; any other
    /// (an unreadable or cut stream) is the upstream's fault.
    fn stream_failure(
        &self,
        out: &UpstreamCall<'_>,
        error: StreamError,
        oauth_token: Option<&str>,
    ) -> AttemptFailure {
        let verdict = self.inner.settings.failover.classify_stream_error(&error);
        let secrets = Secrets::of(out.account, oauth_token);
        let error = match error {
            StreamError::Upstream(e) => upstream_event_error(out, e.kind, &e.message, &secrets),
            other => RequestError::UpstreamStream(secrets.redact_stream_error(other)),
        };
        AttemptFailure::new(error, verdict)
    }

    /// A 2xx reply whose body cannot be read.
    fn unreadable_reply(&self, e: aigw_formats::FormatError) -> AttemptFailure {
        let verdict = self.inner.settings.failover.classify_unreadable_reply();
        AttemptFailure::new(RequestError::UpstreamResponse(e), verdict)
    }

    /// Remembers that `out`'s account produced response `id`, unless the
    /// client asked for it not to be stored (`store: false`): the upstream
    /// then keeps nothing a follow-up could continue, and a pin would only
    /// hold memory (or a Redis key) for `response_pin_ttl`. Codex CLI sends
    /// `store: false` on every turn.
    fn pin(&self, out: &UpstreamCall<'_>, id: &str) {
        if out.meta.unstored {
            return;
        }
        self.inner.selector.pins().remember_response(
            id,
            out.account.id,
            self.inner.settings.response_pin_ttl,
        );
    }

    /// Reads the whole stream of an upstream that only streams back into one
    /// Responses object, failing the attempt the way the same stream would
    /// have failed a streaming client before its first event.
    fn aggregate(
        &self,
        out: &UpstreamCall<'_>,
        body: &[u8],
        oauth_token: Option<&str>,
    ) -> Result<Bytes, AttemptFailure> {
        if out.format != Format::OpenAiResponses {
            // Only a Responses stream can be read back into one Responses
            // object: any other pair has no translation.
            return Err(AttemptFailure::fatal(RequestError::UpstreamStream(
                StreamError::UnsupportedPair {
                    upstream: out.format,
                    client: Format::OpenAiResponses,
                },
            )));
        }
        aigw_formats::stream::aggregate_responses(body)
            .map(|(whole, _usage)| whole)
            .map_err(|e| self.stream_failure(out, e, oauth_token))
    }

    fn transport_failure(&self, e: TransportError) -> AttemptFailure {
        let verdict = self.inner.settings.failover.classify_transport(&e);
        AttemptFailure::new(RequestError::Upstream(e), verdict)
    }
}

/// The body sent upstream. A body the upstream reads in the client's own
/// format goes as it came, or with only its top level rewritten; any other
/// is the (counted) request translated, and a count for a Gemini upstream
/// is that request inside the counter's `generateContentRequest`.
fn upstream_payload(
    out: &UpstreamCall<'_>,
    upstream: Format,
    target: &aigw_formats::UpstreamTarget<'_>,
) -> Result<Bytes, aigw_formats::FormatError> {
    let client = out.client();
    if out.meta.forwards_unchanged(upstream, target) {
        return Ok(out.body.clone());
    }
    if client == upstream {
        return aigw_formats::translate_request(client, upstream, out.body, target);
    }
    let translated = aigw_formats::translate_request(client, upstream, out.request, target)?;
    match (out.counter(), upstream) {
        (None, _) => Ok(translated),
        (Some(_), Format::Gemini) => {
            aigw_formats::gemini_count_body(&translated, out.upstream_model)
        }
        (Some(_), Format::AnthropicMessages) => aigw_formats::anthropic_count_body(&translated),
        (Some(_), other) => Err(aigw_formats::FormatError::FormatRole {
            format: other,
            role: "token counting upstream",
        }),
    }
}

/// The error of an upstream answer with a non-2xx `status`. A refused
/// credential (401, 403) is the gateway's own concern: the client gets a
/// generic error and the log names the account by id only. Any other error
/// body goes on in the client's format, with the account's secrets hidden.
fn upstream_status_error(
    out: &UpstreamCall<'_>,
    status: StatusCode,
    body: &[u8],
    secrets: &Secrets<'_>,
) -> RequestError {
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return refused_credential(out, status);
    }
    let body = secrets.redact(body);
    let translated =
        aigw_formats::translate_error(out.format, out.client(), status.as_u16(), &body);
    RequestError::UpstreamStatus {
        status,
        body: translated,
    }
}

/// The error of an error event that ended an upstream stream before
/// anything reached the client; treated like the same error as a status.
fn upstream_event_error(
    out: &UpstreamCall<'_>,
    kind: aigw_formats::ErrorKind,
    message: &str,
    secrets: &Secrets<'_>,
) -> RequestError {
    let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
    if matches!(
        kind,
        aigw_formats::ErrorKind::Authentication | aigw_formats::ErrorKind::PermissionDenied
    ) {
        return refused_credential(out, status);
    }
    let message = secrets.redact_str(message);
    RequestError::UpstreamStatus {
        status,
        body: aigw_formats::error_body(out.client(), kind, &message, None),
    }
}

fn refused_credential(out: &UpstreamCall<'_>, status: StatusCode) -> RequestError {
    tracing::warn!(
        account = %out.account.id,
        provider = %out.provider,
        status = status.as_u16(),
        "upstream refused the account's credential"
    );
    RequestError::UpstreamAuth {
        status,
        account: out.account.id,
    }
}

/// The refusal of a `previous_response_id` that cannot go to the account
/// holding the stored response, saying why: a 400 naming the field, rather
/// than a send elsewhere, where it would fail or silently restart the
/// conversation.
fn unpinnable(reason: &str) -> RequestError {
    RequestError::BadRequest(aigw_formats::FormatError::InvalidValue {
        path: "previous_response_id".to_owned(),
        reason: reason.to_owned(),
    })
}

/// One client request, as every attempt at it reads it.
struct ClientRequest<'a> {
    principal: &'a Principal,
    call: &'a ClientCall,
    meta: &'a RequestMeta,
    body: &'a Bytes,
    /// The request a token count counts (the body itself otherwise).
    counted: &'a Bytes,
    request_id: &'a str,
    headers: &'a ClientHeaders,
}

impl<'a> ClientRequest<'a> {
    /// What each attempt's stats event records of the request.
    const fn requested(&self) -> Requested<'a> {
        Requested {
            request_id: self.request_id,
            api_key_id: self.principal.api_key_id,
            meta: self.meta,
            counts_tokens: self.call.counts_tokens(),
        }
    }
}

/// The conversation `request` belongs to, worked out only when a candidate
/// provider keeps conversations on their account (a first-turns key hashes
/// the system prompt).
fn conversation(
    request: &ClientRequest<'_>,
    candidates: &[RouteCandidate<'_>],
) -> Option<Conversation> {
    candidates
        .iter()
        .any(|c| c.entry.provider.session_affinity)
        .then(|| {
            request
                .headers
                .conversation
                .or_else(|| Some(request.meta.conversation?.key(request.counted)))
        })
        .flatten()
        .map(|key| Conversation::new(key, request.principal.api_key_id))
}

/// The refusal of a token count whose model no upstream that can count
/// for the client serves (`kind` is the first that does serve it).
fn counting_unavailable(kind: ProviderKind) -> aigw_formats::FormatError {
    aigw_formats::FormatError::Unsupported {
        path: "countTokens".to_owned(),
        upstream: kind.format(),
        reason: "token counting is not available for this model's upstream".into(),
    }
}

/// What served a request, for its metrics.
#[derive(Default)]
struct Served {
    provider: Option<aigw_domain::ProviderId>,
    model: Option<String>,
    /// Whether the model is one the gateway is configured to serve (a
    /// provider's listed model, or a mapping), as opposed to any name a
    /// prefix rule lets through or that routes nowhere.
    known_model: bool,
    attempts: u32,
}

impl Served {
    /// The `model` label of the request's metrics: the model when the
    /// gateway knows it, else one shared bucket, so the number of series is
    /// bounded by configuration rather than by what clients send.
    fn model_label(&self) -> &str {
        match &self.model {
            Some(model) if self.known_model => model,
            Some(_) => OTHER_MODEL_LABEL,
            None => "none",
        }
    }
}

/// The `model` label of requests for models the gateway does not know.
pub const OTHER_MODEL_LABEL: &str = "other";

/// A successful attempt's reply, before the attempt is recorded.
struct Answer {
    reply: Reply,
    /// What the attempt's stats event records of the exchange.
    exchange: Exchange,
}

/// What one attempt sends, and where: one account of one provider, at one
/// of its base URLs.
#[derive(Clone, Copy)]
struct UpstreamCall<'a> {
    request_id: &'a str,
    provider: &'a aigw_domain::ProviderId,
    egress: &'a Egress,
    account: &'a Arc<Account>,
    kind: ProviderKind,
    /// The wire format the upstream is called in ([`upstream_format`]).
    format: Format,
    base_url: &'a str,
    /// The provider's further base URLs, tried in order after `base_url`.
    fallback_base_urls: &'a [String],
    upstream_model: &'a str,
    call: &'a ClientCall,
    meta: &'a RequestMeta,
    /// The client's body, as it came.
    body: &'a Bytes,
    /// The generation request to translate: the body, or for a token count
    /// the request it counts.
    request: &'a Bytes,
    /// The client's headers that go on to the upstream.
    client_headers: &'a ClientHeaders,
}

impl<'a> UpstreamCall<'a> {
    /// `request`, to the account of `selection` at its provider's base URL.
    fn new(request: &ClientRequest<'a>, selection: &Selection<'a>) -> Self {
        let provider = &selection.entry.provider;
        Self {
            request_id: request.request_id,
            provider: &provider.id,
            egress: &selection.chosen.egress,
            account: &selection.chosen.account,
            kind: provider.kind,
            format: upstream_format(provider, request.call.format()),
            base_url: &provider.base_url,
            fallback_base_urls: &provider.fallback_base_urls,
            upstream_model: selection.upstream_model,
            call: request.call,
            meta: request.meta,
            body: request.body,
            request: request.counted,
            client_headers: request.headers,
        }
    }

    const fn client(&self) -> Format {
        self.call.format()
    }

    const fn counter(&self) -> Option<Counter> {
        self.call.counter(self.kind)
    }

    /// Whether the upstream is asked for a stream: when the client wants
    /// one, and always from an upstream that only streams, whose stream is
    /// then read back whole for a client that wants one whole answer.
    const fn upstream_streams(&self) -> bool {
        self.meta.stream || self.kind.streams_only()
    }
}

/// The model, stream flag and provider specifics a request is translated
/// for.
fn upstream_target<'a>(
    out: &UpstreamCall<'a>,
    upstream_stream: bool,
) -> aigw_formats::UpstreamTarget<'a> {
    let envelope = aigw_formats::AntigravityEnvelope {
        project: project_id(out.account),
        request_id: out.request_id,
        ..aigw_formats::AntigravityEnvelope::DEFAULT
    };
    let target = aigw_formats::UpstreamTarget::new(out.upstream_model, upstream_stream)
        .with_antigravity(envelope);
    if out.kind == ProviderKind::Codex {
        // The Codex backend refuses to store responses.
        return target.with_store(false);
    }
    target
}

/// Where `out` goes: the upstream's counter for a token count (`None` when
/// its kind has none), else its wire format's endpoint.
fn upstream_url(out: &UpstreamCall<'_>, upstream_stream: bool) -> Option<String> {
    if out.counter().is_some() {
        return count_tokens_url(out.kind, out.base_url, out.upstream_model);
    }
    Some(endpoint_url(
        out.format,
        out.base_url,
        out.upstream_model,
        upstream_stream,
    ))
}

/// Now, in seconds since the Unix epoch: a reply's `created`.
fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()
}

/// The `id` of a Responses object.
fn response_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Id<'_>>(body)
        .ok()
        .map(|i| i.id.into_owned())
}

async fn collect(
    body: crate::client_pool::UpstreamBody,
) -> Result<Bytes, crate::client_pool::TransportError> {
    body.collect().await.map(|c| c.to_bytes())
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
