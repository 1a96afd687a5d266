//! `ExperimentStore`: the experiment in its account's partition (listed newest first by id)
//! with its pair cursor `next_pair` beside the document, and everything else in the
//! experiment's own partition: dataset items by index, one item per lane naming the pair it
//! runs (`lane_pair`), one claim item per pair given out, and one result item per (item,
//! variant). Deleting and reading all results are queries of that one partition.
//!
//! A lane claims a pair with one transaction that creates the pair's claim item
//! (`attribute_not_exists`: no two lanes ever get the same pair) and moves the lane's item to
//! it (conditioned on the pair read before), so a lane always knows its unfinished pair after
//! a crash. The cursor only says where to start looking (every pair below it is claimed); a
//! lane that finds a pair taken tries the next one, so racing lanes all make progress rather
//! than retrying one compare-and-set. A result is a put with `attribute_not_exists`, so the
//! first one for a pair stays.

use super::automations::BILLING;
use super::codec::{attr_n, attr_s, doc, item, json, n, s, unexpected, Item, R};
use super::keys::{self, BillingKind, Key};
use super::retry::{on_contention, Attempt, Backoff};
use super::tx::TxError;
use super::DynamoStore;
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::{ExperimentStore, Inserted};

const EXPERIMENT: &str = "experiment";
const ITEM: &str = "experiment item";
const CLAIM: &str = "pair claim";
const LANE: &str = "lane's pair";
const CHILD: &str = "experiment partition item";
const RESULT: &str = "experiment result";

/// A transaction holds at most 100 operations and 4 MB; groups stay below both, with room
/// for the experiment record in the last one.
const TX_OPS: usize = 100;
const TX_BYTES: usize = 3_000_000;

fn exists() -> StoreError {
    StoreError::Conflict("experiment exists".into())
}

/// A rough size of an item as DynamoDB counts it (names and string values).
fn approx_size(i: &Item) -> usize {
    i.iter()
        .map(|(k, v)| k.len() + v.as_s().map_or(16, String::len))
        .sum()
}

/// Splits sized rows into transaction-sized groups: at most `TX_OPS - 1` rows and about
/// `TX_BYTES` each (a row bigger than that goes alone).
fn batches<T>(rows: Vec<(usize, T)>) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = vec![];
    let mut bytes = 0;
    for (size, row) in rows {
        match groups.last_mut() {
            Some(g) if g.len() < TX_OPS - 1 && bytes + size <= TX_BYTES => {
                bytes += size;
                g.push(row);
            }
            _ => {
                bytes = size;
                groups.push(vec![row]);
            }
        }
    }
    groups
}

/// A results page position: `<item index, 10 digits>_<instance id>` (cursors are
/// alphanumeric and '_').
fn cursor_of(r: &ExperimentResult) -> String {
    format!("{:010}_{}", r.item_index, r.instance_id)
}

fn position_of(cursor: &str) -> Option<(u32, InstanceId)> {
    let (index, instance) = cursor.split_once('_')?;
    if index.len() != 10 || instance.is_empty() {
        return None;
    }
    Some((index.parse().ok()?, InstanceId::from_trusted(instance)))
}

impl DynamoStore {
    /// Has the pair a result yet?
    async fn has_result(&self, e: &Experiment, pair: u32) -> R<bool> {
        let (variant, index) = e.pair(pair);
        let instance = e
            .instance_ids
            .get(variant)
            .ok_or_else(|| unexpected(format!("pair {pair} names no variant")))?;
        let key = keys::experiment_result(&e.account_id, &e.id, index, instance);
        Ok(self.get(key).await?.is_some())
    }

    /// The pair cursor: every pair below it is claimed (it may lag behind the claims).
    async fn pair_cursor(&self, a: &AccountId, id: &ExperimentId) -> R<u32> {
        let current = self
            .get(keys::experiment(a, id))
            .await?
            .ok_or(StoreError::NotFound)?;
        u32::try_from(attr_n(&current, "next_pair").unwrap_or(0)).map_err(unexpected)
    }

    /// Moves the cursor up to `to` unless it is there already (a hint: claims stay correct
    /// when it lags, they only walk further).
    async fn advance_pair_cursor(&self, a: &AccountId, id: &ExperimentId, to: u32) -> R<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::experiment(a, id).item()))
            .update_expression("SET next_pair = :n")
            .condition_expression("next_pair < :n")
            .expression_attribute_values(":n", n(to))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Another lane moved it further (or the experiment is gone).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }

    async fn try_claim_pair(
        &self,
        a: &AccountId,
        id: &ExperimentId,
        lane: u32,
    ) -> R<Attempt<Option<u32>>> {
        let e = self.get_experiment(a, id).await?;
        let held = self
            .get(keys::experiment_lane(a, id, lane))
            .await?
            .and_then(|i| attr_n(&i, "lane_pair"));
        // The lane's own pair first, if it never got a result (a crash mid-pair).
        if let Some(pair) = held {
            let pair = u32::try_from(pair).map_err(unexpected)?;
            if !self.has_result(&e, pair).await? {
                return Ok(Attempt::Done(Some(pair)));
            }
        }
        // Walk up from the cursor to the first pair nobody claimed: each claim lost to
        // another lane is a pair taken, so the walk always progresses.
        let mut pair = self.pair_cursor(a, id).await?;
        while pair < e.pair_count() {
            let mut claim = keys::experiment_claim(a, id, pair).item();
            claim.insert("lane".into(), n(lane));
            let mut mine = keys::experiment_lane(a, id, lane).item();
            mine.insert("lane_pair".into(), n(pair));
            let tx = self.tx().put_if(CLAIM, claim, "attribute_not_exists(pk)");
            let tx = match held {
                Some(p) => tx.put_if(LANE, mine, "lane_pair = :p").value(":p", n(p)),
                None => tx.put_if(LANE, mine, "attribute_not_exists(pk)"),
            };
            match tx.commit().await {
                Ok(()) => {
                    self.advance_pair_cursor(a, id, pair + 1).await?;
                    return Ok(Attempt::Done(Some(pair)));
                }
                // The same lane claimed meanwhile (a duplicate job): start over.
                Err(TxError::Cancelled(c)) if c.failed(LANE) => {
                    return Ok(Attempt::Contended(c.to_string()))
                }
                Err(TxError::Cancelled(c)) if c.failed(CLAIM) => {
                    pair = (pair + 1).max(self.pair_cursor(a, id).await?);
                }
                // A transaction conflict: the pair may still be free, so read again.
                Err(TxError::Cancelled(c)) => return Ok(Attempt::Contended(c.to_string())),
                Err(TxError::Store(e)) => return Err(e),
            }
        }
        Ok(Attempt::Done(None))
    }

    /// Up to `want` result items after `after` (a sort key), optionally one instance's, in
    /// sort-key order; reads only as many query pages as it takes.
    async fn result_items(
        &self,
        range: &keys::Range,
        after: Option<&str>,
        instance: Option<&InstanceId>,
        want: usize,
    ) -> R<Vec<Item>> {
        let from = match after {
            Some(sk) => format!("{sk}\u{0}"),
            None => range.prefix.to_owned(),
        };
        let mut out = vec![];
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :z")
                .expression_attribute_values(":pk", s(range.pk.as_str()))
                .expression_attribute_values(":a", s(from.as_str()))
                .expression_attribute_values(":z", s(format!("{}\u{10FFFF}", range.prefix)))
                .set_exclusive_start_key(start.take());
            q = match instance {
                Some(i) => q
                    .filter_expression("instance_id = :i")
                    .expression_attribute_values(":i", s(i.as_str())),
                // Without a filter every item read counts: read no more than needed.
                None => q.limit(i32::try_from(want - out.len()).unwrap_or(i32::MAX)),
            };
            let res = q
                .send()
                .await
                .map_err(|e| unexpected(e.into_service_error()))?;
            out.extend(res.items.unwrap_or_default());
            if out.len() >= want {
                out.truncate(want);
                break;
            }
            match res.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Writes `rows` (new dataset items) and, when given, the experiment record, in one
    /// transaction; a record that exists already is `Conflict`.
    async fn put_experiment_rows(&self, rows: Vec<Item>, record: Option<Item>) -> R<()> {
        let mut tx = self.tx();
        for row in rows {
            tx = tx.put(ITEM, row);
        }
        if let Some(r) = record {
            tx = tx.put_if(EXPERIMENT, r, "attribute_not_exists(pk)");
        }
        tx.commit().await.map_err(|e| match e {
            TxError::Cancelled(c) if c.failed(EXPERIMENT) => exists(),
            e => e.into_store_error(),
        })
    }
}

impl DynamoStore {
    /// The result and its billing event, both or neither: the first result of a pair stays
    /// (and is billed once); the event outlives the experiment.
    async fn try_insert_result(
        &self,
        key: &Key,
        r: &ExperimentResult,
    ) -> R<Attempt<Inserted<ExperimentResult>>> {
        let mut row = item(key.clone(), r)?;
        row.insert("instance_id".into(), s(r.instance_id.as_str()));
        let pair = format!("{}#{}#{}", r.experiment_id, r.item_index, r.instance_id);
        let res = self
            .tx()
            .put_if(RESULT, row, "attribute_not_exists(pk)")
            .put(
                BILLING,
                keys::billing_event(&r.account_id, r.created_at, BillingKind::Item, &pair).item(),
            )
            .commit()
            .await;
        match res {
            Ok(()) => Ok(Attempt::Done(Inserted::Created(r.clone()))),
            Err(TxError::Cancelled(c)) if c.failed(RESULT) => Ok(Attempt::Done(
                Inserted::Existing(self.get_doc(key.clone()).await?),
            )),
            Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}

#[async_trait]
impl ExperimentStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %e.account_id, experiment = %e.id, items = items.len()))]
    async fn insert_experiment(&self, e: &Experiment, items: &[DatasetItem]) -> R<()> {
        let a = &e.account_id;
        // Items are written before the record (a reader never sees one without its items),
        // so an existing experiment's items must not be touched: refuse it first. (Plain
        // puts of items: a retry after a failure half-way overwrites the same items.)
        if self.get(keys::experiment(a, &e.id)).await?.is_some() {
            return Err(exists());
        }
        let rows = items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let index = u32::try_from(i).map_err(unexpected)?;
                let row = item(keys::experiment_item(a, &e.id, index), it)?;
                Ok((approx_size(&row), row))
            })
            .collect::<R<Vec<_>>>()?;
        let mut groups = batches(rows);
        let last = groups.pop().unwrap_or_default();
        for g in groups {
            self.put_experiment_rows(g, None).await?;
        }
        let mut record = item(keys::experiment(a, &e.id), e)?;
        record.insert("next_pair".into(), n(0));
        self.put_experiment_rows(last, Some(record)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a, experiment = %id))]
    async fn get_experiment(&self, a: &AccountId, id: &ExperimentId) -> R<Experiment> {
        self.get_doc(keys::experiment(a, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn list_experiments(&self, a: &AccountId, p: &PageRequest) -> R<Page<Experiment>> {
        self.page_of(
            &keys::experiments(a),
            p,
            |_| true,
            |e: &Experiment| e.id.to_string(),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %e.account_id, experiment = %e.id))]
    async fn update_experiment(&self, e: &Experiment) -> R<()> {
        // Only the document: the pair cursor beside it belongs to the lanes.
        // `st` mirrors the status so the condition can see it: an ended experiment stays ended.
        let key = keys::experiment(&e.account_id, &e.id);
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression("SET d = :d, st = :st")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(st) OR NOT st IN (:ok, :failed, :cancelled))",
            )
            .expression_attribute_values(":d", json(e)?)
            .expression_attribute_values(":st", s(e.status.as_str()))
            .expression_attribute_values(":ok", s(ExperimentStatus::Succeeded.as_str()))
            .expression_attribute_values(":failed", s(ExperimentStatus::Failed.as_str()))
            .expression_attribute_values(":cancelled", s(ExperimentStatus::Cancelled.as_str()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err) => {
                let err = err.into_service_error();
                if !err.is_conditional_check_failed_exception() {
                    return Err(unexpected(err));
                }
                // Gone, or ended: which one decides the answer.
                match self.get(key).await? {
                    Some(_) => Err(StoreError::Conflict("the experiment has ended".into())),
                    None => Err(StoreError::NotFound),
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(account = %a, experiment = %id))]
    async fn delete_experiment(&self, a: &AccountId, id: &ExperimentId) -> R<()> {
        self.get(keys::experiment(a, id))
            .await?
            .ok_or(StoreError::NotFound)?;
        // The partition first, the record last: a delete that fails half-way can be repeated.
        let children = self
            .query(&keys::experiment_children(a, id), None, true)
            .await?;
        for group in children.chunks(TX_OPS) {
            let mut tx = self.tx();
            for i in group {
                let (pk, sk) = (attr_s(i, "pk"), attr_s(i, "sk"));
                tx = tx.delete(
                    CHILD,
                    Key {
                        pk: pk.unwrap_or_default(),
                        sk: sk.unwrap_or_default(),
                    },
                );
            }
            tx.commit().await.map_err(TxError::into_store_error)?;
        }
        self.tx()
            .delete_if(EXPERIMENT, keys::experiment(a, id), "attribute_exists(pk)")
            .commit()
            .await
            .map_err(|e| match e {
                // Deleted concurrently.
                TxError::Cancelled(c) if c.failed(EXPERIMENT) => StoreError::NotFound,
                e => e.into_store_error(),
            })
    }

    #[tracing::instrument(skip_all, fields(account = %a, experiment = %id, index))]
    async fn experiment_item(
        &self,
        a: &AccountId,
        id: &ExperimentId,
        index: u32,
    ) -> R<DatasetItem> {
        self.get_doc(keys::experiment_item(a, id, index)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a, experiment = %id, lane))]
    async fn claim_pair(&self, a: &AccountId, id: &ExperimentId, lane: u32) -> R<Option<u32>> {
        on_contention("the lane's pair", Backoff::WRITES, || {
            self.try_claim_pair(a, id, lane)
        })
        .await
    }

    // The output is what a model wrote: it stays out of the span.
    #[tracing::instrument(skip_all, fields(account = %r.account_id, experiment = %r.experiment_id, instance = %r.instance_id, item = r.item_index))]
    async fn insert_result(&self, r: &ExperimentResult) -> R<Inserted<ExperimentResult>> {
        let e = self.get_experiment(&r.account_id, &r.experiment_id).await?;
        if !e.instance_ids.contains(&r.instance_id) {
            return Err(StoreError::NotFound);
        }
        let key = keys::experiment_result(
            &r.account_id,
            &r.experiment_id,
            r.item_index,
            &r.instance_id,
        );
        on_contention("the experiment's results", Backoff::WRITES, || {
            self.try_insert_result(&key, r)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, experiment = %id))]
    async fn list_results(
        &self,
        a: &AccountId,
        id: &ExperimentId,
        instance: Option<&InstanceId>,
        p: &PageRequest,
    ) -> R<Page<ExperimentResult>> {
        let after = match p.cursor.as_deref() {
            Some(c) => {
                let (index, inst) =
                    position_of(c).ok_or_else(|| unexpected("not a results cursor"))?;
                Some(keys::experiment_result(a, id, index, &inst).sk)
            }
            None => None,
        };
        let range = keys::experiment_results(a, id);
        let want = p.limit as usize + 1;
        let rows = self
            .result_items(&range, after.as_deref(), instance, want)
            .await?
            .iter()
            .map(doc)
            .collect::<R<Vec<ExperimentResult>>>()?;
        Ok(Page::from_overfetch(rows, p.limit, cursor_of))
    }

    #[tracing::instrument(skip_all, fields(account = %a, experiment = %id))]
    async fn all_results(&self, a: &AccountId, id: &ExperimentId) -> R<Vec<ExperimentResult>> {
        self.docs(&keys::experiment_results(a, id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    #[test]
    fn batches_stay_within_a_transaction_with_room_for_the_record() {
        // GIVEN 1,000 small rows, then rows of 1 MB
        let small: Vec<(usize, u32)> = (0..1000).map(|i| (100, i)).collect();
        let big: Vec<(usize, u32)> = (0..7).map(|i| (1_000_000, i)).collect();
        // WHEN they are grouped
        let (small, big) = (batches(small), batches(big));
        // THEN no group holds more than 99 rows or 3 MB, and every row is kept in order
        assert_eq!(small.len(), 11);
        assert!(small.iter().all(|g| g.len() < TX_OPS));
        assert_eq!(small.concat(), (0..1000).collect::<Vec<_>>());
        assert_eq!(big.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        assert!(batches::<u32>(vec![]).is_empty());
    }

    #[test]
    fn result_keys_sort_by_item_then_variant_and_cursors_round_trip() {
        // GIVEN results of items 2 and 10 on two variants
        let (a, e) = (
            AccountId::from_trusted("acct_1"),
            ExperimentId::from_trusted("exp_1"),
        );
        let (v1, v2) = (
            InstanceId::from_trusted("inst_01b"),
            InstanceId::from_trusted("inst_01a"),
        );
        // WHEN their keys are built
        let mut sks: Vec<String> = [(10, &v1), (2, &v1), (10, &v2), (2, &v2)]
            .iter()
            .map(|(i, v)| keys::experiment_result(&a, &e, *i, v).sk)
            .collect();
        sks.sort();
        // THEN string order is (item index, instance id) order
        assert_eq!(
            sks,
            [
                "RES#0000000002#inst_01a",
                "RES#0000000002#inst_01b",
                "RES#0000000010#inst_01a",
                "RES#0000000010#inst_01b"
            ]
        );
        // AND a result's cursor is alphanumeric and '_', and names the same position
        let r = ExperimentResult {
            account_id: a.clone(),
            experiment_id: e.clone(),
            instance_id: v1.clone(),
            item_index: 42,
            output: None,
            score: None,
            reason: None,
            error: None,
            latency_ms: None,
            created_at: chrono::Utc::now(),
        };
        let c = cursor_of(&r);
        assert!(c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert_eq!(position_of(&c), Some((42, v1)));
        assert_eq!(position_of("12_inst_x"), None);
        assert_eq!(position_of("00000000x1_inst_x"), None);
    }

    #[test]
    fn item_sizes_count_names_and_strings() {
        let mut i = Item::new();
        i.insert("d".into(), AttributeValue::S("x".repeat(10)));
        i.insert("next_pair".into(), AttributeValue::N("3".into()));
        assert_eq!(approx_size(&i), 1 + 10 + 9 + 16);
    }
}
