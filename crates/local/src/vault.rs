//! `Vault` with AES-256-GCM envelope encryption: each value gets its own random data key,
//! which is wrapped by the master key. Ciphertexts are bound to (account, secret) as
//! associated data, so a row copied to another secret does not decrypt.
//!
//! The master key comes from `OPERATOR_MASTER_KEY` (base64 of 32 bytes) or from
//! `<data-dir>/master.key`, created with mode 0600 on first start. A key check value stored
//! with the data makes a wrong key fail at start with a clear message, not with garbage.

use crate::db::{Cached, Db};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context};
use async_trait::async_trait;
use base64::Engine;
use operator_core::ids::{AccountId, SecretId};
use operator_core::ports::{Vault, VaultError};
use rand::RngCore;
use rusqlite::{params, OptionalExtension};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::io::Write;
use std::path::Path;

const NONCE_LEN: usize = 12;
const KEY_CHECK: &[u8] = b"operator vault key check v1";
const WRONG_KEY: &str =
    "the vault master key does not match the key these secrets were encrypted with \
     (check OPERATOR_MASTER_KEY or <data-dir>/master.key)";

/// 32 bytes, zeroed on drop.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// From base64 (standard or URL-safe) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| anyhow::anyhow!("the master key is not valid base64"))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            anyhow::anyhow!("the master key must be 32 bytes (44 base64 characters)")
        })?;
        Ok(Self::from_bytes(arr))
    }

    /// `OPERATOR_MASTER_KEY` if given, else `<dir>/master.key`, created (0600) when absent.
    pub fn load_or_create(dir: &Path, from_env: Option<&SecretString>) -> anyhow::Result<Self> {
        if let Some(k) = from_env {
            return Self::from_base64(k.expose_secret()).context("OPERATOR_MASTER_KEY");
        }
        let path = dir.join("master.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text).with_context(|| format!("{}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts
                    .open(&path)
                    .with_context(|| format!("create {}", path.display()))?;
                writeln!(
                    f,
                    "{}",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                )?;
                f.sync_all()?;
                Ok(Self::from_bytes(bytes))
            }
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// A 32-byte key for another purpose (instance tokens, ...), independent of the
    /// encryption key: HMAC-SHA256(master, label).
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }
}

fn seal(cipher: &Aes256Gcm, msg: &[u8], aad: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
        .map_err(|_| anyhow::anyhow!("encryption failed"))?;
    Ok([nonce.as_slice(), &ct].concat())
}

fn open(cipher: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
}

pub struct LocalVault {
    db: Db,
    master: Aes256Gcm,
}

impl LocalVault {
    /// Verifies `master` against the stored key check (or records one on first use).
    pub async fn open(db: Db, master: MasterKey) -> anyhow::Result<Self> {
        let cipher = master.cipher();
        let check_cipher = cipher.clone();
        db.call(move |c| -> anyhow::Result<()> {
            let stored: Option<Vec<u8>> = c
                .row(
                    "SELECT value FROM vault_meta WHERE name = 'key_check'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match stored {
                Some(sealed) => {
                    if open(&check_cipher, &sealed, b"key_check").as_deref() != Some(KEY_CHECK) {
                        bail!("{WRONG_KEY}");
                    }
                }
                None => {
                    let sealed = seal(&check_cipher, KEY_CHECK, b"key_check")?;
                    c.exec(
                        "INSERT INTO vault_meta (name, value) VALUES ('key_check', ?1)",
                        [sealed],
                    )?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(Self { db, master: cipher })
    }
}

fn aad(account: &AccountId, id: &SecretId) -> Vec<u8> {
    format!("{account}/{id}").into_bytes()
}

#[async_trait]
impl Vault for LocalVault {
    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn put(
        &self,
        account: &AccountId,
        id: &SecretId,
        value: &SecretString,
    ) -> Result<(), VaultError> {
        let ad = aad(account, id);
        let mut data_key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut data_key);
        let data_cipher = Aes256Gcm::new((&data_key).into());
        let ciphertext = seal(&data_cipher, value.expose_secret().as_bytes(), &ad)?;
        let wrapped = seal(&self.master, &data_key, &ad)?;
        data_key.fill(0);
        let (account, id) = (account.to_string(), id.to_string());
        self.db
            .call(move |c| -> Result<(), VaultError> {
                c.exec(
                    "INSERT OR REPLACE INTO vault_entries (account_id, secret_id, wrapped_key, ciphertext)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![account, id, wrapped, ciphertext],
                )
                .map_err(|e| VaultError::Unexpected(crate::db::sql_error(e)))?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn get(&self, account: &AccountId, id: &SecretId) -> Result<SecretString, VaultError> {
        let ad = aad(account, id);
        let (a, i) = (account.to_string(), id.to_string());
        let (wrapped, ciphertext): (Vec<u8>, Vec<u8>) = self
            .db
            .read(move |c| -> Result<_, VaultError> {
                c.row(
                    "SELECT wrapped_key, ciphertext FROM vault_entries WHERE account_id = ?1 AND secret_id = ?2",
                    params![a, i],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(|e| VaultError::Unexpected(e.into()))?
                .ok_or(VaultError::NotFound)
            })
            .await?;
        let mut data_key = open(&self.master, &wrapped, &ad)
            .ok_or_else(|| VaultError::Decrypt(WRONG_KEY.into()))?;
        let key: [u8; 32] = data_key
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Decrypt("stored data key has the wrong length".into()))?;
        data_key.fill(0);
        let plain = open(&Aes256Gcm::new((&key).into()), &ciphertext, &ad)
            .ok_or_else(|| VaultError::Decrypt("secret ciphertext failed authentication".into()))?;
        let text = String::from_utf8(plain)
            .map_err(|_| VaultError::Decrypt("secret value is not UTF-8".into()))?;
        Ok(SecretString::from(text))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn delete(&self, account: &AccountId, id: &SecretId) -> Result<(), VaultError> {
        let (account, id) = (account.to_string(), id.to_string());
        self.db
            .call(move |c| -> Result<(), VaultError> {
                c.exec(
                    "DELETE FROM vault_entries WHERE account_id = ?1 AND secret_id = ?2",
                    params![account, id],
                )
                .map_err(|e| VaultError::Unexpected(e.into()))?;
                Ok(())
            })
            .await
    }
}
