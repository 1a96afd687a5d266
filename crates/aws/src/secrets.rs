//! `Vault` on Secrets Manager: one secret per user secret, named
//! `<prefix>/<account>/<secret id>` (tenant-scoped), encrypted with the configured KMS key.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use operator_core::ids::{AccountId, SecretId};
use operator_core::ports::{Vault, VaultError};
use secrecy::{ExposeSecret, SecretString};

pub struct SecretsManagerVault {
    client: Client,
    prefix: String,
    kms_key_id: Option<String>,
}

impl SecretsManagerVault {
    pub fn new(client: Client, prefix: impl Into<String>, kms_key_id: Option<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            kms_key_id,
        }
    }

    fn name(&self, account: &AccountId, id: &SecretId) -> String {
        format!("{}/{account}/{id}", self.prefix.trim_end_matches('/'))
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static, what: &str) -> VaultError {
    VaultError::Unexpected(anyhow::Error::new(e).context(what.to_owned()))
}

#[async_trait]
impl Vault for SecretsManagerVault {
    // The value never reaches the span: only the account and the secret id.
    #[tracing::instrument(skip_all, fields(account = %account, secret = %id))]
    async fn put(
        &self,
        account: &AccountId,
        id: &SecretId,
        value: &SecretString,
    ) -> Result<(), VaultError> {
        let name = self.name(account, id);
        let mut create = self
            .client
            .create_secret()
            .name(&name)
            .secret_string(value.expose_secret())
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("operator:account")
                    .value(account.as_str())
                    .build(),
            );
        if let Some(k) = &self.kms_key_id {
            create = create.kms_key_id(k);
        }
        match create.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if !e.is_resource_exists_exception() {
                    return Err(unexpected(e, "Secrets Manager CreateSecret"));
                }
                self.client
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(value.expose_secret())
                    .send()
                    .await
                    .map_err(|e| {
                        unexpected(e.into_service_error(), "Secrets Manager PutSecretValue")
                    })?;
                Ok(())
            }
        }
    }

    #[tracing::instrument(skip_all, fields(account = %account, secret = %id))]
    async fn get(&self, account: &AccountId, id: &SecretId) -> Result<SecretString, VaultError> {
        match self
            .client
            .get_secret_value()
            .secret_id(self.name(account, id))
            .send()
            .await
        {
            Ok(out) => out
                .secret_string()
                .map(|s| SecretString::from(s.to_owned()))
                .ok_or(VaultError::NotFound),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_resource_not_found_exception() {
                    Err(VaultError::NotFound)
                } else if e.is_decryption_failure() {
                    Err(VaultError::Decrypt(
                        "Secrets Manager could not decrypt the value with its KMS key".into(),
                    ))
                } else {
                    Err(unexpected(e, "Secrets Manager GetSecretValue"))
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(account = %account, secret = %id))]
    async fn delete(&self, account: &AccountId, id: &SecretId) -> Result<(), VaultError> {
        match self
            .client
            .delete_secret()
            .secret_id(self.name(account, id))
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_resource_not_found_exception() {
                    Ok(())
                } else {
                    Err(unexpected(e, "Secrets Manager DeleteSecret"))
                }
            }
        }
    }
}
