//! The secret key that account and proxy credentials are encrypted with at rest: where
//! it comes from, the key file the embedded deployment generates, and `rotate-key`.
//!
//! Sources, in order: `security.secret_key` (`AIGW_SECURITY__SECRET_KEY`), then
//! `security.key_file`, then, for SQLite only, `<database file>.key`, generated on first
//! start. PostgreSQL without a key refuses to start: instances sharing a database must
//! share the key, so none may invent one. A key file's `<file>.old` (written by
//! `rotate-key`) holds the keys it replaced, which stay readable.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use aigw_domain::mask_url_credentials;
use aigw_repository::{Keyring, SecretKey, SqlOptions, SqlRepository};
use anyhow::{Context as _, anyhow, bail};

use crate::config::{Config, DatabaseTarget};

/// Why a PostgreSQL deployment without a key does not start.
const NO_KEY_FOR_POSTGRES: &str = "no secret key configured: with PostgreSQL set \
     AIGW_SECURITY__SECRET_KEY (32 bytes as base64 or hex, the same on every instance) or \
     security.key_file; account and proxy credentials are encrypted with it";

/// The keys a gateway runs with.
#[derive(Debug)]
pub struct Keys {
    /// The key every write uses.
    pub current: SecretKey,
    /// Keys that are only read: `security.previous_keys`, then those in `<key file>.old`.
    pub previous: Vec<SecretKey>,
    /// The key file the current key came from, if it came from one.
    pub file: Option<PathBuf>,
}

impl Keys {
    /// The keyring of the repository.
    pub fn keyring(&self) -> Keyring {
        Keyring::with_previous(self.current.clone(), self.previous.iter().cloned())
    }
}

/// Resolves the configured keys, generating the embedded deployment's key file on first
/// start. Every error names the setting or file at fault, never the key.
pub fn load(config: &Config) -> anyhow::Result<Keys> {
    let security = &config.security;
    let mut previous = security
        .previous_keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            SecretKey::parse(key.expose())
                .map_err(|e| anyhow!("config key `security.previous_keys[{index}]`: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(key) = &security.secret_key {
        let current = SecretKey::parse(key.expose())
            .map_err(|e| anyhow!("config key `security.secret_key`: {e}"))?;
        return Ok(Keys {
            current,
            previous,
            file: None,
        });
    }
    let (path, may_generate) = match (&security.key_file, config.database_target()?) {
        (Some(path), DatabaseTarget::Sqlite(_)) => (path.clone(), true),
        (Some(path), DatabaseTarget::Postgres) => (path.clone(), false),
        (None, DatabaseTarget::Sqlite(database)) => (default_key_file(&database), true),
        (None, DatabaseTarget::Postgres) => bail!(NO_KEY_FOR_POSTGRES),
    };
    let current = match read_key_file(&path)? {
        Some(key) => key,
        None if may_generate => generate_key_file(&path)?,
        None => bail!(
            "config key `security.key_file`: {} does not exist (with PostgreSQL no key is \
             generated: every instance needs the same one)",
            path.display()
        ),
    };
    previous.extend(read_old_keys(&path)?);
    Ok(Keys {
        current,
        previous,
        file: Some(path),
    })
}

/// `<database file>.key`, beside the database.
pub fn default_key_file(database: &Path) -> PathBuf {
    with_suffix(database, ".key")
}

fn old_file(path: &Path) -> PathBuf {
    with_suffix(path, ".old")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The key in `path`, or `None` when the file does not exist.
fn read_key_file(path: &Path) -> anyhow::Result<Option<SecretKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => zeroize::Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("cannot read key file {}: {e}", path.display())),
    };
    warn_if_readable_by_others(path);
    SecretKey::parse(&text)
        .map(Some)
        .map_err(|e| anyhow!("key file {}: {e}", path.display()))
}

/// The keys kept in `<path>.old`, one per line, newest first.
fn read_old_keys(path: &Path) -> anyhow::Result<Vec<SecretKey>> {
    let old = old_file(path);
    let text = match std::fs::read_to_string(&old) {
        Ok(text) => zeroize::Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow!("cannot read key file {}: {e}", old.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            SecretKey::parse(line)
                .map_err(|e| anyhow!("key file {} line {}: {e}", old.display(), index + 1))
        })
        .collect()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the secret key file is readable by other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Generates a key into `path`, or reads the key another process wrote there first.
fn generate_key_file(path: &Path) -> anyhow::Result<SecretKey> {
    let key = SecretKey::generate();
    if create_key_file(path, &key)? {
        tracing::info!(
            path = %path.display(),
            key_id = %key.id(),
            "generated the secret key file; back it up with the database"
        );
        return Ok(key);
    }
    read_key_file(path)?.ok_or_else(|| anyhow!("key file {} vanished", path.display()))
}

/// Creates a file only the owner can read, holding `contents`, flushed to disk.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// A fresh temporary name beside `path`, so a rename or link stays on one file system.
fn temp_beside(path: &Path) -> PathBuf {
    with_suffix(path, &format!(".tmp-{:016x}", rand::random::<u64>()))
}

/// Makes a rename or link in `path`'s folder durable.
fn sync_folder(path: &Path) {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Not every platform can open a folder; the file itself is already synced.
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
}

fn key_line(keys: &[&SecretKey]) -> zeroize::Zeroizing<String> {
    let mut text = zeroize::Zeroizing::new(String::new());
    for key in keys {
        text.push_str(&key.expose_base64());
        text.push('\n');
    }
    text
}

/// Writes `key` to `path` with mode 0600 unless the file exists. Whole or not at all: the
/// key is written to a temporary file and linked into place (a link, unlike a rename,
/// never replaces a file another process created meanwhile). Returns whether it wrote.
pub fn create_key_file(path: &Path, key: &SecretKey) -> anyhow::Result<bool> {
    let temp = temp_beside(path);
    write_private(&temp, key_line(&[key]).as_bytes())
        .with_context(|| format!("cannot write key file {}", temp.display()))?;
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_folder(path);
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(anyhow!("cannot create key file {}: {e}", path.display())),
    }
}

/// Replaces the key in `path` by `new`, first writing `retired` (the replaced key and
/// those it had replaced) to `<path>.old`, so a crash at any point leaves every key still
/// on disk. Each file is written whole and renamed into place.
fn replace_key_file(path: &Path, new: &SecretKey, retired: &[&SecretKey]) -> anyhow::Result<()> {
    let old = old_file(path);
    for (target, text) in [
        (&old, key_line(retired)),
        (&path.to_path_buf(), key_line(&[new])),
    ] {
        let temp = temp_beside(target);
        write_private(&temp, text.as_bytes())
            .with_context(|| format!("cannot write key file {}", temp.display()))?;
        if let Err(e) = std::fs::rename(&temp, target) {
            let _ = std::fs::remove_file(&temp);
            bail!("cannot replace key file {}: {e}", target.display());
        }
        sync_folder(target);
    }
    Ok(())
}

/// Where `rotate-key` takes the new key from.
#[derive(Debug)]
pub enum NewKey {
    /// `--new-key-file PATH`: the key in that file, generated into it if it is missing.
    File(PathBuf),
    /// `AIGW_NEW_SECRET_KEY`: the key itself.
    Text(zeroize::Zeroizing<String>),
    /// `--keep-current`: no new key; re-encrypt what older keys still hold.
    KeepCurrent,
    /// Nothing given: generate one and store it in the configured key file.
    Generate,
}

/// `aigateway rotate-key`: re-encrypts every account and proxy credential under the new
/// key, reading the old values with the configured keys. Prints counts and what to
/// configure next, never a key.
pub async fn rotate(config: &Config, new: NewKey) -> anyhow::Result<()> {
    let keys = load(config)?;
    let (new_key, next_step) = match new {
        NewKey::KeepCurrent => (keys.current.clone(), None),
        NewKey::Text(text) => {
            let key = SecretKey::parse(&text).map_err(|e| anyhow!("AIGW_NEW_SECRET_KEY: {e}"))?;
            (
                key,
                Some(
                    "set AIGW_SECURITY__SECRET_KEY to the new key, and keep the old key in \
                     security.previous_keys until every instance runs with the new one"
                        .to_owned(),
                ),
            )
        }
        NewKey::File(path) => {
            let key = match read_key_file(&path)? {
                Some(key) => key,
                None => generate_key_file(&path)?,
            };
            (
                key,
                Some(format!(
                    "point security.key_file at {}, and keep the old key in \
                     security.previous_keys until every instance runs with the new one",
                    path.display()
                )),
            )
        }
        NewKey::Generate => {
            let Some(path) = &keys.file else {
                bail!(
                    "the current key comes from security.secret_key, so a generated key \
                     would have nowhere to go: give the new key with --new-key-file PATH \
                     or AIGW_NEW_SECRET_KEY"
                );
            };
            let key = SecretKey::generate();
            // The files first: the new key must be on disk before any row depends on it.
            let mut retired = vec![&keys.current];
            let older = read_old_keys(path)?;
            retired.extend(older.iter());
            replace_key_file(path, &key, &retired)?;
            tracing::info!(
                path = %path.display(),
                key_id = %key.id(),
                "wrote the new secret key; the replaced one is kept in the .old file"
            );
            (
                key,
                Some(format!(
                    "restart the gateway: it reads {} (and the older keys in its .old file)",
                    path.display()
                )),
            )
        }
    };
    let keyring = Keyring::with_previous(
        new_key.clone(),
        std::iter::once(keys.current.clone()).chain(keys.previous.iter().cloned()),
    );
    let options = SqlOptions {
        max_connections: config.database.max_connections as usize,
        acquire_timeout: config.database.connect_timeout,
        keyring: Some(keyring),
        ..SqlOptions::default()
    };
    let database = mask_url_credentials(&config.database.url);
    let repository = SqlRepository::connect_with(&config.database.url, options)
        .await
        .with_context(|| format!("cannot open database {database}"))?;
    if config.database.migrate_on_start {
        repository
            .migrate()
            .await
            .with_context(|| format!("cannot migrate database {database}"))?;
    }
    let report = repository.rotate_secrets().await.context(
        "re-encryption stopped; rows done so far are under the new key and the others under \
         their old one, and the configured keys read both",
    )?;
    #[expect(clippy::print_stdout, reason = "the counts are the command's output")]
    {
        println!(
            "re-encrypted {} account credentials, {} proxy credentials, {} provider URL \
             credentials and {} secret settings under key {} ({}, {}, {} and {} already were)",
            report.accounts_sealed,
            report.proxies_sealed,
            report.providers_sealed,
            report.settings_sealed,
            new_key.id(),
            report.accounts_current,
            report.proxies_current,
            report.providers_current,
            report.settings_current,
        );
        if report.changed_concurrently > 0 {
            println!(
                "{} rows changed while the command ran and were left as they were: run it \
                 again with --keep-current after switching every instance to the new key",
                report.changed_concurrently
            );
        }
        if let Some(step) = next_step {
            println!("next: {step}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(database_url: &str, env: &[(&str, &str)]) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let mut vars: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.push(("AIGW_DATABASE__URL".into(), database_url.into()));
        Config::load(None, dir.path(), vars).unwrap()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn embedded_first_start_generates_a_private_key_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("gw.db");
        let config = config(&format!("sqlite://{}", database.display()), &[]);
        let first = load(&config).unwrap();
        let file = dir.path().join("gw.db.key");
        assert_eq!(first.file.as_deref(), Some(file.as_path()));
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            SecretKey::parse(&text).unwrap().id(),
            first.current.id(),
            "the file holds the key in use"
        );
        let second = load(&config).unwrap();
        assert_eq!(
            second.current.id(),
            first.current.id(),
            "reused, not regenerated"
        );
        assert!(second.previous.is_empty());
    }

    #[test]
    fn postgres_without_a_key_refuses_naming_the_variable() {
        let config = config("postgres://u@127.0.0.1/db", &[]);
        let err = load(&config).unwrap_err().to_string();
        assert!(err.contains("AIGW_SECURITY__SECRET_KEY"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.key");
        let config = super::tests::config(
            "postgres://u@127.0.0.1/db",
            &[("AIGW_SECURITY__KEY_FILE", missing.to_str().unwrap())],
        );
        let err = load(&config).unwrap_err().to_string();
        assert!(err.contains("security.key_file"), "{err}");
        assert!(!missing.exists(), "never generated for PostgreSQL");

        let key = SecretKey::generate();
        let config = super::tests::config(
            "postgres://u@127.0.0.1/db",
            &[("AIGW_SECURITY__SECRET_KEY", &key.expose_base64())],
        );
        assert_eq!(load(&config).unwrap().current.id(), key.id());
    }

    #[test]
    fn a_malformed_key_file_is_named_and_not_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.key");
        std::fs::write(&file, "not-a-key-hunter2\n").unwrap();
        let config = config(
            &format!("sqlite://{}", dir.path().join("gw.db").display()),
            &[("AIGW_SECURITY__KEY_FILE", file.to_str().unwrap())],
        );
        let err = load(&config).unwrap_err().to_string();
        assert!(err.contains(file.to_str().unwrap()), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn replacing_the_key_file_keeps_every_older_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gw.key");
        let (k1, k2, k3) = (
            SecretKey::generate(),
            SecretKey::generate(),
            SecretKey::generate(),
        );
        assert!(create_key_file(&file, &k1).unwrap());
        assert!(!create_key_file(&file, &k2).unwrap(), "never overwrites");
        replace_key_file(&file, &k2, &[&k1]).unwrap();
        replace_key_file(&file, &k3, &[&k2, &k1]).unwrap();
        assert_eq!(read_key_file(&file).unwrap().unwrap().id(), k3.id());
        let old: Vec<_> = read_old_keys(&file)
            .unwrap()
            .iter()
            .map(|k| k.id().clone())
            .collect();
        assert_eq!(old, [k2.id().clone(), k1.id().clone()]);
        #[cfg(unix)]
        {
            assert_eq!(mode(&file), 0o600);
            assert_eq!(mode(&old_file(&file)), 0o600);
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary files left behind");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotate_key_without_a_key_file_needs_the_new_key_given() {
        let key = SecretKey::generate();
        let dir = tempfile::tempdir().unwrap();
        let config = config(
            &format!("sqlite://{}", dir.path().join("gw.db").display()),
            &[("AIGW_SECURITY__SECRET_KEY", &key.expose_base64())],
        );
        let err = rotate(&config, NewKey::Generate).await.unwrap_err();
        assert!(err.to_string().contains("--new-key-file"), "{err}");
        let err = rotate(&config, NewKey::Text(zeroize::Zeroizing::new("bad".into())))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("AIGW_NEW_SECRET_KEY"), "{err}");
    }
}
