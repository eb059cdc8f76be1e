//! What a generated test runs in: the [`Fixture`] of each case (the macros
//! in `macros.rs` make each named `async fn` one `#[tokio::test]` in a module
//! per case: `sqlite::name`, `postgres::name`, `embedded::name` …).

use std::future::Future;

/// What a generated test runs in: sets up the case, runs the test body `T`
/// in it, and cleans up.
pub trait Fixture<T> {
    /// Runs `test` in this fixture.
    fn run(self, test: T) -> impl Future<Output = ()>;
}

/// A case that is a plain value: the test body is called with it.
#[derive(Debug, Clone, Copy)]
pub struct Arg<A>(pub A);

impl<A, F, Fut> Fixture<F> for Arg<A>
where
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = ()>,
{
    async fn run(self, test: F) {
        test(self.0).await;
    }
}
