//! Connecting and migrating: URL forms, unreachable databases, idempotent migrations.

use std::time::{Duration, Instant};

use aigw_repository::{Error, SqlBackend, SqlOptions, SqlRepository, Unavailable};
use aigw_test_support::{Fixture, Postgres, database_url, sql_options};

use super::fixtures::{api_key_account, provider};

#[tokio::test]
async fn unreachable_postgres_is_unavailable_quickly() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let started = Instant::now();
    let err = SqlRepository::connect_with(
        &format!("postgres://aigw:hunter2@127.0.0.1:{port}/aigw"),
        SqlOptions {
            acquire_timeout: Duration::from_secs(3),
            ..SqlOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable {
                context: "postgres.connect",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert_eq!(err.kind(), "unavailable");
    // One line that names the cause, not just "error connecting to server".
    let message = err.to_string();
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn sqlite_in_a_missing_folder_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/folder/a.db");
    let err = SqlRepository::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    let Error::Unavailable {
        source: Unavailable::MissingFolder(folder),
        ..
    } = &err
    else {
        panic!("expected a missing-folder error, got {err:?}");
    };
    assert!(folder.ends_with("no/such/folder"), "{folder}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!path.exists());
}

#[tokio::test]
async fn unknown_scheme_is_rejected() {
    let err = SqlRepository::connect("mysql://root:pw@localhost/db")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedUrl { scheme } if scheme == "mysql"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("pw@"), "{err}");
}

#[tokio::test]
async fn sqlite_file_migrates_once_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gw.db").display());
    let repo = SqlRepository::connect(&url).await.unwrap();
    assert_eq!(repo.backend(), SqlBackend::Sqlite);
    assert!(repo.migrate().await.unwrap() > 0, "the schema is created");
    assert_eq!(repo.migrate().await.unwrap(), 0, "already applied");
    let openai = provider(&repo, "openai").await;
    let account = repo
        .insert_account(&api_key_account(&openai, "kept"))
        .await
        .unwrap();
    repo.ping().await.unwrap();
    drop(repo);

    let reopened = SqlRepository::connect(&url).await.unwrap();
    assert_eq!(reopened.migrate().await.unwrap(), 0);
    assert_eq!(reopened.get_account(account.id).await.unwrap(), account);
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The database file and its WAL and shared-memory files are private to their owner
/// (they hold password hashes and sealed secrets), whatever the umask; a file an older
/// version created readable by others is tightened when opened.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    let url = format!("sqlite://{}", db.display());
    let repo = SqlRepository::connect(&url).await.unwrap();
    repo.migrate().await.unwrap();
    let openai = provider(&repo, "openai").await;
    repo.insert_account(&api_key_account(&openai, "written"))
        .await
        .unwrap();
    for name in ["gw.db", "gw.db-wal", "gw.db-shm"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    drop(repo);

    for name in ["gw.db", "gw.db-wal", "gw.db-shm"] {
        let path = dir.path().join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let reopened = SqlRepository::connect(&url).await.unwrap();
    reopened.ping().await.unwrap();
    for name in ["gw.db", "gw.db-wal", "gw.db-shm"] {
        assert_eq!(
            mode(&dir.path().join(name)),
            0o600,
            "{name} after reopening"
        );
    }
}

#[tokio::test]
async fn sqlite_memory_works_for_reads_and_writes() {
    let repo = SqlRepository::connect("sqlite::memory:").await.unwrap();
    repo.migrate().await.unwrap();
    let openai = provider(&repo, "openai").await;
    let account = repo
        .insert_account(&api_key_account(&openai, "m"))
        .await
        .unwrap();
    assert_eq!(repo.get_account(account.id).await.unwrap(), account);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrates_once_and_reports_its_backend() {
    Postgres(sql_options())
        .run(async |repo: SqlRepository| {
            assert_eq!(repo.backend(), SqlBackend::Postgres);
            // The harness already migrated; concurrent re-runs wait on the lock and do nothing.
            let (a, b) = tokio::join!(repo.migrate(), repo.migrate());
            assert_eq!((a.unwrap(), b.unwrap()), (0, 0));
            repo.ping().await.unwrap();
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_missing_database_is_named() {
    Postgres(sql_options())
        .run(async |_repo: SqlRepository| {
            let missing = format!("aigw_missing_{:016x}", rand::random::<u64>());
            let err = SqlRepository::connect(&database_url(&missing))
                .await
                .unwrap_err();
            assert!(err.is_unavailable(), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains(&missing) && message.contains("does not exist"),
                "{message}"
            );
        })
        .await;
}
