//! Waiting for asynchronous work without sleeping a fixed time: poll a check
//! every 10 ms until it holds, and fail naming what never happened once the
//! deadline passes.

use std::time::Duration;

use tokio::time::Instant;

/// How long to sleep between two checks.
const INTERVAL: Duration = Duration::from_millis(10);

/// Polls `check` until it yields a value, and returns it; fails the test
/// naming `what` when `within` passes first.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(INTERVAL).await;
    }
}

/// Polls `check` until it holds; fails the test naming `what` when `within`
/// passes first.
pub async fn wait_until(within: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    eventually(within, what, async || check().await.then_some(())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn polls_until_the_check_yields() {
        let mut calls = 0;
        let value = eventually(Duration::from_secs(5), "the third call", async || {
            calls += 1;
            (calls == 3).then_some(calls * 10)
        })
        .await;
        assert_eq!((value, calls), (30, 3));
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for a check that never holds")]
    async fn fails_naming_what_never_happened() {
        wait_until(
            Duration::from_millis(50),
            "a check that never holds",
            async || false,
        )
        .await;
    }
}
