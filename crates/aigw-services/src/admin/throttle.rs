//! Sign-in throttling, and the bounded pool password hashing runs on.
//!
//! Every `POST /api/v1/auth/login` counts one attempt against the username and
//! one against the client's address, in the shared-state store (Redis in
//! scale-out, so every instance counts against one budget) before any password
//! is checked; past either budget the attempt is refused with
//! [`AdminError::TooManyAttempts`] whatever the password. A successful sign-in
//! clears the username's count and takes its attempt back from the address's,
//! so the budgets limit failures. Unknown usernames count like known ones: the
//! answer never tells them apart.
//!
//! argon2 is deliberately slow (tens of milliseconds of CPU). Hashing and
//! verifying run on tokio's blocking pool behind a small semaphore, so a flood
//! of sign-ins queues there instead of taking every core from the data plane.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use aigw_repository::state::SharedState;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::AdminError;

/// How sign-ins are throttled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed sign-ins per username within one window; the next is refused.
    pub max_failures_per_user: u32,
    /// Failed sign-ins per client address within one window (any usernames).
    pub max_failures_per_address: u32,
    /// How long a window lasts, from its first attempt.
    pub window: Duration,
    /// Password hashes computed or verified at once (at least 1).
    pub password_hash_concurrency: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            max_failures_per_user: 5,
            max_failures_per_address: 50,
            window: Duration::from_secs(15 * 60),
            password_hash_concurrency: 2,
        }
    }
}

/// The sign-in budgets and the password-hashing permits of one instance.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    limits: LoginLimits,
    state: SharedState,
    hashing: Arc<Semaphore>,
}

/// An admitted sign-in attempt: what to give back if it succeeds.
#[derive(Debug)]
pub(crate) struct SignInAttempt {
    user_key: String,
    address_key: Option<String>,
}

/// The counter key of a username: hashed, so any text makes a short, safe key.
fn user_key(username: &str) -> String {
    format!(
        "login:user:{}",
        hex::encode(Sha256::digest(username.as_bytes()))
    )
}

/// The counter key of a client address. An IPv6 client is counted by its /64,
/// the block one subscriber usually holds (counting single addresses would
/// give it 2^64 budgets).
fn address_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => format!("login:addr:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!(
                "login:addr:{:x}:{:x}:{:x}:{:x}::/64",
                s[0], s[1], s[2], s[3]
            )
        }
    }
}

impl LoginThrottle {
    pub(crate) fn new(limits: LoginLimits, state: SharedState) -> Self {
        let permits = limits.password_hash_concurrency.max(1);
        Self {
            limits,
            state,
            hashing: Arc::new(Semaphore::new(permits)),
        }
    }

    /// Counts a sign-in attempt for `username` from `address` and admits it,
    /// or refuses it with the wait until the exhausted budget's window ends.
    pub(crate) async fn admit(
        &self,
        username: &str,
        address: Option<IpAddr>,
    ) -> Result<SignInAttempt, AdminError> {
        let window = self.limits.window;
        let user_key = user_key(username);
        let user = self.state.window_hit(&user_key, window).await?;
        let mut wait =
            (user.count > u64::from(self.limits.max_failures_per_user)).then_some(user.resets_in);
        let address_key = address.map(address_key);
        if let Some(key) = &address_key {
            let hit = self.state.window_hit(key, window).await?;
            if hit.count > u64::from(self.limits.max_failures_per_address) {
                wait = Some(wait.map_or(hit.resets_in, |w| w.max(hit.resets_in)));
            }
        }
        match wait {
            Some(retry_after) => Err(AdminError::TooManyAttempts { retry_after }),
            None => Ok(SignInAttempt {
                user_key,
                address_key,
            }),
        }
    }

    /// The attempt signed in: it was no failure.
    pub(crate) async fn succeeded(&self, attempt: SignInAttempt) {
        // The sign-in stands either way; a count left behind only expires.
        if let Err(error) = self.state.window_reset(&attempt.user_key).await {
            tracing::warn!(%error, "could not clear a user's sign-in failures");
        }
        if let Some(key) = &attempt.address_key
            && let Err(error) = self.state.window_forgive(key).await
        {
            tracing::warn!(%error, "could not take back an address's sign-in attempt");
        }
    }

    /// A permit to hash or verify one password; waits while the pool is busy.
    pub(crate) async fn hashing_permit(&self) -> Result<SemaphorePermit<'_>, AdminError> {
        self.hashing
            .acquire()
            .await
            .map_err(|_| AdminError::Crypto("password hashing is shut down"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigw_repository::state::{InProcessState, StateConfig};

    fn throttle(limits: LoginLimits) -> LoginThrottle {
        LoginThrottle::new(
            limits,
            SharedState::InProcess(InProcessState::new(&StateConfig::in_process())),
        )
    }

    #[test]
    fn addresses_are_counted_by_host_or_ipv6_block() {
        let v4: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(address_key(v4), "login:addr:203.0.113.9");
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(address_key(mapped), "login:addr:203.0.113.9");
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a), "login:addr:2001:db8:1:2::/64");
        assert_ne!(user_key("alice"), user_key("Alice"));
    }

    #[tokio::test]
    async fn a_user_budget_refuses_the_next_attempt_until_a_success_clears_it() {
        let t = throttle(LoginLimits {
            max_failures_per_user: 2,
            ..LoginLimits::default()
        });
        let from: Option<IpAddr> = Some("203.0.113.9".parse().unwrap());
        t.admit("alice", from).await.unwrap();
        let second = t.admit("alice", from).await.unwrap();
        let refused = t.admit("alice", from).await.unwrap_err();
        match refused {
            AdminError::TooManyAttempts { retry_after } => {
                assert!(
                    retry_after > Duration::from_secs(14 * 60),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Other users are not affected.
        t.admit("bob", from).await.unwrap();
        t.succeeded(second).await;
        t.admit("alice", from).await.unwrap();
    }

    #[tokio::test]
    async fn an_address_budget_spans_usernames() {
        let t = throttle(LoginLimits {
            max_failures_per_address: 3,
            ..LoginLimits::default()
        });
        let from: Option<IpAddr> = Some("198.51.100.7".parse().unwrap());
        for name in ["a", "b", "c"] {
            t.admit(name, from).await.unwrap();
        }
        assert!(matches!(
            t.admit("d", from).await,
            Err(AdminError::TooManyAttempts { .. })
        ));
        // Another address has its own budget.
        t.admit("d", Some("198.51.100.8".parse().unwrap()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn hashing_permits_bound_concurrency() {
        let t = throttle(LoginLimits {
            password_hash_concurrency: 2,
            ..LoginLimits::default()
        });
        let first = t.hashing_permit().await.unwrap();
        let _second = t.hashing_permit().await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), t.hashing_permit())
                .await
                .is_err(),
            "a third permit waits"
        );
        drop(first);
        let _third = tokio::time::timeout(Duration::from_secs(5), t.hashing_permit())
            .await
            .unwrap()
            .unwrap();
    }
}
