//! Accounts, API keys and authentication.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result, StoreError};
use crate::ids::{AccountId, KeyId, UserId};
use secrecy::{ExposeSecret, SecretString};

/// What `operator serve` did about the default account on start.
pub enum Bootstrap {
    /// A new account and key were created; the key is shown once.
    Created {
        account: Account,
        key: Option<SecretString>,
    },
    /// The store already had accounts.
    Existing { account: Account },
}

impl Platform {
    #[tracing::instrument(skip(self))]
    pub async fn create_account(
        &self,
        plan: PlanSlug,
        instance_limit: Option<u32>,
        token_limit: Option<u64>,
    ) -> Result<Account> {
        let account = self.new_account(AccountId::generate(), plan, instance_limit, token_limit);
        self.store.insert_account(&account).await?;
        Ok(account)
    }

    fn new_account(
        &self,
        id: AccountId,
        plan: PlanSlug,
        instance_limit: Option<u32>,
        token_limit: Option<u64>,
    ) -> Account {
        Account {
            id,
            user_id: UserId::generate(),
            plan,
            instance_limit,
            token_limit,
            created_at: self.clock.now(),
        }
    }

    /// Mints a key for `account`; the plaintext is returned once and never stored.
    #[tracing::instrument(skip(self, name))]
    pub async fn create_key(
        &self,
        account: &AccountId,
        name: Option<String>,
    ) -> Result<(ApiKey, SecretString)> {
        let name = validate_key_name(name)?;
        let minted = mint_key();
        let key = self.store_key(account, name, &minted).await?;
        Ok((key, minted.plaintext))
    }

    async fn store_key(
        &self,
        account: &AccountId,
        name: Option<String>,
        minted: &NewKey,
    ) -> Result<ApiKey> {
        let key = ApiKey {
            id: KeyId::generate(),
            account_id: account.clone(),
            name,
            prefix: minted.prefix.clone(),
            hash: minted.hash.clone(),
            created_at: self.clock.now(),
            last_used_at: None,
        };
        self.store.insert_key(&key).await?;
        Ok(key)
    }

    /// First start: create the default account (and a key, or register `bootstrap_key`).
    /// Later starts: make sure `bootstrap_key`, if given, opens the default account.
    pub async fn bootstrap(
        &self,
        plan: PlanSlug,
        bootstrap_key: Option<&SecretString>,
    ) -> Result<Bootstrap> {
        if let Some(k) = bootstrap_key {
            validate_key_shape(k.expose_secret()).map_err(|_| {
                Error::invalid(
                    "OPERATOR_BOOTSTRAP_KEY",
                    "must be ck_live_ followed by 16-128 letters or digits",
                )
            })?;
        }
        let given = bootstrap_key.map(|k| key_from_plaintext(k.expose_secret().to_owned()));
        if let Some(account) = self.store.first_account().await? {
            if let Some(minted) = &given {
                match self.store.key_by_hash(&minted.hash).await {
                    Ok(_) => {}
                    Err(StoreError::NotFound) => {
                        self.store_key(&account.id, Some("bootstrap".into()), minted)
                            .await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(Bootstrap::Existing { account });
        }
        let Some(minted) = given else {
            let account = self.create_account(plan, None, None).await?;
            let key = self
                .create_key(&account.id, Some("default".into()))
                .await?
                .1;
            return Ok(Bootstrap::Created {
                account,
                key: Some(key),
            });
        };
        // With a given key the account's id follows from it, so processes bootstrapping at
        // once (the workers of a new deployment) make one account between them, not one each.
        let account = self.new_account(bootstrap_account_id(&minted.hash), plan, None, None);
        let created = match self.store.insert_account(&account).await {
            Ok(()) => true,
            Err(StoreError::Conflict(_)) => false,
            Err(e) => return Err(e.into()),
        };
        match self
            .store_key(&account.id, Some("bootstrap".into()), &minted)
            .await
        {
            // The other process stored the same key.
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        if created {
            Ok(Bootstrap::Created { account, key: None })
        } else {
            let account = self.store.get_account(&account.id).await?;
            Ok(Bootstrap::Existing { account })
        }
    }

    /// `Authorization: Bearer ck_live_...` → the caller. Every failure is the same 401.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Caller> {
        let unauthorized = || {
            Error::Unauthorized(
                "missing or invalid API key (Authorization: Bearer ck_live_...)".into(),
            )
        };
        let token = bearer.ok_or_else(unauthorized)?;
        if validate_key_shape(token).is_err() {
            return Err(unauthorized());
        }
        let key = match self.store.key_by_hash(&hash_key(token)).await {
            Ok(k) => k,
            Err(StoreError::NotFound) => return Err(unauthorized()),
            Err(e) => return Err(e.into()),
        };
        let account = self.store.get_account(&key.account_id).await?;
        let now = self.clock.now();
        // Record use at most once a minute: one write per request would be wasteful.
        if key
            .last_used_at
            .is_none_or(|t| now - t > chrono::Duration::seconds(60))
        {
            self.store.touch_key(&key.id, now).await?;
        }
        Ok(Caller {
            account,
            key_id: key.id,
        })
    }

    pub async fn list_keys(&self, caller: &Caller, page: &PageRequest) -> Result<Page<ApiKey>> {
        Ok(self.store.list_keys(&caller.account.id, page).await?)
    }

    pub async fn revoke_key(&self, caller: &Caller, id: &str) -> Result<()> {
        let key_id = KeyId::parse(id).ok_or_else(|| Error::not_found("key", id))?;
        self.store
            .delete_key(&caller.account.id, &key_id)
            .await
            .or_not_found("key", id)
    }
}

/// The bootstrap account's id: derived from its key's hash (under a fixed label).
fn bootstrap_account_id(key_hash: &str) -> AccountId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("operator bootstrap account\0{key_hash}").as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    AccountId::from_trusted(format!(
        "{}{}",
        AccountId::PREFIX,
        crate::ids::body_of(u128::from_be_bytes(first))
    ))
}
