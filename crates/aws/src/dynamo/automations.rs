//! `AutomationStore`: automations with an id lookup (the scheduler fires by id alone), and
//! their runs under the automation's partition. A scheduled run takes a slot lock per
//! (automation, scheduledFor), so a redelivered fire maps to the first run; the run's billing
//! event is written in the same transaction, so it exists exactly when the run does.

use super::codec::{attr_s, doc, item, s, unexpected, Item, R};
use super::keys::{self, BillingKind};
use super::retry::{on_contention, Attempt, Backoff};
use super::tx::TxError;
use super::DynamoStore;
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::{AutomationStore, Inserted};

const AUTOMATION: &str = "automation";
const LOOKUP: &str = "id lookup";
const RUN: &str = "run";
const SLOT: &str = "scheduled slot lock";
pub(super) const BILLING: &str = "billing event";

impl DynamoStore {
    fn automation_item(a: &Automation) -> R<Item> {
        let mut it = item(keys::automation(&a.account_id, &a.id), a)?;
        it.insert("t".into(), s("automation"));
        Ok(it)
    }

    async fn try_insert_run(&self, r: &AutomationRun) -> R<Attempt<Inserted<AutomationRun>>> {
        let mut lookup = keys::run_lookup(&r.id).item();
        lookup.insert("account".into(), s(r.account_id.as_str()));
        lookup.insert("automation".into(), s(r.automation_id.as_str()));
        let mut tx = self
            .tx()
            .put_if(
                RUN,
                item(keys::run(&r.automation_id, &r.id), r)?,
                "attribute_not_exists(pk)",
            )
            .put(LOOKUP, lookup)
            .put(
                BILLING,
                keys::billing_event(&r.account_id, r.created_at, BillingKind::Run, r.id.as_str())
                    .item(),
            );
        if r.trigger == RunTrigger::Schedule {
            let mut slot = keys::run_slot_lock(&r.automation_id, r.scheduled_for).item();
            slot.insert("run".into(), s(r.id.as_str()));
            tx = tx.put_if(SLOT, slot, "attribute_not_exists(pk)");
        }
        match tx.commit().await {
            Ok(()) => Ok(Attempt::Done(Inserted::Created(r.clone()))),
            Err(TxError::Cancelled(c)) if c.failed(SLOT) => {
                let Some(slot) = self
                    .get(keys::run_slot_lock(&r.automation_id, r.scheduled_for))
                    .await?
                else {
                    // The automation was deleted between the two: try again from the top.
                    return Ok(Attempt::Contended("the slot lock vanished".into()));
                };
                let first = RunId::from_trusted(attr_s(&slot, "run").unwrap_or_default());
                Ok(Attempt::Done(Inserted::Existing(
                    self.get_run(&r.account_id, &first).await?,
                )))
            }
            Err(TxError::Cancelled(c)) if c.failed(RUN) => {
                Err(StoreError::Conflict("run exists".into()))
            }
            Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}

#[async_trait]
impl AutomationStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %a.account_id, automation = %a.id))]
    async fn insert_automation(&self, a: &Automation) -> R<()> {
        let mut lookup = keys::automation_lookup(&a.id).item();
        lookup.insert("account".into(), s(a.account_id.as_str()));
        self.tx()
            .put_if(
                AUTOMATION,
                Self::automation_item(a)?,
                "attribute_not_exists(pk)",
            )
            .put(LOOKUP, lookup)
            .commit()
            .await
            .map_err(|e| match e {
                TxError::Cancelled(c) if c.failed(AUTOMATION) => {
                    StoreError::Conflict("automation exists".into())
                }
                e => e.into_store_error(),
            })
    }

    #[tracing::instrument(skip_all, fields(account = %a, automation = %id))]
    async fn get_automation(&self, a: &AccountId, id: &AutomationId) -> R<Automation> {
        self.get_doc(keys::automation(a, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn list_automations(&self, a: &AccountId, p: &PageRequest) -> R<Page<Automation>> {
        self.page_of(
            &keys::automations(a),
            p,
            |_| true,
            |x: &Automation| x.id.to_string(),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a.account_id, automation = %a.id))]
    async fn update_automation(&self, a: &Automation) -> R<()> {
        self.put_item(
            Self::automation_item(a)?,
            Some("attribute_exists(pk)"),
            || StoreError::NotFound,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, automation = %id))]
    async fn delete_automation(&self, a: &AccountId, id: &AutomationId) -> R<()> {
        self.get_automation(a, id).await?;
        for i in self
            .query(&keys::automation_children(id), None, true)
            .await?
        {
            let Some(sk) = attr_s(&i, "sk") else { continue };
            if let Some(run) = keys::run_id_of(&sk) {
                self.delete_item(keys::run_lookup(&run)).await?;
            }
            let pk = attr_s(&i, "pk").unwrap_or_default();
            self.delete_item(keys::Key { pk, sk }).await?;
        }
        self.delete_item(keys::automation_lookup(id)).await?;
        self.delete_item(keys::automation(a, id)).await
    }

    #[tracing::instrument(skip_all, fields(automation = %id))]
    async fn advance_automation(
        &self,
        id: &AutomationId,
        expected: Option<Timestamp>,
        next: Option<Timestamp>,
    ) -> R<bool> {
        let Some(lookup) = self.get(keys::automation_lookup(id)).await? else {
            return Ok(false);
        };
        let Some(current) = self
            .get(keys::automation(&Self::account_of(&lookup), id))
            .await?
        else {
            return Ok(false);
        };
        let mut a: Automation = doc(&current)?;
        if a.next_run_at != expected {
            return Ok(false);
        }
        a.next_run_at = next;
        let old_doc = attr_s(&current, "d").unwrap_or_default();
        // Compare-and-set on the whole document: nobody changed it since we read it.
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::automation_item(&a)?))
            .condition_expression("d = :old")
            .expression_attribute_values(":old", s(old_doc))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(unexpected(e))
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(account = %r.account_id, automation = %r.automation_id, run = %r.id))]
    async fn insert_run(&self, r: &AutomationRun) -> R<Inserted<AutomationRun>> {
        on_contention("the automation's runs", Backoff::WRITES, || {
            self.try_insert_run(r)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, run = %id))]
    async fn get_run(&self, a: &AccountId, id: &RunId) -> R<AutomationRun> {
        let lookup = self
            .get(keys::run_lookup(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        if attr_s(&lookup, "account").as_deref() != Some(a.as_str()) {
            return Err(StoreError::NotFound);
        }
        let auto = AutomationId::from_trusted(attr_s(&lookup, "automation").unwrap_or_default());
        self.get_doc(keys::run(&auto, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a, automation = %automation))]
    async fn list_runs(
        &self,
        a: &AccountId,
        automation: &AutomationId,
        p: &PageRequest,
    ) -> R<Page<AutomationRun>> {
        self.page_in_account(
            &keys::runs(automation),
            p,
            a,
            |r: &AutomationRun| &r.account_id,
            |r: &AutomationRun| r.id.to_string(),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %r.account_id, run = %r.id))]
    async fn update_run(&self, r: &AutomationRun) -> R<()> {
        self.get_run(&r.account_id, &r.id).await?;
        self.put_item(
            item(keys::run(&r.automation_id, &r.id), r)?,
            Some("attribute_exists(pk)"),
            || StoreError::Conflict("condition failed".into()),
        )
        .await
    }
}
