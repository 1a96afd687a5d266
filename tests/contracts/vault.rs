//! Vault contract, declared once and run on the embedded vault (SQLite) and on Secrets
//! Manager (the emulator), plus the embedded vault's own key handling (SQLite only).

use crate::backends;
use operator_core::ids::*;
use operator_core::ports::{Vault, VaultError};
use operator_local::{LocalVault, MasterKey};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

contracts! {
    sqlite: crate::backends::vault_on_sqlite,
    aws: crate::backends::vault_on_secrets_manager,
    contracts: [round_trip_replace_delete_and_scope],
}

pub async fn round_trip_replace_delete_and_scope(v: Arc<dyn Vault>) {
    let (a, b) = (AccountId::generate(), AccountId::generate());
    let id = SecretId::generate();
    v.put(&a, &id, &SecretString::from("first")).await.unwrap();
    assert_eq!(v.get(&a, &id).await.unwrap().expose_secret(), "first");
    v.put(&a, &id, &SecretString::from("second")).await.unwrap();
    assert_eq!(v.get(&a, &id).await.unwrap().expose_secret(), "second");
    assert!(matches!(v.get(&b, &id).await, Err(VaultError::NotFound)));
    v.delete(&a, &id).await.unwrap();
    v.delete(&a, &id).await.unwrap();
    assert!(matches!(v.get(&a, &id).await, Err(VaultError::NotFound)));
}

// ---------- SQLite only: the embedded vault's encryption and master key ----------

#[tokio::test]
async fn local_ciphertext_is_bound_to_its_secret_and_a_wrong_key_is_refused() {
    let (db, dir) = backends::sqlite();
    let key = MasterKey::load_or_create(dir.path(), None).unwrap();
    let v = LocalVault::open(db.clone(), key).await.unwrap();
    let (acct, s1, s2) = (
        AccountId::generate(),
        SecretId::generate(),
        SecretId::generate(),
    );
    v.put(&acct, &s1, &SecretString::from("value-one"))
        .await
        .unwrap();
    // Copy s1's row under s2's id: associated data makes it fail authentication.
    let (a, x, y) = (acct.to_string(), s1.to_string(), s2.to_string());
    db.call(move |c| -> anyhow::Result<()> {
        c.execute(
            "INSERT INTO vault_entries (account_id, secret_id, wrapped_key, ciphertext)
             SELECT account_id, ?2, wrapped_key, ciphertext FROM vault_entries WHERE account_id = ?1 AND secret_id = ?3",
            [a, y, x],
        )?;
        Ok(())
    })
    .await
    .unwrap();
    assert!(matches!(
        v.get(&acct, &s2).await,
        Err(VaultError::Decrypt(_))
    ));
    // The same data with another master key: refused at open with a clear message.
    let err = LocalVault::open(db, MasterKey::from_bytes([7u8; 32]))
        .await
        .err()
        .expect("wrong key accepted");
    assert!(
        err.to_string().contains("master key does not match"),
        "{err}"
    );
    // The env form must be 32 bytes of base64
    assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    let env = SecretString::from("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert!(MasterKey::load_or_create(dir.path(), Some(&env)).is_ok());
}
