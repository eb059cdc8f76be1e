//! PostgreSQL and Redis for the scale-out deployment: a fresh database and a random
//! key prefix per run, both removed at the end.

use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A database created for this run.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The URL the gateway connects with.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `aigw_loadbench_<random>` through the server at `admin_url`.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("aigw_loadbench_{:08x}", rand::random::<u32>());
        execute(admin_url, &format!("CREATE DATABASE {name}")).await?;
        let url = replace_database(admin_url, &name)?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// Drops the database, closing any connection the gateway left behind.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        execute(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await
    }
}

async fn execute(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    let connect = tokio_postgres::connect(admin_url, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .context("PostgreSQL did not answer in time")?
        .context("cannot connect to PostgreSQL")?;
    let query = client.batch_execute(sql);
    // The connection future does the IO; it ends when the client is dropped.
    let result = tokio::select! {
        result = query => result.with_context(|| format!("`{sql}` failed")),
        result = connection => match result {
            Ok(()) => Err(anyhow::anyhow!("PostgreSQL closed the connection")),
            Err(e) => Err(anyhow::Error::new(e).context("PostgreSQL connection failed")),
        },
    };
    drop(client);
    result
}

/// Runs a `SELECT count(*) …` on `url` and returns the count.
pub async fn count(url: &str, sql: &str) -> anyhow::Result<i64> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .context("PostgreSQL did not answer in time")?
        .context("cannot connect to PostgreSQL")?;
    let query = client.query_one(sql, &[]);
    let result = tokio::select! {
        row = query => row.with_context(|| format!("`{sql}` failed"))?.try_get(0)
            .with_context(|| format!("`{sql}` returned no count")),
        result = connection => match result {
            Ok(()) => Err(anyhow::anyhow!("PostgreSQL closed the connection")),
            Err(e) => Err(anyhow::Error::new(e).context("PostgreSQL connection failed")),
        },
    };
    drop(client);
    result
}

/// The same server URL with another database name in its path.
fn replace_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let Some(scheme_end) = base.find("://") else {
        bail!("`{url}` is not a postgres:// URL");
    };
    let authority_start = scheme_end + 3;
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// The `host:port` of a `redis://` URL (no auth or TLS: the bench's Redis is local).
fn redis_addr(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("redis://")
        .with_context(|| format!("`{url}` is not a redis:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        bail!("`{url}` names no host");
    }
    Ok(if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:6379")
    })
}

/// Encodes one command in RESP, the Redis wire format.
fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends one command and returns the first line of the reply. Enough for PING and
/// an EVAL that returns an integer; the bench needs nothing more of Redis.
async fn redis_command(url: &str, args: &[&str]) -> anyhow::Result<String> {
    let addr = redis_addr(url)?;
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .context("Redis did not answer in time")?
        .with_context(|| format!("cannot connect to Redis at {addr}"))?;
    stream.write_all(&resp_command(args)).await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while !reply.ends_with(b"\r\n") {
        let n = tokio::time::timeout(CONNECT_TIMEOUT, stream.read(&mut buf))
            .await
            .context("Redis did not reply in time")??;
        if n == 0 {
            bail!("Redis closed the connection");
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&reply).trim_end().to_owned();
    if let Some(error) = line.strip_prefix('-') {
        bail!("Redis error: {error}");
    }
    Ok(line)
}

/// Fails unless Redis answers PING.
pub async fn redis_ping(url: &str) -> anyhow::Result<()> {
    let reply = redis_command(url, &["PING"]).await?;
    if reply != "+PONG" {
        bail!("Redis answered PING with `{reply}`");
    }
    Ok(())
}

/// Deletes every key under `prefix`; returns how many.
pub async fn redis_delete_prefix(url: &str, prefix: &str) -> anyhow::Result<u64> {
    // Glob characters in the prefix would widen the match; the bench's prefix has none.
    if prefix.contains(['*', '?', '[', ']', '\\']) {
        bail!("refusing to delete keys under a glob-like prefix `{prefix}`");
    }
    let script = "local n = 0 \
                  for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
                  redis.call('DEL', k) n = n + 1 end \
                  return n";
    let pattern = format!("{prefix}*");
    let reply = redis_command(url, &["EVAL", script, "0", &pattern]).await?;
    reply
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected reply `{reply}` to the key cleanup"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_path() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://h:1", "x").unwrap(),
            "postgres://h:1/x"
        );
        assert!(replace_database("nonsense", "x").is_err());
    }

    #[test]
    fn redis_urls_give_host_and_port() {
        assert_eq!(
            redis_addr("redis://127.0.0.1:6379").unwrap(),
            "127.0.0.1:6379"
        );
        assert_eq!(redis_addr("redis://localhost/0").unwrap(), "localhost:6379");
        assert_eq!(redis_addr("redis://:pw@h:7000/1").unwrap(), "h:7000");
        assert!(redis_addr("http://h").is_err());
    }

    #[test]
    fn commands_are_encoded_as_resp_arrays() {
        assert_eq!(resp_command(&["PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            resp_command(&["GET", "k:1"]),
            b"*2\r\n$3\r\nGET\r\n$3\r\nk:1\r\n"
        );
    }

    /// Against the real Redis when it is up: keys under the prefix go, others stay.
    #[tokio::test]
    async fn the_prefix_cleanup_deletes_only_its_keys() {
        let url = std::env::var("AIGW_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        if let Err(e) = redis_ping(&url).await {
            if std::env::var("AIGW_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("Redis is required but unreachable: {e:#}");
            }
            eprintln!("skipped: redis unreachable");
            return;
        }
        let prefix = format!("aigw-loadbench-test-{:08x}:", rand::random::<u32>());
        let other = format!("{prefix}other");
        let mine = format!("{prefix}a:");
        for key in [format!("{mine}1"), format!("{mine}2")] {
            redis_command(&url, &["SET", &key, "1"]).await.unwrap();
        }
        redis_command(&url, &["SET", &other, "1"]).await.unwrap();
        assert_eq!(redis_delete_prefix(&url, &mine).await.unwrap(), 2);
        assert_eq!(redis_delete_prefix(&url, &mine).await.unwrap(), 0);
        assert_eq!(
            redis_command(&url, &["EXISTS", &other]).await.unwrap(),
            ":1"
        );
        redis_command(&url, &["DEL", &other]).await.unwrap();
    }

    /// Against the real PostgreSQL when it is up: the scratch database is created
    /// and dropped again.
    #[tokio::test]
    async fn a_scratch_database_comes_and_goes() {
        let admin = std::env::var("AIGW_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let db = match ScratchDatabase::create(&admin).await {
            Ok(db) => db,
            Err(e) => {
                if std::env::var("AIGW_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                    panic!("PostgreSQL is required but unreachable: {e:#}");
                }
                eprintln!("skipped: postgres unreachable");
                return;
            }
        };
        execute(&db.url, "SELECT 1").await.unwrap();
        let url = db.url.clone();
        db.drop_database().await.unwrap();
        assert!(execute(&url, "SELECT 1").await.is_err());
    }
}
