//! Admin commands: create accounts and keys straight in a deployment's store, for the operator
//! of the deployment (an API key only ever acts inside its own account).
//!
//! Two backends, chosen by flag:
//! - embedded (default): the data directory `operator serve` uses (`--data-dir`,
//!   `OPERATOR_DATA_DIR`, default `./.operator`). It must exist: a wrong directory is refused
//!   instead of silently starting a new, empty platform there.
//! - `--aws`: the DynamoDB table of an AWS deployment (`--table` / `OPERATOR_TABLE`, the stack's
//!   `TableName` output), reached with the standard AWS credential chain and region
//!   (`AWS_PROFILE`, `AWS_REGION`, ...) and `OPERATOR_AWS_ENDPOINT_URL` when set, as the
//!   deployment's own processes do (`operator_aws::load_config`). Creating an account and a key
//!   writes only to the table, so nothing else of the stack is needed.
//!
//! Both print `{"accountId", "key"}`: the key is shown this once.

use crate::exit::{Exit, Failure};
use crate::serve::{env_secret, settings, DataDir};
use anyhow::Context;
use clap::{Args, Subcommand};
use operator_core::domain::{mint_key, validate_key_name, Account, ApiKey, PlanSlug};
use operator_core::error::StoreError;
use operator_core::ids::{AccountId, KeyId, UserId};
use operator_core::ports::AccountStore;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Create an account and its first key; prints {"accountId","key"} (the key only this once).
    Create(AccountCreateArgs),
}

#[derive(Args)]
pub struct AccountCreateArgs {
    /// basic (1 instance), pro (5), max (20) or enterprise (custom).
    #[arg(long, default_value = "pro")]
    plan: String,
    /// Custom instance limit (enterprise, or an override).
    #[arg(long)]
    instance_limit: Option<u32>,
    /// Custom rolling 6-hour token limit.
    #[arg(long)]
    token_limit: Option<u64>,
    #[command(flatten)]
    target: Target,
}

/// Where the admin commands write: a data directory, or with `--aws` a deployment's table.
#[derive(Args, Clone)]
pub struct Target {
    #[command(flatten)]
    data: DataDir,
    /// Write to an AWS deployment's DynamoDB table instead of a data directory.
    #[arg(long)]
    aws: bool,
    /// With --aws: the deployment's table (the stack's TableName output).
    #[arg(long, env = "OPERATOR_TABLE", value_name = "TABLE")]
    table: Option<String>,
}

impl Target {
    pub fn is_aws(&self) -> bool {
        self.aws
    }
}

/// `keys create --account ...`.
pub struct KeyForAccount {
    pub account: String,
    pub name: Option<String>,
    pub target: Target,
}

/// The store an admin command writes to, and keeps alive while it does.
struct Opened {
    store: Arc<dyn AccountStore>,
    /// Where it is, for messages.
    place: String,
    /// The embedded platform owning the store (its database and lock) while it is used.
    _embedded: Option<operator_local::Embedded>,
}

async fn open(target: &Target) -> anyhow::Result<Opened> {
    if target.aws {
        return open_aws(target).await;
    }
    let dir = &target.data.data_dir;
    let master = env_secret("OPERATOR_MASTER_KEY")?;
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    eprintln!("Using data directory {}", shown.display());
    let embedded = operator_local::Embedded::open_existing(dir, master.as_ref(), settings(String::new())?)
        .await
        .map_err(|e| {
            // A wrong directory is a usage error: say which one to pass.
            anyhow::Error::new(
                Failure::usage(format!("{e:#}"))
                    .hint("Admin commands work on the data directory of `operator serve` (--data-dir or OPERATOR_DATA_DIR), or on an AWS deployment with --aws."),
            )
        })?;
    let store: Arc<dyn AccountStore> = embedded.platform.store.clone();
    Ok(Opened {
        store,
        place: format!("data directory {}", shown.display()),
        _embedded: Some(embedded),
    })
}

async fn open_aws(target: &Target) -> anyhow::Result<Opened> {
    let table = target.table.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        Failure::usage("--aws needs the deployment's table: pass --table or set OPERATOR_TABLE")
            .hint("It is the stack's TableName output: aws cloudformation describe-stacks --stack-name STACK --query \"Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue\" --output text")
    })?;
    let endpoint = std::env::var("OPERATOR_AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let cfg = operator_aws::load_config(endpoint.as_deref(), None).await;
    let region = cfg
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "(no region)".into());
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    // Refuse a table that is not there (wrong name or region) before writing anything.
    if let Err(e) = client.describe_table().table_name(&table).send().await {
        let e = e.into_service_error();
        if e.is_resource_not_found_exception() {
            return Err(Failure::usage(format!(
                "table {table} does not exist in region {region}"
            ))
            .hint("Check --table / OPERATOR_TABLE (the stack's TableName output) and AWS_REGION.")
            .into());
        }
        return Err(Failure::new(
            Exit::Network,
            format!("could not read table {table} in region {region}: {e}"),
        )
        .hint("Check the AWS credentials (AWS_PROFILE, or aws sso login) and AWS_REGION.")
        .into());
    }
    eprintln!("Using DynamoDB table {table} ({region})");
    Ok(Opened {
        store: Arc::new(operator_aws::DynamoStore::new(client, table.clone())),
        place: format!("table {table}"),
        _embedded: None,
    })
}

pub async fn accounts(cmd: AccountsCommand) -> anyhow::Result<()> {
    let AccountsCommand::Create(args) = cmd;
    let plan = PlanSlug::parse(&args.plan).map_err(|e| Failure::usage(format!("--plan: {e}")))?;
    let opened = open(&args.target).await?;
    let account = Account {
        id: AccountId::generate(),
        user_id: UserId::generate(),
        plan,
        instance_limit: args.instance_limit,
        token_limit: args.token_limit,
        created_at: chrono::Utc::now(),
    };
    opened
        .store
        .insert_account(&account)
        .await
        .with_context(|| format!("create the account in {}", opened.place))?;
    let key = insert_key(opened.store.as_ref(), &account.id, Some("admin".into())).await?;
    print_account_key(account.id.as_str(), &key);
    Ok(())
}

pub async fn create_key(args: KeyForAccount) -> anyhow::Result<()> {
    let id = AccountId::parse(&args.account).ok_or_else(|| {
        Failure::usage(format!(
            "{:?} is not an account id (acct_...)",
            args.account
        ))
    })?;
    let name = validate_key_name(args.name).map_err(|e| Failure::usage(format!("--name: {e}")))?;
    let opened = open(&args.target).await?;
    match opened.store.get_account(&id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            return Err(Failure::new(
                Exit::NotFound,
                format!("account {id} not found in {}", opened.place),
            )
            .hint("Check the account id, and that this is the data directory (or table) of the deployment it belongs to.")
            .into())
        }
        Err(e) => return Err(anyhow::Error::new(e).context("read the account")),
    }
    let key = insert_key(opened.store.as_ref(), &id, name).await?;
    print_account_key(id.as_str(), &key);
    Ok(())
}

/// Mints a key for `account` and stores its hash; the plaintext is returned once.
async fn insert_key(
    store: &dyn AccountStore,
    account: &AccountId,
    name: Option<String>,
) -> anyhow::Result<SecretString> {
    let minted = mint_key();
    store
        .insert_key(&ApiKey {
            id: KeyId::generate(),
            account_id: account.clone(),
            name,
            prefix: minted.prefix.clone(),
            hash: minted.hash.clone(),
            created_at: chrono::Utc::now(),
            last_used_at: None,
        })
        .await
        .context("store the key")?;
    Ok(minted.plaintext)
}

fn print_account_key(account: &str, key: &SecretString) {
    println!(
        "{}",
        serde_json::json!({"accountId": account, "key": key.expose_secret()})
    );
}
