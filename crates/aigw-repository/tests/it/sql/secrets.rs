//! Secrets at rest: account and proxy credentials are sealed in the database, read back
//! through the repository, refused with the wrong key, and re-sealed by rotation.

use aigw_domain::{AuthData, NewAccount, NewProxy, OAuthCredentials, ProxyPatch, Secret};
use aigw_repository::{Error, Keyring, SecretError, SecretKey, SqlOptions, SqlRepository};
use aigw_test_support::sql_options;

use super::fixtures::{new_provider, pid, provider};
use super::support::{raw_execute, raw_texts};

const CANARY: &str = "CANARY7f3a";

fn options(keyring: Option<Keyring>) -> SqlOptions {
    SqlOptions {
        keyring,
        ..sql_options()
    }
}

async fn open(url: &str, keyring: Option<Keyring>) -> SqlRepository {
    let repo = SqlRepository::connect_with(url, options(keyring))
        .await
        .expect("connect");
    repo.migrate().await.expect("migrate");
    repo
}

fn api_key(label: &str) -> AuthData {
    AuthData::ApiKey {
        api_key: Secret::new(format!("sk-{CANARY}-{label}-0123456789")),
    }
}

fn oauth() -> AuthData {
    AuthData::Oauth(Box::new(OAuthCredentials {
        access_token: Some(Secret::new(format!("ya29.{CANARY}-access"))),
        refresh_token: Some(Secret::new(format!("1//{CANARY}-refresh"))),
        client_secret: Some(Secret::new(format!("{CANARY}-client-secret"))),
        project_id: Some("project-1".into()),
        ..OAuthCredentials::default()
    }))
}

fn proxy_url(n: u8) -> String {
    format!("http://user{n}:{CANARY}pw@10.0.0.{n}:3128")
}

/// Every stored credential value, as the database holds it.
async fn raw_secrets(url: &str) -> Vec<String> {
    let mut all = raw_texts(
        url,
        "SELECT CAST(auth_data AS TEXT) AS v FROM accounts ORDER BY id",
    )
    .await;
    all.extend(
        raw_texts(
            url,
            "SELECT url || ' ' || COALESCE(credentials, '') AS v FROM proxy_pool ORDER BY id",
        )
        .await,
    );
    all
}

fn assert_no_canary(raw: &[String]) {
    assert!(!raw.is_empty());
    for value in raw {
        assert!(!value.contains(CANARY), "stored in clear: {value}");
    }
}

/// Inserts two accounts and a proxy; returns the account ids' credentials for comparison.
async fn seed(repo: &SqlRepository) -> (Vec<(aigw_domain::AccountId, AuthData)>, String) {
    let provider = provider(repo, "openai").await;
    let mut accounts = Vec::new();
    for auth in [api_key("a"), oauth()] {
        let created = repo
            .insert_account(&NewAccount::new(provider.clone(), "acc", auth.clone()))
            .await
            .unwrap();
        assert_eq!(created.auth_data, auth);
        accounts.push((created.id, auth));
    }
    let proxy = repo
        .insert_proxy(&NewProxy::new(proxy_url(1)))
        .await
        .unwrap();
    assert_eq!(proxy.url.expose(), proxy_url(1));
    (accounts, proxy_url(1))
}

async fn assert_readable(repo: &SqlRepository, accounts: &[(aigw_domain::AccountId, AuthData)]) {
    for (id, auth) in accounts {
        assert_eq!(&repo.get_account(*id).await.unwrap().auth_data, auth);
    }
    let snapshot = repo.load_snapshot().await.unwrap();
    assert_eq!(snapshot.accounts.len(), accounts.len());
    for account in &snapshot.accounts {
        assert!(accounts.contains(&(account.id, account.auth_data.clone())));
    }
    assert_eq!(snapshot.proxies.len(), 1);
    assert_eq!(snapshot.proxies[0].url.expose(), proxy_url(1));
}

async fn credentials_are_sealed_at_rest(url: String) {
    let key = SecretKey::generate();
    let repo = open(&url, Some(Keyring::new(key.clone()))).await;
    let (accounts, _) = seed(&repo).await;

    let raw = raw_secrets(&url).await;
    assert_no_canary(&raw);
    for value in &raw[..2] {
        assert!(
            value.contains(&format!("aigw1:{}:", key.id())),
            "names its key: {value}"
        );
    }
    let proxy_raw = raw_texts(&url, "SELECT url AS v FROM proxy_pool").await;
    assert_eq!(
        proxy_raw,
        ["http://10.0.0.1:3128"],
        "the URL is kept without credentials"
    );
    assert_readable(&repo, &accounts).await;

    // Writes after the insert seal too.
    let (first, _) = &accounts[0];
    let refreshed = api_key("refreshed");
    repo.update_account_credentials(*first, &refreshed)
        .await
        .unwrap();
    let proxy = repo.load_snapshot().await.unwrap().proxies[0].id;
    let moved = repo
        .update_proxy(
            proxy,
            &ProxyPatch {
                url: Some(proxy_url(2).into()),
                ..ProxyPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.url.expose(), proxy_url(2));
    assert_no_canary(&raw_secrets(&url).await);
    assert_eq!(repo.get_account(*first).await.unwrap().auth_data, refreshed);

    // Uniqueness compares the endpoint: the same host and port with other credentials is
    // the same proxy.
    let err = repo
        .insert_proxy(&NewProxy::new("http://other:pw@10.0.0.2:3128"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}

async fn the_wrong_key_is_refused_with_a_typed_error(url: String) {
    let key = SecretKey::generate();
    let repo = open(&url, Some(Keyring::new(key.clone()))).await;
    let (accounts, _) = seed(&repo).await;
    let (id, _) = &accounts[0];

    let wrong = open(&url, Some(Keyring::new(SecretKey::generate()))).await;
    let err = wrong.get_account(*id).await.unwrap_err();
    match &err {
        Error::Secret {
            row,
            reason: SecretError::UnknownKey { key_id },
            ..
        } => {
            assert_eq!(key_id, key.id().as_str());
            assert!(row.contains(&id.to_string()), "{row}");
        }
        other => panic!("expected an unknown-key error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(key.id().as_str()), "{text}");
    assert!(!text.contains(CANARY), "{text}");
    assert!(matches!(
        wrong.load_snapshot().await,
        Err(Error::Secret { .. })
    ));

    let keyless = open(&url, None).await;
    assert!(matches!(
        keyless.load_snapshot().await,
        Err(Error::Secret {
            reason: SecretError::NoKeyring { .. },
            ..
        })
    ));

    // A sealed value moved to another row does not open there.
    let (other, _) = &accounts[1];
    raw_execute(
        &url,
        &format!(
            "UPDATE accounts SET auth_data = (SELECT auth_data FROM accounts WHERE id = '{id}') \
             WHERE id = '{other}'"
        ),
    )
    .await;
    assert!(matches!(
        repo.get_account(*other).await,
        Err(Error::Secret {
            reason: SecretError::Unauthentic { .. },
            ..
        })
    ));
}

async fn clear_rows_are_read_and_then_sealed(url: String) {
    let clear = open(&url, None).await;
    let (accounts, _) = seed(&clear).await;
    let raw = raw_secrets(&url).await;
    assert!(
        raw.iter().filter(|v| v.contains(CANARY)).count() == 3,
        "without a keyring the values are clear: {raw:?}"
    );

    let key = SecretKey::generate();
    let repo = open(&url, Some(Keyring::new(key))).await;
    assert_readable(&repo, &accounts).await;
    let report = repo.seal_clear_secrets().await.unwrap();
    assert_eq!((report.accounts_sealed, report.proxies_sealed), (2, 1));
    assert_eq!(report.changed_concurrently, 0);
    assert_no_canary(&raw_secrets(&url).await);
    assert_readable(&repo, &accounts).await;

    let again = repo.seal_clear_secrets().await.unwrap();
    assert_eq!((again.accounts_sealed, again.proxies_sealed), (0, 0));
    assert_eq!((again.accounts_current, again.proxies_current), (2, 1));

    assert!(matches!(
        clear.rotate_secrets().await,
        Err(Error::NoSecretKey { .. })
    ));
}

async fn rotation_reseals_under_the_new_key(url: String) {
    let old = SecretKey::generate();
    let repo = open(&url, Some(Keyring::new(old.clone()))).await;
    let (accounts, _) = seed(&repo).await;
    let before = raw_secrets(&url).await;

    let new = SecretKey::generate();
    let rotating = open(
        &url,
        Some(Keyring::with_previous(new.clone(), [old.clone()])),
    )
    .await;
    let report = rotating.rotate_secrets().await.unwrap();
    assert_eq!((report.accounts_sealed, report.proxies_sealed), (2, 1));
    assert_eq!((report.accounts_current, report.proxies_current), (0, 0));
    assert_eq!(report.changed_concurrently, 0);

    let after = raw_secrets(&url).await;
    assert_no_canary(&after);
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b, a, "every ciphertext changed");
        assert!(b.contains(old.id().as_str()), "{b}");
        assert!(a.contains(new.id().as_str()), "{a}");
        assert!(!a.contains(old.id().as_str()), "{a}");
    }

    // The new key alone reads everything; the old key alone reads nothing.
    let fresh = open(&url, Some(Keyring::new(new.clone()))).await;
    assert_readable(&fresh, &accounts).await;
    let stale = open(&url, Some(Keyring::new(old))).await;
    assert!(matches!(
        stale.load_snapshot().await,
        Err(Error::Secret {
            reason: SecretError::UnknownKey { key_id },
            ..
        }) if key_id == new.id().as_str()
    ));

    let again = fresh.rotate_secrets().await.unwrap();
    assert_eq!((again.accounts_sealed, again.proxies_sealed), (0, 0));
    assert_eq!((again.accounts_current, again.proxies_current), (2, 1));
}

/// The stored JWT signing secret, as the database holds it.
async fn raw_jwt_secret(url: &str) -> String {
    let rows = raw_texts(
        url,
        "SELECT value AS v FROM settings WHERE key = 'auth.jwt_secret'",
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().unwrap()
}

/// The JWT signing secret is sealed with the keyring like account credentials: a clear
/// value written before is read and sealed in place, rotation re-seals it, and a
/// repository without its key cannot read it.
async fn the_jwt_secret_is_sealed_at_rest(url: String) {
    const JWT: &str = aigw_repository::sql::JWT_SECRET_SETTING;
    let clear = open(&url, None).await;
    let first = format!("{CANARY}-jwt-first");
    let value = clear.init_secret_setting(JWT, &first).await.unwrap();
    assert_eq!(value.expose(), first);
    assert_eq!(raw_jwt_secret(&url).await, first, "clear without a keyring");

    // An upgraded instance reads the clear value and seals it in place.
    let old = SecretKey::generate();
    let repo = open(&url, Some(Keyring::new(old.clone()))).await;
    let value = repo
        .init_secret_setting(JWT, &format!("{CANARY}-jwt-second"))
        .await
        .unwrap();
    assert_eq!(value.expose(), first, "the first value stays");
    let sealed = raw_jwt_secret(&url).await;
    assert!(!sealed.contains(CANARY), "stored in clear: {sealed}");
    assert!(
        sealed.starts_with(&format!("aigw1:{}:", old.id())),
        "{sealed}"
    );
    assert_eq!(
        repo.init_secret_setting(JWT, "ignored")
            .await
            .unwrap()
            .expose(),
        first
    );
    assert_eq!(raw_jwt_secret(&url).await, sealed, "sealed once");

    // Rotation re-seals it under the new key.
    let new = SecretKey::generate();
    let rotating = open(
        &url,
        Some(Keyring::with_previous(new.clone(), [old.clone()])),
    )
    .await;
    let report = rotating.rotate_secrets().await.unwrap();
    assert_eq!((report.settings_sealed, report.settings_current), (1, 0));
    let rotated = raw_jwt_secret(&url).await;
    assert!(
        rotated.starts_with(&format!("aigw1:{}:", new.id())),
        "{rotated}"
    );
    let fresh = open(&url, Some(Keyring::new(new))).await;
    assert_eq!(
        fresh.init_secret_setting(JWT, "x").await.unwrap().expose(),
        first
    );
    assert_eq!(fresh.rotate_secrets().await.unwrap().settings_current, 1);

    // The old key alone, or no key, cannot read it.
    for stale in [open(&url, Some(Keyring::new(old))).await, clear] {
        assert!(matches!(
            stale.init_secret_setting(JWT, "x").await,
            Err(Error::Secret { .. })
        ));
    }
}

/// A first start with a keyring never writes the secret in clear.
async fn a_new_jwt_secret_is_sealed_from_the_start(url: String) {
    const JWT: &str = aigw_repository::sql::JWT_SECRET_SETTING;
    let key = SecretKey::generate();
    let repo = open(&url, Some(Keyring::new(key.clone()))).await;
    let fresh = format!("{CANARY}-jwt");
    assert_eq!(
        repo.init_secret_setting(JWT, &fresh)
            .await
            .unwrap()
            .expose(),
        fresh
    );
    let stored = raw_jwt_secret(&url).await;
    assert!(!stored.contains(CANARY), "stored in clear: {stored}");
    let report = repo.seal_clear_secrets().await.unwrap();
    assert_eq!((report.settings_sealed, report.settings_current), (0, 1));
}

/// The base URL of provider `id`, as the database holds it (URL and credentials).
async fn raw_provider(url: &str, id: &str) -> String {
    let rows = raw_texts(
        url,
        &format!(
            "SELECT base_url || ' ' || COALESCE(credentials, '') AS v FROM providers \
             WHERE id = '{id}'"
        ),
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().unwrap()
}

/// Credentials in a provider's base URL are sealed like proxy credentials: stored apart
/// from the URL, read back whole (the snapshot included), sealed when written in clear
/// before, and re-sealed by rotation.
async fn provider_base_url_credentials_are_sealed(url: String) {
    let full = format!("https://gw:{CANARY}@llm.internal/v1");
    let clear = open(&url, None).await;
    let mut new = new_provider("basic", aigw_domain::ProviderKind::Openai);
    new.base_url = full.clone();
    clear.insert_provider(&new).await.unwrap();
    assert!(raw_provider(&url, "basic").await.contains(CANARY));

    let old = SecretKey::generate();
    let repo = open(&url, Some(Keyring::new(old.clone()))).await;
    assert_eq!(
        repo.get_provider(&pid("basic")).await.unwrap().base_url,
        full
    );
    let report = repo.seal_clear_secrets().await.unwrap();
    assert_eq!((report.providers_sealed, report.providers_current), (1, 0));
    let stored = raw_provider(&url, "basic").await;
    assert!(!stored.contains(CANARY), "stored in clear: {stored}");
    assert!(
        stored.starts_with("https://llm.internal/v1 aigw1:"),
        "{stored}"
    );
    assert_eq!(
        repo.get_provider(&pid("basic")).await.unwrap().base_url,
        full
    );

    // New writes seal too, and the snapshot reads the whole URL.
    let moved = format!("https://gw:{CANARY}2@llm2.internal/v1");
    repo.update_provider(
        &pid("basic"),
        &aigw_domain::ProviderPatch {
            base_url: Some(moved.clone()),
            ..aigw_domain::ProviderPatch::default()
        },
    )
    .await
    .unwrap();
    let mut other = new_provider("other", aigw_domain::ProviderKind::Openai);
    other.base_url = format!("https://{CANARY}@llm3.internal");
    repo.insert_provider(&other).await.unwrap();
    for id in ["basic", "other"] {
        let stored = raw_provider(&url, id).await;
        assert!(!stored.contains(CANARY), "stored in clear: {stored}");
    }
    let snapshot = repo.load_snapshot().await.unwrap();
    let urls: Vec<&str> = snapshot
        .providers
        .iter()
        .map(|p| p.base_url.as_str())
        .collect();
    assert_eq!(
        urls,
        [moved.as_str(), &format!("https://{CANARY}@llm3.internal")]
    );
    let shown = format!("{:?}", snapshot.providers);
    assert!(!shown.contains(CANARY), "Debug masks: {shown}");

    // Rotation re-seals; the old key alone then reads nothing.
    let new_key = SecretKey::generate();
    let rotating = open(
        &url,
        Some(Keyring::with_previous(new_key.clone(), [old.clone()])),
    )
    .await;
    let report = rotating.rotate_secrets().await.unwrap();
    assert_eq!((report.providers_sealed, report.providers_current), (2, 0));
    let fresh = open(&url, Some(Keyring::new(new_key))).await;
    assert_eq!(
        fresh.get_provider(&pid("basic")).await.unwrap().base_url,
        moved
    );
    let stale = open(&url, Some(Keyring::new(old))).await;
    assert!(matches!(
        stale.get_provider(&pid("basic")).await,
        Err(Error::Secret { .. })
    ));
}

/// The fallback URLs of provider `id`, as the database holds them.
async fn raw_fallbacks(url: &str, id: &str) -> String {
    let cast = if url.starts_with("postgres") {
        "fallback_base_urls::text"
    } else {
        "fallback_base_urls"
    };
    let rows = raw_texts(
        url,
        &format!("SELECT {cast} AS v FROM providers WHERE id = '{id}'"),
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().unwrap()
}

/// Credentials in a provider's fallback URLs are sealed like the base URL's: apart
/// from each URL, read back whole, sealed when written in clear before, and re-sealed
/// by rotation; a URL without credentials stays a plain string.
async fn provider_fallback_url_credentials_are_sealed(url: String) {
    let secret = format!("https://gw:{CANARY}@backup.internal/v1");
    let plain = "https://plain.internal/v1".to_owned();
    let clear = open(&url, None).await;
    let mut new = new_provider("fb", aigw_domain::ProviderKind::Openai);
    new.fallback_base_urls = vec![secret.clone(), plain.clone()];
    clear.insert_provider(&new).await.unwrap();
    assert!(raw_fallbacks(&url, "fb").await.contains(CANARY));

    let old = SecretKey::generate();
    let repo = open(&url, Some(Keyring::new(old.clone()))).await;
    let report = repo.seal_clear_secrets().await.unwrap();
    assert_eq!((report.providers_sealed, report.providers_current), (1, 0));
    let stored = raw_fallbacks(&url, "fb").await;
    assert!(!stored.contains(CANARY), "stored in clear: {stored}");
    assert!(stored.contains("backup.internal"), "{stored}");
    assert!(stored.contains(&plain), "{stored}");
    let read = repo.get_provider(&pid("fb")).await.unwrap();
    assert_eq!(read.fallback_base_urls, [secret.clone(), plain.clone()]);

    // A patch seals too, and the snapshot reads whole URLs.
    let moved = format!("https://{CANARY}2@backup2.internal");
    repo.update_provider(
        &pid("fb"),
        &aigw_domain::ProviderPatch {
            fallback_base_urls: Some(vec![moved.clone()]),
            ..aigw_domain::ProviderPatch::default()
        },
    )
    .await
    .unwrap();
    let stored = raw_fallbacks(&url, "fb").await;
    assert!(!stored.contains(CANARY), "stored in clear: {stored}");
    let snapshot = repo.load_snapshot().await.unwrap();
    let fb = snapshot
        .providers
        .iter()
        .find(|p| p.id.as_str() == "fb")
        .unwrap();
    assert_eq!(fb.fallback_base_urls, std::slice::from_ref(&moved));

    // Rotation re-seals; the old key alone then reads nothing.
    let new_key = SecretKey::generate();
    let rotating = open(
        &url,
        Some(Keyring::with_previous(new_key.clone(), [old.clone()])),
    )
    .await;
    let report = rotating.rotate_secrets().await.unwrap();
    assert_eq!((report.providers_sealed, report.providers_current), (1, 0));
    let fresh = open(&url, Some(Keyring::new(new_key))).await;
    assert_eq!(
        fresh
            .get_provider(&pid("fb"))
            .await
            .unwrap()
            .fallback_base_urls,
        [moved]
    );
    assert_eq!(fresh.rotate_secrets().await.unwrap().providers_current, 1);
    let stale = open(&url, Some(Keyring::new(old))).await;
    assert!(matches!(
        stale.get_provider(&pid("fb")).await,
        Err(Error::Secret { .. })
    ));
}

aigw_test_support::backend_tests!(
    urls;
    provider_fallback_url_credentials_are_sealed,
    provider_base_url_credentials_are_sealed,
    the_jwt_secret_is_sealed_at_rest,
    a_new_jwt_secret_is_sealed_from_the_start,
    credentials_are_sealed_at_rest,
    the_wrong_key_is_refused_with_a_typed_error,
    clear_rows_are_read_and_then_sealed,
    rotation_reseals_under_the_new_key,
);
