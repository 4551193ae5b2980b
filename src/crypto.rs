//! Secrets at rest: a master key for server-side secrets (tokens that must be shown again,
//! private keys, web hook URLs), user-key encryption for `.env` contents, token hashing.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use argon2::Argon2;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::distributions::Alphanumeric;
use rand::{Rng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// Holds the master key; seals and opens server-side secrets with XChaCha20-Poly1305.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl Vault {
    /// Loads `master.key` from the data directory, creating it (mode 0600) on first start.
    pub fn open_or_create(data_dir: &Path) -> anyhow::Result<Vault> {
        let path = data_dir.join("master.key");
        let key = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; KEY_LEN];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                file.write_all(&key)?;
                file.sync_all()?;
                key
            }
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        if key.len() != KEY_LEN {
            bail!("{} must hold exactly {KEY_LEN} bytes", path.display());
        }
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Vault::from_key(&key))
    }

    pub fn from_key(key: &[u8]) -> Vault {
        Vault {
            cipher: XChaCha20Poly1305::new_from_slice(key).expect("key length is checked"),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> String {
        seal_with(&self.cipher, plaintext)
    }

    pub fn seal_str(&self, plaintext: &str) -> String {
        self.seal(plaintext.as_bytes())
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        open_with(&self.cipher, sealed).context("a sealed value does not open with the master key")
    }

    pub fn open_string(&self, sealed: &str) -> anyhow::Result<SecretString> {
        let bytes = self.open(sealed)?;
        let text = String::from_utf8(bytes).context("a sealed value is not UTF-8")?;
        Ok(SecretString::from(text))
    }
}

fn seal_with(cipher: &XChaCha20Poly1305, plaintext: &[u8]) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), plaintext)
        .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    B64.encode(out)
}

fn open_with(cipher: &XChaCha20Poly1305, sealed: &str) -> Option<Vec<u8>> {
    let bytes = B64.decode(sealed).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    cipher.decrypt(XNonce::from_slice(nonce), ciphertext).ok()
}

/// `.env` contents sealed under a key derived from the user's passphrase; neither the
/// passphrase nor the derived key is ever stored. `salt` records the key derivation's
/// parameters too (`argon2id$m=…,t=…,p=…$<salt>`), so that stored contents keep opening if the
/// defaults change.
pub struct UserSealed {
    pub salt: String,
    pub sealed: String,
}

/// Argon2id as OWASP recommends it: 19 MiB, 2 passes, 1 lane.
const KDF_MEMORY_KIB: u32 = 19_456;
const KDF_PASSES: u32 = 2;
const KDF_LANES: u32 = 1;

fn derive_cipher(
    passphrase: &SecretString,
    salt: &[u8],
    (memory, passes, lanes): (u32, u32, u32),
) -> anyhow::Result<XChaCha20Poly1305> {
    let params = argon2::Params::new(memory, passes, lanes, Some(KEY_LEN))
        .map_err(|err| anyhow::anyhow!("argon2 parameters: {err}"))?;
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; KEY_LEN];
    argon
        .hash_password_into(passphrase.expose_secret().as_bytes(), salt, &mut key)
        .map_err(|err| anyhow::anyhow!("argon2: {err}"))?;
    let cipher = XChaCha20Poly1305::new_from_slice(&key).expect("32-byte key");
    key.fill(0);
    Ok(cipher)
}

fn parse_salt(stored: &str) -> anyhow::Result<(Vec<u8>, (u32, u32, u32))> {
    let mut parts = stored.split('$');
    let (Some("argon2id"), Some(params), Some(salt), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("the stored salt is not in the argon2id$params$salt form");
    };
    let mut values = [0u32; 3];
    for (slot, (name, value)) in values.iter_mut().zip(
        params
            .split(',')
            .map(|kv| kv.split_once('=').unwrap_or((kv, ""))),
    ) {
        *slot = value
            .parse()
            .with_context(|| format!("argon2 parameter {name}"))?;
    }
    let salt = B64.decode(salt).context("stored salt is not base64")?;
    Ok((salt, (values[0], values[1], values[2])))
}

/// Seals and opens with user passphrases. Each derivation takes 19 MiB and real CPU time, so
/// only a few run at once, off the async workers.
pub struct PassphraseSealer {
    slots: tokio::sync::Semaphore,
}

impl PassphraseSealer {
    pub fn new(concurrent: usize) -> PassphraseSealer {
        PassphraseSealer {
            slots: tokio::sync::Semaphore::new(concurrent.max(1)),
        }
    }

    pub async fn seal(
        &self,
        passphrase: SecretString,
        plaintext: String,
    ) -> anyhow::Result<UserSealed> {
        let _slot = self.slots.acquire().await?;
        tokio::task::spawn_blocking(move || seal_with_passphrase(&passphrase, &plaintext)).await?
    }

    /// `Ok(None)` when the passphrase is wrong.
    pub async fn open(
        &self,
        passphrase: SecretString,
        stored: UserSealed,
    ) -> anyhow::Result<Option<SecretString>> {
        let _slot = self.slots.acquire().await?;
        tokio::task::spawn_blocking(move || open_with_passphrase(&passphrase, &stored)).await?
    }
}

fn seal_with_passphrase(passphrase: &SecretString, plaintext: &str) -> anyhow::Result<UserSealed> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let params = (KDF_MEMORY_KIB, KDF_PASSES, KDF_LANES);
    let cipher = derive_cipher(passphrase, &salt, params)?;
    Ok(UserSealed {
        salt: format!(
            "argon2id$m={},t={},p={}${}",
            params.0,
            params.1,
            params.2,
            B64.encode(salt)
        ),
        sealed: seal_with(&cipher, plaintext.as_bytes()),
    })
}

fn open_with_passphrase(
    passphrase: &SecretString,
    stored: &UserSealed,
) -> anyhow::Result<Option<SecretString>> {
    let (salt, params) = parse_salt(&stored.salt)?;
    let cipher = derive_cipher(passphrase, &salt, params)?;
    match open_with(&cipher, &stored.sealed) {
        Some(bytes) => Ok(Some(SecretString::from(
            String::from_utf8(bytes).context("environment is not UTF-8")?,
        ))),
        None => Ok(None),
    }
}

/// A random token of `len` letters and digits.
pub fn random_token(len: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// API tokens: a recognisable prefix and 40 random letters and digits.
pub fn new_api_token() -> SecretString {
    SecretString::from(format!("slp_{}", random_token(40)))
}

/// What is stored in place of a token: its SHA-256, hex-encoded. Tokens are long random
/// strings, so a fast hash is enough and lookups stay a single indexed read.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An ed25519 key pair: the public half in OpenSSH format, the private half (OpenSSH format)
/// sealed with the master key.
pub struct SshKeyPair {
    pub public_openssh: String,
    pub private_sealed: String,
}

pub fn new_ssh_key(vault: &Vault, comment: &str) -> SshKeyPair {
    use russh::keys::ssh_key::private::Ed25519Keypair;
    use russh::keys::ssh_key::{LineEnding, PrivateKey};
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    key.set_comment(comment);
    let private = key
        .to_openssh(LineEnding::LF)
        .expect("an ed25519 key encodes");
    let public = key
        .public_key()
        .to_openssh()
        .expect("an ed25519 key encodes");
    SshKeyPair {
        public_openssh: format!("{public}\n"),
        private_sealed: vault.seal(private.as_bytes()),
    }
}

/// Whether `signature` (`sha256=<hex>`, as GitHub and Bitbucket send it) is the HMAC-SHA256
/// of `body` under `secret`, compared in constant time.
pub fn verify_hmac_sha256(secret: &str, body: &[u8], signature: &str) -> bool {
    use hmac::{Hmac, Mac};
    use subtle::ConstantTimeEq;
    let Some(given) = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    expected.as_slice().ct_eq(&given).into()
}

/// A password's Argon2id hash as a PHC string (`$argon2id$v=19$m=…`), with a random salt and
/// the OWASP parameters.
pub fn hash_password(password: &SecretString) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|err| anyhow::anyhow!("salt: {err}"))?;
    let params = argon2::Params::new(KDF_MEMORY_KIB, KDF_PASSES, KDF_LANES, None)
        .map_err(|err| anyhow::anyhow!("argon2 parameters: {err}"))?;
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    Ok(argon
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|err| anyhow::anyhow!("argon2: {err}"))?
        .to_string())
}

/// Whether `password` matches a hash made by [`hash_password`] (its parameters are read from
/// the hash); a malformed hash matches nothing.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// The anti-forgery token of a dashboard session: an HMAC of a fixed label under the session's
/// cookie value, so that it needs no storage and nobody without the cookie can compute it.
pub fn csrf_token(session: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(session.as_bytes()).expect("HMAC takes any key");
    mac.update(b"slipway dashboard form");
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time equality of two secrets.
pub fn secrets_match(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let password = SecretString::from("correct horse".to_owned());
        let hash = hash_password(&password).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(
            &SecretString::from("wrong".to_owned()),
            &hash
        ));
        assert!(!verify_password(&password, "not a hash"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
    }

    #[test]
    fn vault_round_trip_and_tamper_detection() {
        let vault = Vault::from_key(&[7u8; 32]);
        let sealed = vault.seal_str("hello");
        assert_ne!(sealed, "hello");
        assert_eq!(vault.open(&sealed).unwrap(), b"hello");
        let other = Vault::from_key(&[8u8; 32]);
        assert!(other.open(&sealed).is_err());
    }

    #[test]
    fn passphrase_sealing_rejects_wrong_key() {
        let key = SecretString::from("correct horse".to_owned());
        let stored = seal_with_passphrase(&key, "APP_KEY=x\n").unwrap();
        assert!(!stored.sealed.contains("APP_KEY"));
        assert!(
            stored.salt.starts_with("argon2id$m=19456,t=2,p=1$"),
            "{}",
            stored.salt
        );
        let opened = open_with_passphrase(&key, &stored).unwrap().unwrap();
        assert_eq!(opened.expose_secret(), "APP_KEY=x\n");
        let wrong = SecretString::from("wrong".to_owned());
        assert!(open_with_passphrase(&wrong, &stored).unwrap().is_none());
    }

    #[test]
    fn ssh_keys_are_openssh_ed25519() {
        use russh::keys::ssh_key::{PrivateKey, PublicKey};
        let vault = Vault::from_key(&[1u8; 32]);
        let pair = new_ssh_key(&vault, "slipway");
        assert!(
            pair.public_openssh
                .starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")
        );
        assert!(pair.public_openssh.ends_with(" slipway\n"));
        let public = PublicKey::from_openssh(pair.public_openssh.trim()).unwrap();
        let private = String::from_utf8(vault.open(&pair.private_sealed).unwrap()).unwrap();
        assert!(!pair.private_sealed.contains("PRIVATE KEY"));
        let private = PrivateKey::from_openssh(&private).unwrap();
        assert_eq!(private.public_key().key_data(), public.key_data());
    }
}
