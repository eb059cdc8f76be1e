//! Single-flight locks: taking one on each store, and the guard that
//! releases it only while its holder still owns it (a dropped guard
//! releases it too).

use std::fmt;
use std::time::Duration;

use super::error::StateError;
use super::fallback::FallbackState;
use super::memory::InProcessState;
use super::redis::RedisState;

/// Proof of holding a single-flight lock (e.g. "I refresh account 7's
/// token"). Release it with [`LockGuard::release`]; dropping it releases the
/// lock as well (for Redis, shortly after, from a background task). A holder
/// that dies keeps the lock only until its TTL runs out.
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard {
    key: String,
    holder: Option<Holder>,
}

enum Holder {
    InProcess {
        state: InProcessState,
        token: u64,
    },
    Redis {
        state: RedisState,
        token: String,
        /// Set when the lock was taken through the fallback store, so that
        /// a release during an outage is reported to it instead of failing.
        fallback: Option<FallbackState>,
    },
}

impl LockGuard {
    fn in_process(state: InProcessState, key: &str, token: u64) -> Self {
        Self {
            key: key.to_owned(),
            holder: Some(Holder::InProcess { state, token }),
        }
    }

    fn redis(state: RedisState, key: &str, token: String, fallback: Option<FallbackState>) -> Self {
        Self {
            key: key.to_owned(),
            holder: Some(Holder::Redis {
                state,
                token,
                fallback,
            }),
        }
    }

    /// The logical key of the lock.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Gives the guard up without releasing the lock: it expires at its TTL.
    /// For a lock that spaces rounds of work between instances rather than
    /// guarding a critical section.
    pub fn keep_until_expiry(mut self) {
        self.holder = None;
    }

    /// Releases the lock if this guard still owns it. `Ok(false)` means the
    /// lock had expired (and may now belong to someone else, whose lock is
    /// left alone) or, through the fallback store, that Redis could not be
    /// reached and the lock will expire by itself.
    pub async fn release(mut self) -> Result<bool, StateError> {
        let Some(holder) = self.holder.take() else {
            return Ok(false);
        };
        match holder {
            Holder::InProcess { state, token } => Ok(state.release_lock(&self.key, token)),
            Holder::Redis {
                state,
                token,
                fallback,
            } => match state.release_lock(&self.key, &token).await {
                Ok(released) => Ok(released),
                Err(error) => match fallback {
                    Some(fallback) if error.is_unavailable() => {
                        fallback.note_unavailable(&error);
                        Ok(false)
                    }
                    _ => Err(error),
                },
            },
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        match self.holder.take() {
            None => {}
            Some(Holder::InProcess { state, token }) => {
                state.release_lock(&self.key, token);
            }
            Some(Holder::Redis { state, token, .. }) => {
                state.release_in_background(std::mem::take(&mut self.key), token);
            }
        }
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.holder {
            None => "released",
            Some(Holder::InProcess { .. }) => "in_process",
            Some(Holder::Redis { .. }) => "redis",
        };
        // The token stays out of logs: with it anyone could release the lock.
        f.debug_struct("LockGuard")
            .field("key", &self.key)
            .field("backend", &backend)
            .finish()
    }
}

impl InProcessState {
    /// Takes the lock `key` for `ttl` unless someone else holds it.
    pub fn try_lock(&self, key: &str, ttl: Duration) -> Option<LockGuard> {
        let token = self.take_lock(key, ttl)?;
        Some(LockGuard::in_process(self.clone(), key, token))
    }
}

impl RedisState {
    /// `SET NX PX` with a random token: takes the lock `key` for `ttl`
    /// unless someone else holds it.
    pub async fn try_lock(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<LockGuard>, StateError> {
        self.try_lock_for(key, ttl, None).await
    }

    /// [`RedisState::try_lock`] on behalf of `fallback`, which the guard
    /// tells when Redis cannot be reached to release the lock.
    async fn try_lock_for(
        &self,
        key: &str,
        ttl: Duration,
        fallback: Option<FallbackState>,
    ) -> Result<Option<LockGuard>, StateError> {
        let token = self.take_lock(key, ttl).await?;
        Ok(token.map(|token| LockGuard::redis(self.clone(), key, token, fallback)))
    }
}

impl FallbackState {
    /// Takes the lock `key` for `ttl` unless someone else holds it.
    pub async fn try_lock(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<LockGuard>, StateError> {
        self.run(
            self.redis().try_lock_for(key, ttl, Some(self.clone())),
            |local| Ok(local.try_lock(key, ttl)),
        )
        .await
    }
}
