//! Secrets: metadata in the Store, values in the Vault, grants to instances.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result, StoreError};
use crate::ids::SecretId;
use crate::ports::VaultError;
use secrecy::{ExposeSecret, SecretString};

pub struct CreateSecret {
    pub name: String,
    pub value: SecretString,
    pub description: Option<String>,
    pub is_global: bool,
}

#[derive(Default)]
pub struct UpdateSecret {
    pub value: Option<SecretString>,
    pub description: Option<Option<String>>,
    pub is_global: Option<bool>,
}

fn vault_error(e: VaultError) -> Error {
    match e {
        VaultError::NotFound => {
            Error::Unexpected(anyhow::anyhow!("secret value missing from the vault"))
        }
        VaultError::Decrypt(m) => Error::Unexpected(anyhow::anyhow!(m)),
        VaultError::Unexpected(e) => Error::Unexpected(e),
    }
}

impl Platform {
    /// Stores the value in the vault first, then the metadata; a name clash removes the value.
    #[tracing::instrument(skip(self, caller, req), fields(account = %caller.account.id))]
    pub async fn create_secret(&self, caller: &Caller, req: CreateSecret) -> Result<Secret> {
        let name = SecretName::parse(&req.name)?;
        validate_secret_value(req.value.expose_secret())?;
        let description = validate_description(req.description)?;
        let now = self.clock.now();
        let secret = Secret {
            id: SecretId::generate(),
            account_id: caller.account.id.clone(),
            name,
            description,
            is_global: req.is_global,
            grants: vec![],
            created_at: now,
            updated_at: now,
        };
        self.vault
            .put(&secret.account_id, &secret.id, &req.value)
            .await
            .map_err(vault_error)?;
        if let Err(e) = self.store.insert_secret(&secret).await {
            if let Err(cleanup) = self.vault.delete(&secret.account_id, &secret.id).await {
                tracing::warn!(error = %cleanup, "could not remove an orphaned secret value");
            }
            return Err(match e {
                StoreError::Conflict(_) => Error::Conflict(format!(
                    "a secret named {} already exists",
                    secret.name.as_str()
                )),
                e => e.into(),
            });
        }
        Ok(secret)
    }

    pub async fn get_secret(&self, caller: &Caller, id: &str) -> Result<Secret> {
        let secret_id = SecretId::parse(id).ok_or_else(|| Error::not_found("secret", id))?;
        self.store
            .get_secret(&caller.account.id, &secret_id)
            .await
            .or_not_found("secret", id)
    }

    pub async fn list_secrets(&self, caller: &Caller, page: &PageRequest) -> Result<Page<Secret>> {
        Ok(self.store.list_secrets(&caller.account.id, page).await?)
    }

    /// Rotation: a new value replaces the old one in the vault; instances read it on next use.
    pub async fn update_secret(
        &self,
        caller: &Caller,
        id: &str,
        req: UpdateSecret,
    ) -> Result<Secret> {
        let mut secret = self.get_secret(caller, id).await?;
        if let Some(v) = &req.value {
            validate_secret_value(v.expose_secret())?;
        }
        if let Some(d) = req.description {
            secret.description = validate_description(d)?;
        }
        if let Some(g) = req.is_global {
            secret.is_global = g;
        }
        if let Some(v) = &req.value {
            self.vault
                .put(&secret.account_id, &secret.id, v)
                .await
                .map_err(vault_error)?;
        }
        secret.updated_at = self.clock.now();
        self.store
            .update_secret(&secret)
            .await
            .or_not_found("secret", id)?;
        Ok(secret)
    }

    pub async fn delete_secret(&self, caller: &Caller, id: &str) -> Result<()> {
        let secret = self.get_secret(caller, id).await?;
        self.store
            .delete_secret(&secret.account_id, &secret.id)
            .await
            .or_not_found("secret", id)?;
        self.vault
            .delete(&secret.account_id, &secret.id)
            .await
            .map_err(vault_error)
    }

    /// Lets `instance` read the secret. The instance must be live and in this account.
    pub async fn grant_secret(&self, caller: &Caller, id: &str, instance: &str) -> Result<Secret> {
        let secret = self.get_secret(caller, id).await?;
        let instance = self.get_instance(caller, instance).await?;
        if instance.deleted_at.is_some() {
            return Err(Error::Conflict(format!(
                "instance {} is deleted",
                instance.id
            )));
        }
        self.store
            .add_grant(
                &secret.account_id,
                &secret.id,
                &instance.id,
                self.clock.now(),
            )
            .await
            .or_not_found("secret", id)?;
        self.get_secret(caller, id).await
    }

    pub async fn revoke_grant(&self, caller: &Caller, id: &str, instance: &str) -> Result<()> {
        let secret = self.get_secret(caller, id).await?;
        let not_granted = || Error::NotFound(format!("secret {id} is not granted to {instance}"));
        let instance_id = crate::ids::InstanceId::parse(instance).ok_or_else(not_granted)?;
        self.store
            .remove_grant(&secret.account_id, &secret.id, &instance_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_granted(),
                e => e.into(),
            })
    }
}
