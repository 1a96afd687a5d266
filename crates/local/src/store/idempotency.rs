//! `Idempotency-Key` records on SQLite (`IdempotencyStore`): only the atomic claim,
//! replace, complete and release; the policy lives in `operator_core::idempotency`.

use super::{unexpected, SqliteStore, R};
use crate::db::{fmt_ts, parse_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::params;

#[async_trait]
impl IdempotencyStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn idempotency_claim(
        &self,
        account: &AccountId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> R<Claim> {
        let (account, key, record) = (account.clone(), key.to_owned(), record.clone());
        self.db
            .call(move |c| {
                let inserted = c
                    .exec(
                        "INSERT INTO idempotency_keys (account_id, key, fingerprint, status, body, created_at)
                         VALUES (?1, ?2, ?3, NULL, NULL, ?4) ON CONFLICT DO NOTHING",
                        params![account.as_str(), key, record.fingerprint, fmt_ts(record.created_at)],
                    )
                    .map_err(unexpected)?;
                if inserted == 1 {
                    return Ok(Claim::Claimed);
                }
                let (fingerprint, status, body, created): (String, Option<u16>, Option<Vec<u8>>, String) = c
                    .row(
                        "SELECT fingerprint, status, body, created_at FROM idempotency_keys
                         WHERE account_id = ?1 AND key = ?2",
                        params![account.as_str(), key],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .map_err(unexpected)?;
                Ok(Claim::Held(IdempotencyRecord {
                    fingerprint,
                    created_at: parse_ts(&created).map_err(unexpected)?,
                    response: status.map(|status| StoredResponse {
                        status,
                        body: body.unwrap_or_default(),
                    }),
                }))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn idempotency_replace(
        &self,
        account: &AccountId,
        key: &str,
        expected: Timestamp,
        record: &IdempotencyRecord,
    ) -> R<bool> {
        let (account, key, record) = (account.clone(), key.to_owned(), record.clone());
        self.db
            .call(move |c| {
                let (status, body) = match &record.response {
                    Some(r) => (Some(r.status), Some(r.body.clone())),
                    None => (None, None),
                };
                let n = c
                    .exec(
                        "UPDATE idempotency_keys SET fingerprint = ?3, status = ?4, body = ?5, created_at = ?6
                         WHERE account_id = ?1 AND key = ?2 AND created_at = ?7",
                        params![
                            account.as_str(),
                            key,
                            record.fingerprint,
                            status,
                            body,
                            fmt_ts(record.created_at),
                            fmt_ts(expected)
                        ],
                    )
                    .map_err(unexpected)?;
                Ok(n == 1)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn idempotency_complete(
        &self,
        account: &AccountId,
        key: &str,
        response: &StoredResponse,
        purge_before: Timestamp,
    ) -> R<()> {
        let (account, key, response) = (account.clone(), key.to_owned(), response.clone());
        self.db
            .call(move |c| {
                c.exec(
                    "UPDATE idempotency_keys SET status = ?3, body = ?4 WHERE account_id = ?1 AND key = ?2",
                    params![account.as_str(), key, response.status, response.body],
                )
                .map_err(unexpected)?;
                // Expired records go here too, so the table stays small.
                c.exec(
                    "DELETE FROM idempotency_keys WHERE created_at < ?1",
                    [fmt_ts(purge_before)],
                )
                    .map_err(unexpected)?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn idempotency_release(&self, account: &AccountId, key: &str) -> R<()> {
        let (account, key) = (account.clone(), key.to_owned());
        self.db
            .call(move |c| {
                c.exec(
                    "DELETE FROM idempotency_keys WHERE account_id = ?1 AND key = ?2 AND status IS NULL",
                    params![account.as_str(), key],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }
}
