//! OAuth access tokens of upstream accounts: cached in process, shared between instances,
//! refreshed before they expire, once per account across the whole gateway.
//!
//! [`CredentialService::token`] looks in order at:
//!
//! 1. the in-process cache (a map read under a short lock: the steady state costs no IO);
//! 2. the shared cache (`tok:{account}` in the shared-state store, TTL = time to expiry), where
//!    another instance may already have put a fresh token;
//! 3. the account's stored token (kept in the in-process cache only, and only for callers
//!    whose snapshot of the account stores that same token, so that a request still holding
//!    a credential an operator replaced cannot leave it cached for the others);
//!
//! and refreshes when the best token has less than [`CredentialSettings::refresh_skew`] left.
//! A refresh is single-flight at two levels. In this process, callers of one account queue on
//! that account's async mutex and find the new token in the local cache when their turn comes.
//! Across instances, the refresher takes the shared lock `refresh:{account}`; an instance that
//! finds it taken waits for the winner's token to appear in the shared cache instead of
//! refreshing too. The refresher reloads the account from the database first (another instance
//! may have rotated the refresh token), calls the token endpoint through the account's egress
//! (its proxy), stores `auth_data` and `expires_at`, then fills both caches.
//!
//! A failed refresh records the error on the account and starts a cooldown, in process and in
//! the shared store, during which calls fail fast with [`CredentialError::CoolingDown`] instead
//! of hammering the token endpoint. The cooldown belongs to the refresh token that failed: once
//! an operator stores a new one, it no longer applies.
//!
//! After an upstream 401, [`CredentialService::force_refresh`] refreshes even a token that
//! looks fresh, unless someone has already replaced the rejected token.

mod error;
mod refresh;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aigw_domain::{Account, AccountId, AuthData, OAuthCredentials, ProviderKind, Secret};
use aigw_repository::SqlRepository;
use aigw_repository::state::SharedState;
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::OwnedMutexGuard;

pub use error::{CredentialError, Unavailability};
pub use refresh::{
    ANTHROPIC_CLIENT_ID, ANTHROPIC_TOKEN_URL, GOOGLE_TOKEN_URL, OPENAI_CLIENT_ID, OPENAI_TOKEN_URL,
    TokenClient,
};

use crate::client_pool::{ClientPool, Egress};
use refresh::{RefreshCooldowns, Refreshed};

/// Slack in the shared lock's TTL beyond the refresh timeout, for storing the result.
const LOCK_MARGIN: Duration = Duration::from_secs(15);
/// First and longest pause between two looks at the shared cache while another instance
/// refreshes.
const PEER_POLL_FIRST: Duration = Duration::from_millis(20);
const PEER_POLL_MAX: Duration = Duration::from_millis(250);
/// Shared-cache TTL of a token that does not say when it expires.
const UNKNOWN_EXPIRY_TTL: Duration = Duration::from_secs(3600);

/// Settings of the credential service.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialSettings {
    /// Refresh a token once less than this is left of its life.
    pub refresh_skew: Duration,
    /// Limit on one call to a token endpoint, from connecting to the end of the answer.
    pub refresh_timeout: Duration,
    /// How long a caller waits for another instance's refresh before giving up.
    pub peer_wait: Duration,
    /// Cooldown after a transient refresh failure (network, 429, 5xx).
    pub transient_cooldown: Duration,
    /// Cooldown after the token endpoint rejects the grant (`invalid_grant`, …) or the account
    /// cannot be refreshed at all.
    pub rejected_cooldown: Duration,
    /// Token endpoint and client of Google grants (Antigravity, Gemini).
    pub google: TokenClient,
    /// Token endpoint and client of Anthropic grants.
    pub anthropic: TokenClient,
    /// Token endpoint and client of OpenAI (Codex) grants.
    pub openai: TokenClient,
}

impl Default for CredentialSettings {
    fn default() -> Self {
        Self {
            refresh_skew: Duration::from_secs(5 * 60),
            refresh_timeout: Duration::from_secs(30),
            peer_wait: Duration::from_secs(50),
            transient_cooldown: Duration::from_secs(30),
            rejected_cooldown: Duration::from_secs(10 * 60),
            google: TokenClient::google(),
            anthropic: TokenClient::anthropic(),
            openai: TokenClient::openai(),
        }
    }
}

impl CredentialSettings {
    /// The default client of a provider kind.
    pub fn client(&self, kind: ProviderKind) -> &TokenClient {
        match kind {
            ProviderKind::Antigravity | ProviderKind::Gemini => &self.google,
            ProviderKind::Anthropic => &self.anthropic,
            ProviderKind::Openai | ProviderKind::Codex => &self.openai,
        }
    }

    /// The shared lock outlives a refresh that runs into its timeout, so that a second
    /// instance never refreshes while the first may still store a rotated refresh token.
    fn lock_ttl(&self) -> Duration {
        self.refresh_timeout + LOCK_MARGIN
    }

    fn cooldowns(&self) -> RefreshCooldowns {
        RefreshCooldowns {
            transient: self.transient_cooldown,
            rejected: self.rejected_cooldown,
        }
    }
}

/// An OAuth access token and when it expires. Cheap to clone; `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    value: Arc<str>,
    expires_at: Option<DateTime<Utc>>,
}

impl AccessToken {
    /// A token expiring at `expires_at` (`None`: unknown, treated as not expiring).
    pub fn new(value: impl Into<Arc<str>>, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            value: value.into(),
            expires_at,
        }
    }

    /// The token, for the `Authorization` header. Never log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// Whether more than `skew` of its life is left at `now`.
    fn is_fresh(&self, now: DateTime<Utc>, skew: Duration) -> bool {
        let skew = chrono::Duration::from_std(skew).unwrap_or(chrono::Duration::MAX);
        self.expires_at
            .is_none_or(|at| at.signed_duration_since(now) > skew)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"****")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Which token a caller can use: fresh enough and, after an upstream 401, not the one the
/// upstream rejected.
#[derive(Clone)]
struct Want {
    skew: Duration,
    rejected: Option<Arc<str>>,
}

impl Want {
    fn accepts(&self, token: &AccessToken, now: DateTime<Utc>) -> bool {
        token.is_fresh(now, self.skew) && self.rejected.as_deref() != Some(token.expose())
    }

    /// The stored token, if the caller can use it. After a 401 a stored token is never
    /// trusted: it may be an older token than the rejected one (the caller's copy of the
    /// account is a snapshot), and a replacement made by someone else is published in the
    /// shared cache anyway.
    fn stored_token(&self, creds: &OAuthCredentials, now: DateTime<Utc>) -> Option<AccessToken> {
        if self.rejected.is_some() {
            return None;
        }
        stored_token(creds, self, now)
    }
}

/// A token in the local cache.
struct Cached {
    token: AccessToken,
    /// Taken from a caller's snapshot of the account rather than refreshed or read from the
    /// database or the shared cache: it serves only callers whose snapshot stores the same
    /// token. A request that loaded the snapshot before an operator replaced the credential
    /// may put the replaced token here after the account was forgotten; callers holding the
    /// new snapshot then skip it instead of using it until it expires.
    from_snapshot: bool,
}

impl Cached {
    fn serves(&self, want: &Want, creds: &OAuthCredentials, now: DateTime<Utc>) -> bool {
        want.accepts(&self.token, now)
            && (!self.from_snapshot
                || creds.access_token.as_ref().map(Secret::expose) == Some(self.token.expose()))
    }
}

/// The shared cache's copy of a token.
#[derive(Serialize, Deserialize)]
struct SharedToken {
    access_token: String,
    expires_at: Option<DateTime<Utc>>,
}

/// A failed refresh, remembered until `until` for the refresh token it used (by fingerprint),
/// in process and in the shared store.
#[derive(Clone, Serialize, Deserialize)]
struct RefreshFailure {
    until: DateTime<Utc>,
    permanent: bool,
    grant: String,
}

impl RefreshFailure {
    fn check(&self, grant: &str, now: DateTime<Utc>) -> Result<(), CredentialError> {
        if self.grant != grant {
            return Ok(());
        }
        match (self.until - now).to_std() {
            Ok(left) if !left.is_zero() => Err(CredentialError::CoolingDown {
                retry_after: left,
                permanent: self.permanent,
            }),
            _ => Ok(()),
        }
    }
}

/// Identifies a refresh token without keeping it: a failure recorded for one refresh token
/// must not block the next one an operator stores.
fn fingerprint(refresh_token: Option<&Secret>) -> String {
    refresh_token.map_or_else(String::new, |token| {
        let digest = Sha256::digest(token.expose().as_bytes());
        hex::encode(&digest[..8])
    })
}

fn token_key(id: AccountId) -> String {
    format!("tok:{id}")
}

fn failure_key(id: AccountId) -> String {
    format!("tok-fail:{id}")
}

fn lock_key(id: AccountId) -> String {
    format!("refresh:{id}")
}

fn oauth(account: &Account) -> Result<&OAuthCredentials, CredentialError> {
    match &account.auth_data {
        AuthData::Oauth(creds) => Ok(creds),
        AuthData::ApiKey { .. } | AuthData::Bearer { .. } => Err(CredentialError::NotOAuth),
    }
}

/// The stored token, if the caller can use it. A token of unknown expiry is used only when it
/// cannot be refreshed anyway; with a refresh token, refreshing tells when it expires.
fn stored_token(creds: &OAuthCredentials, want: &Want, now: DateTime<Utc>) -> Option<AccessToken> {
    let value = creds.access_token.as_ref().filter(|t| !t.is_empty())?;
    if creds.expires_at.is_none() && creds.refresh_token.is_some() {
        return None;
    }
    let token = AccessToken::new(value.expose(), creds.expires_at);
    want.accepts(&token, now).then_some(token)
}

/// OAuth access tokens for accounts. Cheap to clone; clones share caches and flights.
#[derive(Clone)]
pub struct CredentialService {
    inner: Arc<Inner>,
}

struct Inner {
    repo: SqlRepository,
    state: SharedState,
    pool: ClientPool,
    settings: CredentialSettings,
    /// Account → its newest token. Read by every request on an OAuth account, written once
    /// per token; the lock is held for one lookup or insert, never across an `.await`.
    tokens: RwLock<HashMap<AccountId, Cached>>,
    /// Account → its last failed refresh, while it may still be cooling down. Same locking.
    failures: RwLock<HashMap<AccountId, RefreshFailure>>,
    /// Account → the async mutex its refreshes in this process queue on. The map's lock is
    /// held only to find or insert an entry; the per-account mutex is what callers await.
    flights: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>,
    /// Calls made to token endpoints.
    refresh_calls: AtomicU64,
}

impl fmt::Debug for CredentialService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialService")
            .field("cached_tokens", &self.inner.tokens.read().len())
            .field("refresh_calls", &self.refresh_calls())
            .finish_non_exhaustive()
    }
}

impl CredentialService {
    /// A service storing refreshed credentials in `repo`, sharing tokens and locks through
    /// `state`, and calling token endpoints through `pool`.
    pub fn new(
        repo: SqlRepository,
        state: SharedState,
        pool: ClientPool,
        settings: CredentialSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                state,
                pool,
                settings,
                tokens: RwLock::new(HashMap::new()),
                failures: RwLock::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
                refresh_calls: AtomicU64::new(0),
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &CredentialSettings {
        &self.inner.settings
    }

    /// Calls this service has made to token endpoints (a metric).
    pub fn refresh_calls(&self) -> u64 {
        self.inner.refresh_calls.load(Ordering::Relaxed)
    }

    /// A usable access token of an OAuth `account` of provider kind `kind`, refreshed through
    /// `egress` (the account's proxy) when less than the skew is left.
    ///
    /// `account` may come from a snapshot: the refresher reloads it from the database before
    /// using its refresh token.
    pub async fn token(
        &self,
        account: &Account,
        kind: ProviderKind,
        egress: &Egress,
    ) -> Result<AccessToken, CredentialError> {
        self.obtain(account, kind, egress, None).await
    }

    /// A token to replace `rejected`, which the upstream has just answered 401 to: refreshed
    /// now, unless another caller (here or on another instance) already replaced it, in which
    /// case that token is returned. Concurrent callers with the same rejected token cause one
    /// refresh.
    pub async fn force_refresh(
        &self,
        account: &Account,
        kind: ProviderKind,
        egress: &Egress,
        rejected: &AccessToken,
    ) -> Result<AccessToken, CredentialError> {
        self.obtain(account, kind, egress, Some(Arc::clone(&rejected.value)))
            .await
    }

    /// Drops what this process remembers of the account (its token, a cooldown): call it when
    /// an operator changes or deletes the account's credentials.
    pub fn forget(&self, id: AccountId) {
        self.inner.tokens.write().remove(&id);
        self.inner.failures.write().remove(&id);
        self.inner.flights.lock().remove(&id);
    }

    /// [`forget`](Self::forget), and also drops the account's shared token and cooldown so that
    /// every instance goes back to the stored credentials.
    pub async fn invalidate(&self, id: AccountId) -> Result<(), CredentialError> {
        self.forget(id);
        for key in [token_key(id), failure_key(id)] {
            if let Err(error) = self.inner.state.cache_delete(&key).await {
                tracing::warn!(account = %id, %error, "could not drop a shared credential entry");
            }
        }
        Ok(())
    }

    async fn obtain(
        &self,
        account: &Account,
        kind: ProviderKind,
        egress: &Egress,
        rejected: Option<Arc<str>>,
    ) -> Result<AccessToken, CredentialError> {
        let inner = &self.inner;
        let creds = oauth(account)?;
        let id = account.id;
        let want = Want {
            skew: inner.settings.refresh_skew,
            rejected,
        };
        if let Some(token) = inner.local_token(id, &want, creds, Utc::now()) {
            return Ok(token);
        }
        let grant = fingerprint(creds.refresh_token.as_ref());
        inner.check_local_failure(id, &grant, Utc::now())?;

        let flight = inner.flight(id);
        let turn = flight.lock_owned().await;
        // Whoever held the turn before may have just refreshed or failed.
        let now = Utc::now();
        if let Some(token) = inner.local_token(id, &want, creds, now) {
            return Ok(token);
        }
        inner.check_local_failure(id, &grant, now)?;
        if let Some(token) = inner.shared_token(id, &want).await {
            return Ok(token);
        }
        inner.check_shared_failure(id, &grant).await?;
        // The snapshot's token is kept here only: every instance has it in its own snapshot,
        // and one still holding a replaced credential must not share it with the others.
        if let Some(token) = want.stored_token(creds, now) {
            inner.keep(id, &token, true);
            return Ok(token);
        }

        let job = RefreshJob {
            inner: Arc::clone(inner),
            id,
            kind,
            egress: egress.clone(),
            want,
            grant,
        };
        match spawn_refresh(job, turn).await {
            Ok(result) => result,
            Err(_) => Err(CredentialError::Aborted),
        }
    }
}

/// Runs a refresh in its own task, which holds the account's turn until it has finished.
///
/// Once a refresh has begun it must run to the end even if the request that started it goes
/// away: a token endpoint that rotates refresh tokens has already revoked the old one, so an
/// answer that is not stored would leave the account without a usable grant. There is at most
/// one such task per account and token lifetime, not one per request.
#[expect(
    clippy::disallowed_methods,
    reason = "a refresh must outlive a cancelled request, or a rotated refresh token is lost; one task per account refresh, not per request"
)]
fn spawn_refresh(
    job: RefreshJob,
    turn: OwnedMutexGuard<()>,
) -> tokio::task::JoinHandle<Result<AccessToken, CredentialError>> {
    tokio::task::spawn(async move {
        let result = job.run().await;
        drop(turn);
        result
    })
}

impl Inner {
    fn flight(&self, id: AccountId) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(self.flights.lock().entry(id).or_default())
    }

    fn local_token(
        &self,
        id: AccountId,
        want: &Want,
        creds: &OAuthCredentials,
        now: DateTime<Utc>,
    ) -> Option<AccessToken> {
        self.tokens
            .read()
            .get(&id)
            .filter(|cached| cached.serves(want, creds, now))
            .map(|cached| cached.token.clone())
    }

    fn check_local_failure(
        &self,
        id: AccountId,
        grant: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CredentialError> {
        match self.failures.read().get(&id) {
            Some(failure) => failure.check(grant, now),
            None => Ok(()),
        }
    }

    /// The shared cache's token, if usable; kept in the local cache too.
    async fn shared_token(&self, id: AccountId, want: &Want) -> Option<AccessToken> {
        let cached = match self.state.cache_get::<SharedToken>(&token_key(id)).await {
            Ok(cached) => cached?,
            Err(error) => {
                tracing::warn!(account = %id, %error, "shared token cache unavailable");
                return None;
            }
        };
        let token = AccessToken::new(cached.access_token, cached.expires_at);
        if !want.accepts(&token, Utc::now()) {
            return None;
        }
        self.keep(id, &token, false);
        Some(token)
    }

    /// Fails while another instance's failed refresh of the same grant is cooling down, and
    /// adopts that cooldown locally.
    async fn check_shared_failure(
        &self,
        id: AccountId,
        grant: &str,
    ) -> Result<(), CredentialError> {
        let failure = match self
            .state
            .cache_get::<RefreshFailure>(&failure_key(id))
            .await
        {
            Ok(Some(failure)) => failure,
            Ok(None) => return Ok(()),
            Err(error) => {
                tracing::warn!(account = %id, %error, "shared refresh cooldowns unavailable");
                return Ok(());
            }
        };
        let outcome = failure.check(grant, Utc::now());
        if outcome.is_err() {
            self.failures.write().insert(id, failure);
        }
        outcome
    }

    /// Puts `token` in the local cache (`from_snapshot`: see [`Cached`]).
    fn keep(&self, id: AccountId, token: &AccessToken, from_snapshot: bool) {
        let cached = Cached {
            token: token.clone(),
            from_snapshot,
        };
        self.tokens.write().insert(id, cached);
    }

    /// Puts `token` in the local cache and the shared cache (TTL = time to expiry).
    async fn publish(&self, id: AccountId, token: &AccessToken) {
        self.keep(id, token, false);
        let ttl = match token.expires_at {
            None => UNKNOWN_EXPIRY_TTL,
            Some(at) => match (at - Utc::now()).to_std() {
                Ok(ttl) if !ttl.is_zero() => ttl,
                _ => return,
            },
        };
        let shared = SharedToken {
            access_token: token.expose().to_owned(),
            expires_at: token.expires_at,
        };
        if let Err(error) = self.state.cache_set(&token_key(id), &shared, ttl).await {
            tracing::warn!(account = %id, %error, "could not share a token");
        }
    }
}

/// One refresh of one account, run by [`spawn_refresh`].
struct RefreshJob {
    inner: Arc<Inner>,
    id: AccountId,
    kind: ProviderKind,
    egress: Egress,
    want: Want,
    /// Fingerprint of the refresh token the caller saw.
    grant: String,
}

impl RefreshJob {
    /// Takes the gateway-wide refresh lock and refreshes, or waits for the instance holding
    /// it to publish its token.
    async fn run(self) -> Result<AccessToken, CredentialError> {
        let inner = &self.inner;
        let settings = &inner.settings;
        let deadline = tokio::time::Instant::now() + settings.peer_wait;
        let mut pause = PEER_POLL_FIRST;
        loop {
            match inner
                .state
                .try_lock(&lock_key(self.id), settings.lock_ttl())
                .await
            {
                Ok(Some(lock)) => {
                    let result = self.refresh_locked().await;
                    if let Err(error) = lock.release().await {
                        tracing::warn!(account = %self.id, %error, "could not release the refresh lock");
                    }
                    return result;
                }
                Ok(None) => {}
                Err(error) => {
                    // Only a Redis store without fallback reports errors. Refreshing without
                    // the gateway-wide lock (still single-flight in this process) beats
                    // failing every request on the account until Redis is back.
                    tracing::warn!(account = %self.id, %error, "refresh lock unavailable; refreshing without it");
                    return self.refresh_locked().await;
                }
            }
            // Another instance is refreshing: wait for its token rather than refresh as well.
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(CredentialError::PeerTimeout(settings.peer_wait));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(PEER_POLL_MAX);
            if let Some(token) = inner.shared_token(self.id, &self.want).await {
                return Ok(token);
            }
            inner.check_shared_failure(self.id, &self.grant).await?;
        }
    }

    /// Refreshes while holding the gateway-wide lock, unless the previous holder has just made
    /// that unnecessary.
    async fn refresh_locked(&self) -> Result<AccessToken, CredentialError> {
        let inner = &self.inner;
        if let Some(token) = inner.shared_token(self.id, &self.want).await {
            return Ok(token);
        }
        // The database has the newest refresh token: another instance may have rotated it.
        let account = inner
            .repo
            .get_account(self.id)
            .await
            .map_err(CredentialError::Reload)?;
        let AuthData::Oauth(creds) = account.auth_data else {
            return Err(CredentialError::NotOAuth);
        };
        if let Some(token) = self.want.stored_token(&creds, Utc::now()) {
            inner.publish(self.id, &token).await;
            return Ok(token);
        }
        let grant = fingerprint(creds.refresh_token.as_ref());
        inner.check_shared_failure(self.id, &grant).await?;
        match self.call_endpoint(&creds).await {
            Ok(refreshed) => self.store(*creds, refreshed).await,
            Err(error) => {
                self.fail(grant, &error).await;
                Err(error)
            }
        }
    }

    async fn call_endpoint(&self, creds: &OAuthCredentials) -> Result<Refreshed, CredentialError> {
        let inner = &self.inner;
        let settings = &inner.settings;
        let refresh_token = creds
            .refresh_token
            .as_ref()
            .filter(|t| !t.is_empty())
            .ok_or(CredentialError::NoRefreshToken)?;
        let request = refresh::build_request(
            self.kind,
            creds,
            settings.client(self.kind),
            refresh_token.expose(),
        )?;
        inner.refresh_calls.fetch_add(1, Ordering::Relaxed);
        refresh::send(
            &inner.pool,
            &self.egress,
            request,
            settings.refresh_timeout,
            settings.cooldowns(),
        )
        .await
    }

    /// Stores the refreshed grant, then publishes the token.
    async fn store(
        &self,
        old: OAuthCredentials,
        refreshed: Refreshed,
    ) -> Result<AccessToken, CredentialError> {
        let inner = &self.inner;
        let token = AccessToken::new(refreshed.access_token.as_str(), Some(refreshed.expires_at));
        let creds = OAuthCredentials {
            access_token: Some(Secret::new(refreshed.access_token)),
            // Google returns no refresh token: the old one stays valid.
            refresh_token: refreshed
                .refresh_token
                .map(Secret::new)
                .or(old.refresh_token),
            expires_at: Some(refreshed.expires_at),
            token_type: refreshed.token_type.or(old.token_type),
            scope: refreshed.scope.or(old.scope),
            ..old
        };
        let stored = inner
            .repo
            .update_account_credentials(self.id, &AuthData::Oauth(Box::new(creds)))
            .await;
        // Published even when it could not be stored: the token works, and refreshing again
        // with a refresh token that may have been rotated away would fail.
        inner.publish(self.id, &token).await;
        inner.failures.write().remove(&self.id);
        if let Err(error) = inner.state.cache_delete(&failure_key(self.id)).await {
            tracing::warn!(account = %self.id, %error, "could not clear a shared refresh cooldown");
        }
        match stored {
            Ok(()) => {
                tracing::debug!(account = %self.id, expires_at = %refreshed.expires_at, "token refreshed");
                Ok(token)
            }
            Err(error) => {
                tracing::error!(account = %self.id, %error, "refreshed credentials could not be stored");
                Err(CredentialError::Persist(error))
            }
        }
    }

    /// Records the failure on the account and starts the cooldown here and for every instance.
    async fn fail(&self, grant: String, error: &CredentialError) {
        let inner = &self.inner;
        let cooldown = error
            .retry_after()
            .unwrap_or(inner.settings.rejected_cooldown);
        let failure = RefreshFailure {
            until: Utc::now()
                + chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::MAX),
            permanent: error.is_permanent(),
            grant,
        };
        tracing::warn!(account = %self.id, kind = error.kind(), %error, "token refresh failed");
        inner.failures.write().insert(self.id, failure.clone());
        if let Err(e) = inner
            .state
            .cache_set(&failure_key(self.id), &failure, cooldown)
            .await
        {
            tracing::warn!(account = %self.id, error = %e, "could not share a refresh cooldown");
        }
        let message = format!("token refresh failed: {error}");
        if let Err(e) = inner.repo.record_account_failure(self.id, &message).await {
            tracing::warn!(account = %self.id, error = %e, "could not record a refresh failure");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_token_is_fresh_until_the_skew() {
        let skew = Duration::from_secs(300);
        let token = AccessToken::new("t", Some(at(600)));
        assert!(token.is_fresh(at(0), skew));
        assert!(token.is_fresh(at(299), skew));
        assert!(!token.is_fresh(at(300), skew));
        assert!(AccessToken::new("t", None).is_fresh(at(0), skew));
    }

    #[test]
    fn a_rejected_token_is_not_accepted() {
        let want = Want {
            skew: Duration::ZERO,
            rejected: Some(Arc::from("old")),
        };
        assert!(!want.accepts(&AccessToken::new("old", None), at(0)));
        assert!(want.accepts(&AccessToken::new("new", None), at(0)));
    }

    #[test]
    fn a_cooldown_applies_to_the_grant_that_failed_only() {
        let failure = RefreshFailure {
            until: at(60),
            permanent: true,
            grant: fingerprint(Some(&Secret::new("rt-1"))),
        };
        let same = fingerprint(Some(&Secret::new("rt-1")));
        assert!(matches!(
            failure.check(&same, at(0)),
            Err(CredentialError::CoolingDown { retry_after, permanent: true })
                if retry_after == Duration::from_secs(60)
        ));
        assert!(failure.check(&same, at(60)).is_ok());
        assert!(
            failure
                .check(&fingerprint(Some(&Secret::new("rt-2"))), at(0))
                .is_ok()
        );
    }

    #[test]
    fn a_stored_token_of_unknown_expiry_is_used_only_without_a_refresh_token() {
        let want = Want {
            skew: Duration::from_secs(300),
            rejected: None,
        };
        let mut creds = OAuthCredentials {
            access_token: Some(Secret::new("at")),
            ..OAuthCredentials::default()
        };
        assert!(stored_token(&creds, &want, at(0)).is_some());
        creds.refresh_token = Some(Secret::new("rt"));
        assert!(stored_token(&creds, &want, at(0)).is_none());
        creds.expires_at = Some(at(3600));
        assert!(stored_token(&creds, &want, at(0)).is_some());
        assert!(stored_token(&creds, &want, at(3400)).is_none());
    }

    #[test]
    fn debug_hides_the_token() {
        let token = AccessToken::new("ya29.secret-value", None);
        assert!(!format!("{token:?}").contains("ya29"));
    }
}
