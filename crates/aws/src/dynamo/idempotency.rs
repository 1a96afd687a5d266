//! `IdempotencyStore`: the atomic claim and swap of `Idempotency-Key` records (the policy is
//! `operator_core::idempotency`). Records carry `expires_at`, the table's TTL attribute, so
//! DynamoDB purges expired keys itself.

use super::codec::{attr_s, n, s, ts, unexpected, Item, R};
use super::keys;
use super::retry::{on_contention, Attempt, Backoff};
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use operator_core::domain::Timestamp;
use operator_core::error::StoreError;
use operator_core::ids::AccountId;
use operator_core::ports::{Claim, IdempotencyRecord, IdempotencyStore, StoredResponse};

/// The item of an idempotency record; `expires_at` lets DynamoDB's TTL remove it.
fn idempotency_item(a: &AccountId, k: &str, record: &IdempotencyRecord) -> Item {
    let mut item = keys::idempotency(a, k).item();
    item.insert("fingerprint".into(), s(record.fingerprint.clone()));
    item.insert("created_at".into(), s(ts(record.created_at)));
    item.insert(
        "expires_at".into(),
        n((record.created_at + operator_core::idempotency::TTL).timestamp()),
    );
    if let Some(r) = &record.response {
        item.insert("status".into(), n(r.status));
        item.insert("body".into(), AttributeValue::B(Blob::new(r.body.clone())));
    }
    item
}

fn idempotency_record(i: &Item) -> R<IdempotencyRecord> {
    let created_at = attr_s(i, "created_at")
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
        .map(|c| c.with_timezone(&chrono::Utc))
        .ok_or_else(|| unexpected("idempotency record without a valid created_at"))?;
    let status = i
        .get("status")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u16>().ok());
    Ok(IdempotencyRecord {
        fingerprint: attr_s(i, "fingerprint").unwrap_or_default(),
        created_at,
        response: status.map(|status| StoredResponse {
            status,
            body: i
                .get("body")
                .and_then(|b| b.as_b().ok())
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default(),
        }),
    })
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn idempotency_claim(
        &self,
        a: &AccountId,
        k: &str,
        record: &IdempotencyRecord,
    ) -> R<Claim> {
        // A record can vanish between the failed put and the read (a release): then the
        // claim is tried again, a bounded number of times.
        on_contention("the idempotency key", Backoff::RARE, || async {
            let claimed = self
                .put_item(
                    idempotency_item(a, k, record),
                    Some("attribute_not_exists(pk)"),
                    || StoreError::Conflict("idempotency key held".into()),
                )
                .await;
            match claimed {
                Ok(()) => return Ok(Attempt::Done(Claim::Claimed)),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            match self.get(keys::idempotency(a, k)).await? {
                Some(i) => Ok(Attempt::Done(Claim::Held(idempotency_record(&i)?))),
                None => Ok(Attempt::Contended("the record vanished".into())),
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn idempotency_replace(
        &self,
        a: &AccountId,
        k: &str,
        expected: Timestamp,
        record: &IdempotencyRecord,
    ) -> R<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(idempotency_item(a, k, record)))
            .condition_expression("created_at = :c")
            .expression_attribute_values(":c", s(ts(expected)))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }

    #[tracing::instrument(skip_all, fields(account = %a, status = response.status))]
    async fn idempotency_complete(
        &self,
        a: &AccountId,
        k: &str,
        response: &StoredResponse,
        // Expiry is the table's TTL attribute (`expires_at`).
        _purge_before: Timestamp,
    ) -> R<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::idempotency(a, k).item()))
            .update_expression("SET #s = :s, body = :b")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", n(response.status))
            .expression_attribute_values(":b", AttributeValue::B(Blob::new(response.body.clone())))
            .send()
            .await
            .map_err(|e| unexpected(e.into_service_error()))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn idempotency_release(&self, a: &AccountId, k: &str) -> R<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::idempotency(a, k).item()))
            .condition_expression("attribute_not_exists(#s)")
            .expression_attribute_names("#s", "status")
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Completed meanwhile: the answer stays for replays.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }
}
