//! Where the test services are, and what a test does when one does not answer:
//! it is skipped with a note, unless `AIGW_TEST_REQUIRE_SERVICES=1` (as in CI),
//! where it fails.

use std::fmt::Display;
use std::time::Duration;

/// The PostgreSQL server tests create their databases on:
/// `AIGW_TEST_DATABASE_URL`, by default the local server's `postgres` database.
pub fn postgres_url() -> String {
    std::env::var("AIGW_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The Redis server tests keep their keys on: `AIGW_TEST_REDIS_URL`, by
/// default the local server.
pub fn redis_url() -> String {
    std::env::var("AIGW_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Whether a missing service fails the test (`AIGW_TEST_REQUIRE_SERVICES=1`)
/// rather than skipping it.
pub fn services_required() -> bool {
    std::env::var("AIGW_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Reports that a test cannot run because of `why`: a failure when services
/// are required, otherwise a skip note on stderr (the caller then returns).
pub fn skip_or_fail(why: &str) {
    skip_or_fail_when(services_required(), why);
}

#[expect(clippy::print_stderr, reason = "the skip note is the test's output")]
fn skip_or_fail_when(required: bool, why: &str) {
    if required {
        panic!("{why} and AIGW_TEST_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {why}");
}

/// Reports an unreachable `service` (see [`skip_or_fail`]).
pub fn unreachable(service: &str, why: &str) {
    skip_or_fail(&format!("{service} unreachable ({why})"));
}

/// What `connect` to `service` yields, or `None` after reporting (see
/// [`unreachable`]) when it fails or takes longer than `within`.
pub async fn reachable<T, E: Display>(
    service: &str,
    within: Duration,
    connect: impl Future<Output = Result<T, E>>,
) -> Option<T> {
    match tokio::time::timeout(within, connect).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            unreachable(service, &error.to_string());
            None
        }
        Err(_) => {
            unreachable(service, &format!("no answer within {within:?}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "postgres unreachable (refused) and AIGW_TEST_REQUIRE_SERVICES=1")]
    fn a_required_service_that_is_missing_fails_the_test() {
        skip_or_fail_when(true, "postgres unreachable (refused)");
    }

    #[test]
    fn a_missing_service_is_a_skip_when_not_required() {
        skip_or_fail_when(false, "postgres unreachable (refused)");
    }

    #[tokio::test]
    async fn an_answer_in_time_is_passed_on() {
        let answer = reachable("test", Duration::from_secs(1), async { Ok::<_, String>(7) });
        assert_eq!(answer.await, Some(7));
    }
}
