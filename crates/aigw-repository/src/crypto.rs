//! Secrets at rest: AES-256-GCM under a keyring of one current key and older keys kept
//! for reading.
//!
//! A sealed value is text, `aigw1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`, with a
//! fresh random 96-bit nonce per value. The key id is derived from the key itself (the
//! first 8 bytes of a SHA-256 over a domain label and the key, in hex), so no version
//! number has to be kept in step by hand: the id says which key a value needs, lets a
//! reader pick it from the keyring, and lets a rotation tell which values are stale.
//! The id reveals nothing usable about a 256-bit random key.
//!
//! Every value is sealed with associated data naming where it is stored (the column and
//! the row), so a ciphertext copied into another row does not decrypt there.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Bytes in a key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The prefix of every sealed value; the version is part of it so the format can change.
const PREFIX: &str = "aigw1:";
const KEY_ID_LABEL: &[u8] = b"aigateway secret key id v1\0";

/// Why a secret could not be sealed, opened or parsed. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The value is sealed under a key the keyring does not hold.
    #[error(
        "is encrypted under key `{key_id}`, which is not configured (security.secret_key, security.key_file or security.previous_keys)"
    )]
    UnknownKey {
        /// The id of the key the value needs.
        key_id: String,
    },
    /// The value is sealed but the repository was opened without any key.
    #[error("is encrypted under key `{key_id}`, but no secret key is configured")]
    NoKeyring {
        /// The id of the key the value needs.
        key_id: String,
    },
    /// The key with the right id did not authenticate the value: it was altered (or
    /// copied from another row).
    #[error("cannot be decrypted with key `{key_id}`: the stored value was altered")]
    Unauthentic {
        /// The id of the key that was tried.
        key_id: String,
    },
    /// The text is not a sealed value of this format.
    #[error("is not a valid encrypted value")]
    Malformed,
    /// The value is beyond what AES-GCM can seal (gigabytes; no credential comes near).
    #[error("is too long to encrypt")]
    TooLong,
    /// A key given as text is not 32 bytes in base64 or hex.
    #[error(
        "not a valid secret key: expected 32 bytes as base64 (44 characters) or hex (64 characters)"
    )]
    InvalidKey,
}

/// The id of a key: 16 hex digits derived from it. Not secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 256-bit key. `Debug` shows only its id; the bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct SecretKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: KeyId,
}

impl SecretKey {
    /// A fresh key from the thread's cryptographically secure generator.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self::from_zeroizing(bytes)
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self::from_zeroizing(Zeroizing::new(bytes))
    }

    fn from_zeroizing(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let mut hash = Sha256::new();
        hash.update(KEY_ID_LABEL);
        hash.update(bytes.as_ref());
        let digest = hash.finalize();
        let id = KeyId(hex_lower(&digest[..8]));
        Self { bytes, id }
    }

    /// Parses a key written as base64 (padded or not) or as 64 hex digits; surrounding
    /// whitespace (a key file's newline) is ignored.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let decoded = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            decode_hex(text)
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| STANDARD_NO_PAD.decode(text))
                .ok()
                .map(Zeroizing::new)
        };
        let decoded = decoded.ok_or(SecretError::InvalidKey)?;
        let bytes: [u8; KEY_LEN] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| SecretError::InvalidKey)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The key as padded base64, the form written to key files. Call only to store the key.
    pub fn expose_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_ref()))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&(*self.bytes).into())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id.0)
            .finish_non_exhaustive()
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn decode_hex(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let digits = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(digits.len() / 2));
    for pair in digits.chunks_exact(2) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out.push(u8::try_from(hi * 16 + lo).ok()?);
    }
    Some(out)
}

struct Entry {
    id: KeyId,
    cipher: Aes256Gcm,
}

/// The keys a repository seals and opens secrets with: the current key, used for every
/// write, and older keys that are only read (during a rotation). Cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

struct Inner {
    current: Entry,
    /// Older keys, without duplicates and without the current one.
    previous: Vec<Entry>,
}

impl Keyring {
    /// A keyring of one key.
    pub fn new(current: SecretKey) -> Self {
        Self::with_previous(current, [])
    }

    /// A keyring writing with `current` and also reading values sealed under `previous`.
    /// A previous key equal to the current one (or to another previous key) is dropped.
    pub fn with_previous(
        current: SecretKey,
        previous: impl IntoIterator<Item = SecretKey>,
    ) -> Self {
        let current = Entry {
            id: current.id.clone(),
            cipher: current.cipher(),
        };
        let mut older: Vec<Entry> = Vec::new();
        for key in previous {
            if key.id != current.id && older.iter().all(|e| e.id != key.id) {
                older.push(Entry {
                    id: key.id.clone(),
                    cipher: key.cipher(),
                });
            }
        }
        Self {
            inner: Arc::new(Inner {
                current,
                previous: older,
            }),
        }
    }

    /// The id of the key every write uses.
    pub fn current_id(&self) -> &KeyId {
        &self.inner.current.id
    }

    /// The ids of every key held, the current one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.entries().map(|e| &e.id)
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        std::iter::once(&self.inner.current).chain(&self.inner.previous)
    }

    /// Seals `plaintext` under the current key with a fresh random nonce, binding it to
    /// `aad` (where the value is stored).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, SecretError> {
        let entry = &self.inner.current;
        let mut nonce_bytes = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let nonce = Nonce::<U12>::from(nonce_bytes);
        let body = entry
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SecretError::TooLong)?;
        let mut raw = Vec::with_capacity(NONCE_LEN + body.len());
        raw.extend_from_slice(&nonce_bytes);
        raw.extend_from_slice(&body);
        Ok(format!(
            "{PREFIX}{}:{}",
            entry.id,
            STANDARD_NO_PAD.encode(raw)
        ))
    }

    /// Opens a value sealed by [`Keyring::seal`] with the same `aad`, with whichever key of
    /// the keyring its id names.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let (key_id, body) = split_sealed(sealed)?;
        let raw = STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| SecretError::Malformed)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Malformed);
        }
        let entry =
            self.entries()
                .find(|e| e.id.0 == key_id)
                .ok_or_else(|| SecretError::UnknownKey {
                    key_id: key_id.to_owned(),
                })?;
        let (nonce_bytes, body) = raw.split_at(NONCE_LEN);
        let nonce_bytes: [u8; NONCE_LEN] =
            nonce_bytes.try_into().map_err(|_| SecretError::Malformed)?;
        entry
            .cipher
            .decrypt(&Nonce::<U12>::from(nonce_bytes), Payload { msg: body, aad })
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Unauthentic {
                key_id: key_id.to_owned(),
            })
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_id().0)
            .field(
                "previous",
                &self
                    .inner
                    .previous
                    .iter()
                    .map(|e| e.id.0.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Whether `text` has the form of a sealed value (it may still fail to open).
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The id of the key a sealed value needs, without opening it.
pub fn sealed_key_id(sealed: &str) -> Result<&str, SecretError> {
    split_sealed(sealed).map(|(id, _)| id)
}

fn split_sealed(sealed: &str) -> Result<(&str, &str), SecretError> {
    let rest = sealed.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
    let (key_id, body) = rest.split_once(':').ok_or(SecretError::Malformed)?;
    if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SecretError::Malformed);
    }
    Ok((key_id, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &[u8] = b"accounts.auth_data:1";

    #[test]
    fn round_trip() {
        let ring = Keyring::new(SecretKey::generate());
        let sealed = ring.seal(b"sk-canary-1234", AAD).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("canary"));
        assert_eq!(
            sealed_key_id(&sealed).unwrap(),
            ring.current_id().as_str(),
            "the value names its key"
        );
        assert_eq!(
            ring.open(&sealed, AAD).unwrap().as_slice(),
            b"sk-canary-1234"
        );
        assert_eq!(
            ring.open(&ring.seal(b"", AAD).unwrap(), AAD)
                .unwrap()
                .as_slice(),
            b""
        );
    }

    #[test]
    fn nonces_are_unique_per_value() {
        let ring = Keyring::new(SecretKey::generate());
        let values: std::collections::HashSet<String> = (0..1000)
            .map(|_| ring.seal(b"same plaintext", AAD).unwrap())
            .collect();
        assert_eq!(values.len(), 1000, "the same plaintext seals differently");
        let nonces: std::collections::HashSet<Vec<u8>> = values
            .iter()
            .map(|v| {
                let body = v.rsplit(':').next().unwrap();
                STANDARD_NO_PAD.decode(body).unwrap()[..NONCE_LEN].to_vec()
            })
            .collect();
        assert_eq!(nonces.len(), 1000);
    }

    #[test]
    fn tampering_is_detected() {
        let ring = Keyring::new(SecretKey::generate());
        let sealed = ring.seal(b"sk-canary-1234", AAD).unwrap();
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut raw = STANDARD_NO_PAD.decode(body).unwrap();
        for index in [0, NONCE_LEN, raw.len() - 1] {
            raw[index] ^= 1;
            let altered = format!("{head}:{}", STANDARD_NO_PAD.encode(&raw));
            assert!(
                matches!(
                    ring.open(&altered, AAD),
                    Err(SecretError::Unauthentic { .. })
                ),
                "byte {index}"
            );
            raw[index] ^= 1;
        }
        assert!(matches!(
            ring.open(&sealed, b"accounts.auth_data:2"),
            Err(SecretError::Unauthentic { .. })
        ));
        for bad in [
            "",
            "aigw1:",
            "aigw1:zz:AAAA",
            "aigw1:00:AAAA",
            "aigw0:00:AAAA",
        ] {
            assert_eq!(ring.open(bad, AAD), Err(SecretError::Malformed), "{bad}");
        }
    }

    #[test]
    fn wrong_key_is_named_not_guessed() {
        let first = SecretKey::generate();
        let second = SecretKey::generate();
        let sealed = Keyring::new(first.clone()).seal(b"secret", AAD).unwrap();
        let err = Keyring::new(second.clone()).open(&sealed, AAD).unwrap_err();
        assert_eq!(
            err,
            SecretError::UnknownKey {
                key_id: first.id().to_string()
            }
        );
        assert!(err.to_string().contains(first.id().as_str()));
        // A keyring holding the old key as a previous one reads it.
        let rotated = Keyring::with_previous(second.clone(), [first.clone()]);
        assert_eq!(rotated.current_id(), second.id());
        assert_eq!(rotated.open(&sealed, AAD).unwrap().as_slice(), b"secret");
        assert_eq!(rotated.key_ids().count(), 2);
        // A different key forced under the first key's id fails authentication.
        let forged = sealed.replacen(first.id().as_str(), second.id().as_str(), 1);
        assert!(matches!(
            Keyring::new(second).open(&forged, AAD),
            Err(SecretError::Unauthentic { .. })
        ));
    }

    #[test]
    fn keys_parse_from_base64_and_hex_and_never_print() {
        let key = SecretKey::generate();
        let b64 = key.expose_base64();
        let parsed = SecretKey::parse(&format!("  {}\n", b64.as_str())).unwrap();
        assert_eq!(parsed.id(), key.id());
        let unpadded = b64.trim_end_matches('=').to_owned();
        assert_eq!(SecretKey::parse(&unpadded).unwrap().id(), key.id());
        let hex = hex_lower(key.bytes.as_ref());
        assert_eq!(SecretKey::parse(&hex).unwrap().id(), key.id());
        assert_eq!(
            SecretKey::parse(&hex.to_uppercase()).unwrap().id(),
            key.id()
        );
        for bad in ["", "short", &hex[..62], &STANDARD.encode([7_u8; 16])] {
            assert!(
                matches!(SecretKey::parse(bad), Err(SecretError::InvalidKey)),
                "{bad}"
            );
        }
        let shown = format!("{key:?} {:?}", Keyring::new(key.clone()));
        assert!(!shown.contains(b64.as_str()), "{shown}");
        assert!(!shown.contains(&hex), "{shown}");
        assert!(shown.contains(key.id().as_str()), "{shown}");
        assert_eq!(key.id().as_str().len(), 16);
    }
}
