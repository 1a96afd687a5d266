//! Accounts, API keys and authentication.

use super::auth_cache::Authenticated;
use super::{Caller, Platform};
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result, StoreError};
use crate::ids::{AccountId, KeyId, UserId};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// What `operator serve` did about the default account on start.
pub enum Bootstrap {
    /// A new account and key were created; the key is shown once.
    Created {
        account: Account,
        key: Option<SecretString>,
    },
    /// The account was there already (and the bootstrap key, if given, opens it).
    Existing { account: Account },
    /// The bootstrap key was revoked: it stays revoked, and the platform starts without it.
    Revoked,
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
        let key = self
            .store_key(KeyId::generate(), account, name, &minted)
            .await?;
        Ok((key, minted.plaintext))
    }

    /// The signed-in `caller` approves the CLI login `session`: the CLI's next poll (within
    /// [`CLI_LOGIN_TTL`]) receives a new key of the caller's account.
    ///
    /// # Errors
    /// `InvalidRequest` for a malformed session id, `Conflict` if it is already approved.
    pub async fn approve_cli_login(&self, caller: &Caller, session: &str) -> Result<()> {
        let session = CliSession::parse(session)?;
        let now = self.clock.now();
        let login = CliLogin {
            session,
            account_id: caller.account.id.clone(),
            approved_at: now,
            expires_at: now + CLI_LOGIN_TTL,
        };
        match self.store.insert_cli_login(&login).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(m)) => Err(Error::Conflict(m)),
            Err(e) => Err(e.into()),
        }
    }

    /// A CLI's poll for `session`: once approved, a new API key of the approving account,
    /// exactly once.
    ///
    /// # Errors
    /// `InvalidRequest` for a malformed session id; `NotFound` while it is not approved, after
    /// its approval expired, and once its key was handed out.
    pub async fn redeem_cli_login(&self, session: &str) -> Result<(ApiKey, SecretString)> {
        let session = CliSession::parse(session)?;
        let now = self.clock.now();
        let login = match self.store.take_cli_login(&session, now).await {
            Ok(l) => l,
            Err(StoreError::NotFound) => return Err(Error::NotFound(
                "no approved login for this session (not approved yet, expired, or already used)"
                    .into(),
            )),
            Err(e) => return Err(e.into()),
        };
        let name = format!("CLI login {}", now.format("%Y-%m-%d %H:%M UTC"));
        self.create_key(&login.account_id, Some(name)).await
    }

    async fn store_key(
        &self,
        id: KeyId,
        account: &AccountId,
        name: Option<String>,
        minted: &NewKey,
    ) -> Result<ApiKey> {
        let key = ApiKey {
            id,
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

    /// Start-up. With `bootstrap_key`: the key opens its own account, whose id is derived
    /// from the key (as on AWS), created on first use; it never joins an account that already
    /// exists, and once revoked it stays revoked (`Bootstrap::Revoked`, the server starts
    /// without it). Without a key: the first start creates the default account and mints its
    /// key; later starts find it.
    pub async fn bootstrap(
        &self,
        plan: PlanSlug,
        bootstrap_key: Option<&SecretString>,
    ) -> Result<Bootstrap> {
        let Some(given) = bootstrap_key else {
            if let Some(account) = self.store.first_account().await? {
                return Ok(Bootstrap::Existing { account });
            }
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
        validate_key_shape(given.expose_secret()).map_err(|_| {
            Error::invalid(
                "OPERATOR_BOOTSTRAP_KEY",
                "must be ck_live_ followed by 16-128 letters or digits",
            )
        })?;
        let minted = key_from_plaintext(given.expose_secret().to_owned());
        // Keys from before ids were derived may open another account: keep it.
        match self.store.key_by_hash(&minted.hash).await {
            Ok(key) => {
                let account = self.store.get_account(&key.account_id).await?;
                return Ok(Bootstrap::Existing { account });
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        // The account's and the key's ids follow from the key, so processes bootstrapping at
        // once (the workers of a new deployment) make one of each between them, and a revoked
        // key (its record stays, marked revoked) cannot be stored again.
        let (account_id, key_id) = bootstrap_ids(&minted.hash);
        let account = self.new_account(account_id, plan, None, None);
        let created = match self.store.insert_account(&account).await {
            Ok(()) => true,
            Err(StoreError::Conflict(_)) => false,
            Err(e) => return Err(e.into()),
        };
        match self
            .store_key(key_id, &account.id, Some("bootstrap".into()), &minted)
            .await
        {
            Ok(_) => {}
            // Another process stored it just now, or it was revoked.
            Err(Error::Conflict(_)) => match self.store.key_by_hash(&minted.hash).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => return Ok(Bootstrap::Revoked),
                Err(e) => return Err(e.into()),
            },
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
        let digest = key_digest(token);
        let seen = self.auth_cache.generation();
        let mut found = match self.auth_cache.get(&digest) {
            Some(hit) => hit,
            None => {
                let key = match self.store.key_by_hash(&hex::encode(digest)).await {
                    Ok(k) => k,
                    Err(StoreError::NotFound) => return Err(unauthorized()),
                    Err(e) => return Err(e.into()),
                };
                let account = self.store.get_account(&key.account_id).await?;
                let found = Arc::new(Authenticated { key, account });
                self.auth_cache.put(&digest, found.clone(), seen);
                found
            }
        };
        self.limits.key(found.key.id.as_str())?;
        let now = self.clock.now();
        // Record use at most once a minute: one write per request would be wasteful.
        if found
            .key
            .last_used_at
            .is_none_or(|t| now - t > chrono::Duration::seconds(60))
        {
            self.store.touch_key(&found.key.id, now).await?;
            let mut key = found.key.clone();
            key.last_used_at = Some(now);
            found = Arc::new(Authenticated {
                key,
                account: found.account.clone(),
            });
            self.auth_cache.put(&digest, found.clone(), seen);
        }
        Ok(Caller {
            account: found.account.clone(),
            key_id: found.key.id.clone(),
        })
    }

    pub async fn list_keys(&self, caller: &Caller, page: &PageRequest) -> Result<Page<ApiKey>> {
        Ok(self.store.list_keys(&caller.account.id, page).await?)
    }

    pub async fn revoke_key(&self, caller: &Caller, id: &str) -> Result<()> {
        let key_id = KeyId::parse(id).ok_or_else(|| Error::not_found("key", id))?;
        let deleted = self
            .store
            .delete_key(&caller.account.id, &key_id, self.clock.now())
            .await
            .or_not_found("key", id);
        // Forgotten whatever the store said: a key that failed to delete is read afresh.
        self.auth_cache.forget(&key_id);
        deleted
    }
}

/// The bootstrap account's and key's ids: derived from the key's hash (under fixed labels).
fn bootstrap_ids(key_hash: &str) -> (AccountId, KeyId) {
    use sha2::{Digest, Sha256};
    let body = |label: &str| {
        let digest = Sha256::digest(format!("{label}\0{key_hash}").as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        crate::ids::body_of(u128::from_be_bytes(first))
    };
    (
        AccountId::from_trusted(format!(
            "{}{}",
            AccountId::PREFIX,
            body("operator bootstrap account")
        )),
        KeyId::from_trusted(format!(
            "{}{}",
            KeyId::PREFIX,
            body("operator bootstrap key")
        )),
    )
}
