//! Tests generated once per case: `case_tests!` for any fixtures,
//! `backend_tests!` for each SQL backend.

/// Generates, for each `case => fixture`, a module `case` holding one
/// multi-threaded `#[tokio::test]` per named `async fn`, which runs the
/// function in the fixture (see [`Fixture`](crate::Fixture); the caller needs `tokio`).
///
/// ```text
/// aigw_test_support::case_tests! {
///     worker_threads = 2;
///     embedded => aigw_test_support::Arg(Deployment::Embedded),
///     scale_out => aigw_test_support::Arg(Deployment::ScaleOut);
///     tests [serves_a_request, refuses_a_bad_key]
/// }
/// ```
#[macro_export]
macro_rules! case_tests {
    (@module $case:ident, $fixture:expr, $threads:literal, [$($name:ident),* $(,)?]) => {
        mod $case {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    $crate::Fixture::run($fixture, super::$name).await;
                }
            )*
        }
    };
    (worker_threads = $threads:literal; $($case:ident => $fixture:expr),+ ; tests $names:tt) => {
        $( $crate::case_tests!(@module $case, $fixture, $threads, $names); )+
    };
}

/// Runs each named `async fn name(repo: SqlRepository)` on a fresh migrated
/// database of each SQL backend, as `sqlite::name` and `postgres::name`
/// (see [`Sqlite`](crate::Sqlite) and [`Postgres`](crate::Postgres)).
///
/// - `backend_tests!(a, b)`: opened with [`sql_options`](crate::sql_options),
///   two worker threads;
/// - `backend_tests!(options = expr, worker_threads = 4; a, b)`: opened with
///   the options `expr` gives;
/// - `backend_tests!(urls; a, b)`: each `async fn name(url: String)` gets the
///   URL of a fresh empty database instead.
#[macro_export]
macro_rules! backend_tests {
    (urls; $($name:ident),* $(,)?) => {
        $crate::case_tests! {
            worker_threads = 2;
            sqlite => $crate::SqliteUrl,
            postgres => $crate::PostgresUrl;
            tests [$($name),*]
        }
    };
    (options = $options:expr, worker_threads = $threads:literal; $($name:ident),* $(,)?) => {
        $crate::case_tests! {
            worker_threads = $threads;
            sqlite => $crate::Sqlite($options),
            postgres => $crate::Postgres($options);
            tests [$($name),*]
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(options = $crate::sql_options(), worker_threads = 2; $($name),*);
    };
}
