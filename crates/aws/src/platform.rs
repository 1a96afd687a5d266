//! Assembles the platform on AWS adapters from typed configuration (read once from the
//! environment, failing fast with the name of a missing variable). Shared by the Lambda
//! function and the worker, so both see the same wiring.
//!
//! Secrets are not in the environment of a deployment: it names them by ARN
//! (`OPERATOR_TOKEN_KEY_SECRET_ARN`, `OPERATOR_LLM_API_KEY_SECRET_ARN`,
//! `OPERATOR_BOOTSTRAP_KEY_SECRET_ARN`) and the process reads them from Secrets Manager at
//! start, so no value sits in a function's or task's configuration.

use crate::{
    DynamoStore, EcsRuntime, EcsSettings, EfsSettings, EventBridgeScheduler, ScheduleTarget,
    SecretsManagerVault, SqsQueue,
};
use anyhow::Context;
use base64::Engine;
use operator_core::ports::SystemClock;
use operator_core::services::{ChatBus, LlmConfig, RateLimits};
use operator_core::{Platform, PlatformConfig, PlatformParts};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Everything the AWS deployment is configured with.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Emulator or VPC endpoint; `None` for the real service endpoints.
    pub endpoint_url: Option<String>,
    pub table: String,
    pub agent_queue_url: String,
    pub agent_dlq_url: String,
    pub lifecycle_queue_url: String,
    pub lifecycle_dlq_url: String,
    pub schedule: ScheduleTarget,
    pub secret_prefix: String,
    pub kms_key_id: Option<String>,
    pub ecs: EcsSettings,
    /// Workspaces on EFS (`OPERATOR_EFS_FILE_SYSTEM_ID` with the worker's mount of its
    /// `/instances`, `OPERATOR_WORKSPACES_DIR`); `None`: workspaces live with their task.
    pub efs: Option<EfsSettings>,
    /// `OPERATOR_PUBLIC_URL`; the API function may go without it (its Function URL is not
    /// known before it exists) and then takes it from the first request's host.
    pub public_url: Option<String>,
    pub image_tag: String,
    /// SQS long polling for workers (`OPERATOR_SQS_WAIT_SECONDS`, default 10).
    pub long_poll: std::time::Duration,
}

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .with_context(|| format!("{name} must be set"))
}

fn opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn list(name: &str) -> anyhow::Result<Vec<String>> {
    Ok(var(name)?
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

impl AwsSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            endpoint_url: opt("OPERATOR_AWS_ENDPOINT_URL"),
            table: var("OPERATOR_TABLE")?,
            agent_queue_url: var("OPERATOR_AGENT_QUEUE_URL")?,
            agent_dlq_url: var("OPERATOR_AGENT_DLQ_URL")?,
            lifecycle_queue_url: var("OPERATOR_LIFECYCLE_QUEUE_URL")?,
            lifecycle_dlq_url: var("OPERATOR_LIFECYCLE_DLQ_URL")?,
            schedule: ScheduleTarget {
                group: var("OPERATOR_SCHEDULE_GROUP")?,
                queue_arn: var("OPERATOR_AGENT_QUEUE_ARN")?,
                dlq_arn: var("OPERATOR_AGENT_DLQ_ARN")?,
                role_arn: var("OPERATOR_SCHEDULER_ROLE_ARN")?,
            },
            secret_prefix: opt("OPERATOR_SECRET_PREFIX").unwrap_or_else(|| "operator".into()),
            kms_key_id: opt("OPERATOR_KMS_KEY_ID"),
            ecs: EcsSettings {
                cluster: var("OPERATOR_ECS_CLUSTER")?,
                task_definition: var("OPERATOR_INSTANCE_TASK_DEFINITION")?,
                container: opt("OPERATOR_INSTANCE_CONTAINER").unwrap_or_else(|| "instance".into()),
                subnets: list("OPERATOR_INSTANCE_SUBNETS")?,
                security_groups: list("OPERATOR_INSTANCE_SECURITY_GROUPS")?,
                assign_public_ip: opt("OPERATOR_INSTANCE_PUBLIC_IP").as_deref() == Some("true"),
                port: opt("OPERATOR_INSTANCE_PORT")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(8080),
                openclaw_cpu: opt("OPERATOR_OPENCLAW_TASK_CPU").unwrap_or_else(|| "1024".into()),
                openclaw_memory: opt("OPERATOR_OPENCLAW_TASK_MEMORY")
                    .unwrap_or_else(|| "3072".into()),
            },
            efs: match (opt("OPERATOR_EFS_FILE_SYSTEM_ID"), opt("OPERATOR_WORKSPACES_DIR")) {
                (Some(file_system_id), Some(mount)) => {
                    let num = |name: &str, value: Option<String>| -> anyhow::Result<i64> {
                        value.map_or(Ok(10001), |v| {
                            v.parse()
                                .with_context(|| format!("{name} must be a number, not {v:?}"))
                        })
                    };
                    Some(EfsSettings {
                        file_system_id,
                        mount: mount.into(),
                        uid: num("OPERATOR_INSTANCE_UID", opt("OPERATOR_INSTANCE_UID"))?,
                        gid: num("OPERATOR_INSTANCE_GID", opt("OPERATOR_INSTANCE_GID"))?,
                    })
                }
                (None, None) => None,
                _ => anyhow::bail!(
                    "OPERATOR_EFS_FILE_SYSTEM_ID and OPERATOR_WORKSPACES_DIR go together: set both (workspaces on EFS) or neither"
                ),
            },
            public_url: opt("OPERATOR_PUBLIC_URL"),
            image_tag: opt("OPERATOR_IMAGE_TAG")
                .unwrap_or_else(|| format!("operator-instance:{}", env!("CARGO_PKG_VERSION"))),
            long_poll: std::time::Duration::from_secs(
                opt("OPERATOR_SQS_WAIT_SECONDS")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(10),
            ),
        })
    }
}

/// The instance-token signing key: `OPERATOR_TOKEN_KEY`, base64 of 32 bytes.
pub fn token_key_from_env() -> anyhow::Result<[u8; 32]> {
    let text = var("OPERATOR_TOKEN_KEY")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .context("OPERATOR_TOKEN_KEY is not base64")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("OPERATOR_TOKEN_KEY must be 32 bytes"))
}

/// The signing key from a generated secret string (any printable text of at least 32
/// characters, as `GenerateSecretString` makes): SHA-256 under a fixed label.
pub fn token_key_from_secret(secret: &str) -> anyhow::Result<[u8; 32]> {
    let secret = secret.trim();
    anyhow::ensure!(
        secret.chars().count() >= 32,
        "the token key secret must be at least 32 characters"
    );
    let mut h = Sha256::new();
    h.update(b"operator instance token key v1\0");
    h.update(secret.as_bytes());
    Ok(h.finalize().into())
}

/// What a process starts from: its settings, one AWS configuration, and the secrets it
/// reads once.
pub struct Startup {
    pub settings: AwsSettings,
    cfg: aws_config::SdkConfig,
    token_key: [u8; 32],
    llm: Option<LlmConfig>,
}

impl Startup {
    /// Reads the environment, then the secrets it names from Secrets Manager.
    pub async fn load() -> anyhow::Result<Self> {
        let settings = AwsSettings::from_env()?;
        let cfg = crate::load_config(settings.endpoint_url.as_deref(), None).await;
        let token_key = match (
            opt("OPERATOR_TOKEN_KEY"),
            opt("OPERATOR_TOKEN_KEY_SECRET_ARN"),
        ) {
            (Some(_), _) => token_key_from_env()?,
            (None, Some(arn)) => {
                let secret = read_secret(&cfg, &arn).await?;
                token_key_from_secret(secret.expose_secret())
                    .context("OPERATOR_TOKEN_KEY_SECRET_ARN")?
            }
            (None, None) => {
                anyhow::bail!("OPERATOR_TOKEN_KEY or OPERATOR_TOKEN_KEY_SECRET_ARN must be set")
            }
        };
        let llm_key = match opt("OPERATOR_LLM_API_KEY_SECRET_ARN") {
            Some(arn) => Some(read_secret(&cfg, &arn).await?),
            None => None,
        };
        let llm = LlmConfig::from_env_with_key(llm_key)?;
        Ok(Self {
            settings,
            cfg,
            token_key,
            llm,
        })
    }

    /// The first account's key when the deployment names one
    /// (`OPERATOR_BOOTSTRAP_KEY_SECRET_ARN`); a generated value of letters and digits
    /// becomes `ck_live_<value>`.
    pub async fn bootstrap_key(&self) -> anyhow::Result<Option<SecretString>> {
        let Some(arn) = opt("OPERATOR_BOOTSTRAP_KEY_SECRET_ARN") else {
            return Ok(None);
        };
        let value = read_secret(&self.cfg, &arn).await?;
        let value = value.expose_secret().trim();
        Ok(Some(SecretString::from(if value.starts_with("ck_live_") {
            value.to_owned()
        } else {
            format!("ck_live_{value}")
        })))
    }

    /// The platform, with `public_url` when the environment has none.
    pub fn build(&self, public_url: Option<String>) -> anyhow::Result<Platform> {
        let mut settings = self.settings.clone();
        settings.public_url = settings.public_url.or(public_url);
        assemble(&self.cfg, settings, self.token_key, self.llm.clone())
    }
}

async fn read_secret(cfg: &aws_config::SdkConfig, arn: &str) -> anyhow::Result<SecretString> {
    let out = aws_sdk_secretsmanager::Client::new(cfg)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.into_service_error()))
        .with_context(|| format!("read secret {arn}"))?;
    out.secret_string
        .map(SecretString::from)
        .with_context(|| format!("secret {arn} has no string value"))
}

/// Every adapter, on the process's one AWS configuration.
fn assemble(
    cfg: &aws_config::SdkConfig,
    mut settings: AwsSettings,
    token_key: [u8; 32],
    llm: Option<LlmConfig>,
) -> anyhow::Result<Platform> {
    let public_url = settings
        .public_url
        .take()
        .context("OPERATOR_PUBLIC_URL must be set")?;
    let http = reqwest::Client::new();
    let llm_provider = llm
        .as_ref()
        .map(|c| operator_core::llm::from_config(c, http.clone()));
    let sqs = aws_sdk_sqs::Client::new(cfg);
    Ok(Platform::from(PlatformParts {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(cfg),
            settings.table,
        )),
        queue: Arc::new(
            SqsQueue::new(
                sqs.clone(),
                settings.agent_queue_url,
                settings.agent_dlq_url,
            )
            .with_long_polling(settings.long_poll),
        ),
        lifecycle: Arc::new(
            SqsQueue::new(
                sqs,
                settings.lifecycle_queue_url,
                settings.lifecycle_dlq_url,
            )
            .with_long_polling(settings.long_poll),
        ),
        runtime: Arc::new({
            let ecs = EcsRuntime::new(aws_sdk_ecs::Client::new(cfg), settings.ecs, http.clone());
            match settings.efs {
                #[cfg(feature = "workspaces")]
                Some(efs) => {
                    ecs.with_workspaces(crate::Workspaces::new(aws_sdk_efs::Client::new(cfg), efs))
                }
                #[cfg(not(feature = "workspaces"))]
                Some(_) => anyhow::bail!(
                    "OPERATOR_EFS_FILE_SYSTEM_ID is set, but this binary is built without workspaces (only workers mount them)"
                ),
                None => ecs,
            }
        }),
        vault: Arc::new(SecretsManagerVault::new(
            aws_sdk_secretsmanager::Client::new(cfg),
            settings.secret_prefix,
            settings.kms_key_id,
        )),
        scheduler: Arc::new(EventBridgeScheduler::new(
            aws_sdk_scheduler::Client::new(cfg),
            settings.schedule,
        )),
        clock: Arc::new(SystemClock),
        http,
        llm: llm_provider,
        bus: Arc::new(ChatBus::default()),
        slots: Arc::default(),
        auth_cache: Arc::default(),
        limits: Arc::new(RateLimits::from_env()?),
        config: Arc::new(PlatformConfig {
            control_url: public_url.clone(),
            public_url,
            image_tag: settings.image_tag,
            token_key: secrecy::SecretBox::new(Box::new(token_key)),
            llm,
            checkpoints: operator_core::domain::CheckpointCatalog::from_env()?,
            warm_pool: operator_core::services::WarmPool::from_env()?,
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_key_from_a_generated_secret() {
        let a = token_key_from_secret(&"a".repeat(64)).unwrap();
        assert_eq!(
            a,
            token_key_from_secret(&format!(" {} \n", "a".repeat(64))).unwrap()
        );
        assert_ne!(a, token_key_from_secret(&"b".repeat(64)).unwrap());
        // Not the plain hash: the label separates it from other uses of the same secret.
        let plain: [u8; 32] = Sha256::digest("a".repeat(64).as_bytes()).into();
        assert_ne!(a, plain);
        let short = token_key_from_secret("too-short").unwrap_err().to_string();
        assert!(short.contains("at least 32"), "{short}");
    }
}
