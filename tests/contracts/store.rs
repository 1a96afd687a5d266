//! Store contract: account scoping, uniqueness, capacity, idempotent inserts, paging.
//! Declared once and run on SQLite and on DynamoDB (the emulator); the `SweepStore` queries
//! only the embedded store answers are checked by the SQLite-only test at the end.

use chrono::{Duration, TimeZone, Utc};
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::*;
use std::sync::Arc;

contracts! {
    sqlite: crate::backends::store_on_sqlite,
    aws: crate::backends::store_on_dynamodb,
    contracts: [
        accounts_and_keys,
        cli_logins_are_taken_once_and_expire,
        instances_capacity_names_and_scope,
        an_instance_moves_to_another_account_once,
        secrets_and_grants,
        automations_due_and_runs_once_per_slot,
        webhooks_tokens_and_delivery_dedup,
        idempotency_key_lifecycle,
        chats_turns_events_and_leases,
        llm_usage_is_summed_per_instance_over_the_window,
    ],
}

pub(crate) fn now() -> Timestamp {
    ts(Utc::now())
}

pub async fn account(s: &Arc<dyn Store>) -> Account {
    let a = Account {
        id: AccountId::generate(),
        user_id: UserId::generate(),
        plan: PlanSlug::Pro,
        instance_limit: None,
        token_limit: None,
        created_at: now(),
    };
    s.insert_account(&a).await.unwrap();
    a
}

pub(crate) fn instance(account: &AccountId, name: &str) -> Instance {
    Instance {
        id: InstanceId::generate(),
        account_id: account.clone(),
        name: InstanceName::parse(name).unwrap(),
        kind: InstanceKind::Prebuilt,
        status: InstanceStatus::Provisioning,
        status_reason: None,
        image_tag: "t".into(),
        checkpoint_repo: None,
        env: EnvMap::default(),
        config: serde_json::json!({}),
        fqdn: None,
        endpoint: None,
        restarts: 0,
        active_since: None,
        active_seconds: 0,
        created_at: now(),
        updated_at: now(),
        deleted_at: None,
    }
}

pub(crate) fn secret(account: &AccountId, name: &str) -> Secret {
    Secret {
        id: SecretId::generate(),
        account_id: account.clone(),
        name: SecretName::parse(name).unwrap(),
        description: None,
        is_global: false,
        grants: vec![],
        created_at: now(),
        updated_at: now(),
    }
}

pub(crate) fn automation(account: &AccountId, next: Option<Timestamp>) -> Automation {
    Automation {
        id: AutomationId::generate(),
        account_id: account.clone(),
        name: "a".into(),
        prompt: "p".into(),
        cron: CronExpr::parse("0 9 * * *").unwrap(),
        timezone: TimeZoneName::utc(),
        enabled: true,
        next_run_at: next,
        chat_id: ChatId::generate(),
        created_at: now(),
        updated_at: now(),
    }
}

fn run(a: &Automation, trigger: RunTrigger, slot: Timestamp) -> AutomationRun {
    AutomationRun {
        id: RunId::generate(),
        automation_id: a.id.clone(),
        account_id: a.account_id.clone(),
        trigger,
        status: RunStatus::Queued,
        scheduled_for: slot,
        started_at: None,
        finished_at: None,
        chat_id: None,
        error: None,
        created_at: now(),
    }
}

pub(crate) fn webhook(account: &AccountId) -> Webhook {
    Webhook {
        id: WebhookId::generate(),
        account_id: account.clone(),
        name: "w".into(),
        prompt_template: "{{payload}}".into(),
        token: mint_webhook_token(),
        enabled: true,
        chat_id: ChatId::generate(),
        created_at: now(),
        updated_at: now(),
    }
}

fn delivery(w: &Webhook, dedup: Option<&str>) -> Delivery {
    Delivery {
        id: DeliveryId::generate(),
        webhook_id: w.id.clone(),
        account_id: w.account_id.clone(),
        status: DeliveryStatus::Queued,
        payload: "{}".into(),
        dedup_key: dedup.map(str::to_owned),
        received_at: now(),
        started_at: None,
        finished_at: None,
        chat_id: None,
        error: None,
    }
}

pub async fn cli_logins_are_taken_once_and_expire(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let t0 = now();
    // Each test has its own database or table: a fixed session id cannot collide.
    let session = CliSession::parse("1b4e28ba-2fa1-41d2-883f-0016d3cca427").unwrap();
    let login = |at: Timestamp| CliLogin {
        session: session.clone(),
        account_id: a.id.clone(),
        approved_at: at,
        expires_at: at + CLI_LOGIN_TTL,
    };
    // Nothing to take before an approval
    assert!(matches!(
        s.take_cli_login(&session, t0).await,
        Err(StoreError::NotFound)
    ));
    // GIVEN an approval WHEN it is approved again while live THEN Conflict
    s.insert_cli_login(&login(t0)).await.unwrap();
    assert!(matches!(
        s.insert_cli_login(&login(t0 + Duration::minutes(1))).await,
        Err(StoreError::Conflict(_))
    ));
    // WHEN it is taken THEN it comes back once
    let taken = s
        .take_cli_login(&session, t0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(taken.account_id, a.id);
    assert_eq!(taken.expires_at, login(t0).expires_at);
    assert!(matches!(
        s.take_cli_login(&session, t0 + Duration::minutes(1)).await,
        Err(StoreError::NotFound)
    ));
    // GIVEN an approval left to expire THEN it cannot be taken, and a new one replaces it
    s.insert_cli_login(&login(t0)).await.unwrap();
    let late = t0 + CLI_LOGIN_TTL + Duration::seconds(1);
    s.insert_cli_login(&login(late)).await.unwrap();
    assert!(s.take_cli_login(&session, late).await.is_ok());
    s.insert_cli_login(&login(t0)).await.unwrap();
    assert!(matches!(
        s.take_cli_login(&session, late).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn accounts_and_keys(s: Arc<dyn Store>) {
    assert!(s.first_account().await.unwrap().is_none());
    let a = account(&s).await;
    let b = account(&s).await;
    assert_eq!(s.get_account(&a.id).await.unwrap(), a);
    assert_eq!(s.first_account().await.unwrap().unwrap().id, a.id);
    assert!(matches!(
        s.get_account(&AccountId::generate()).await,
        Err(StoreError::NotFound)
    ));
    // An id is taken once (concurrent bootstraps rely on it); the first account stays.
    let again = Account {
        plan: PlanSlug::Basic,
        ..b.clone()
    };
    assert!(matches!(
        s.insert_account(&again).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_account(&b.id).await.unwrap(), b);
    assert_eq!(s.first_account().await.unwrap().unwrap().id, a.id);

    let minted = mint_key();
    let key = ApiKey {
        id: KeyId::generate(),
        account_id: a.id.clone(),
        name: Some("k".into()),
        prefix: minted.prefix.clone(),
        hash: minted.hash.clone(),
        created_at: now(),
        last_used_at: None,
    };
    s.insert_key(&key).await.unwrap();
    let dup = ApiKey {
        id: KeyId::generate(),
        ..key.clone()
    };
    assert!(matches!(
        s.insert_key(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.key_by_hash(&minted.hash).await.unwrap().id, key.id);
    s.touch_key(&key.id, now()).await.unwrap();
    assert!(s
        .key_by_hash(&minted.hash)
        .await
        .unwrap()
        .last_used_at
        .is_some());
    // another account cannot revoke it
    assert!(matches!(
        s.delete_key(&b.id, &key.id, now()).await,
        Err(StoreError::NotFound)
    ));
    s.delete_key(&a.id, &key.id, now()).await.unwrap();
    assert!(matches!(
        s.key_by_hash(&minted.hash).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_key(&a.id, &key.id, now()).await,
        Err(StoreError::NotFound)
    ));
    assert!(s
        .list_keys(&a.id, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
}

/// A warm pool's claim: an active instance moves to another account, under a new name,
/// once; a second claim of the same instance, a taken name or a full account refuse it.
pub async fn an_instance_moves_to_another_account_once(s: Arc<dyn Store>) {
    let pool = account(&s).await;
    let a = account(&s).await;
    let mut warm = instance(&pool.id, "pool-prebuilt-0");
    s.insert_instance(&warm, u32::MAX).await.unwrap();
    // GIVEN it is not active yet: nothing to claim
    let mut claimed = warm.clone();
    claimed.account_id = a.id.clone();
    claimed.name = InstanceName::parse("weather-desk").unwrap();
    assert!(matches!(
        s.transfer_instance(&warm, &claimed, 5).await,
        Err(StoreError::NotFound)
    ));
    warm.status = InstanceStatus::Active;
    s.update_instance(&warm).await.unwrap();
    // WHEN the caller's name is taken, or the caller's account is full: refused, unmoved
    s.insert_instance(&instance(&a.id, "weather-desk"), 5)
        .await
        .unwrap();
    let mut claimed = warm.clone();
    claimed.account_id = a.id.clone();
    claimed.name = InstanceName::parse("weather-desk").unwrap();
    assert!(matches!(
        s.transfer_instance(&warm, &claimed, 5).await,
        Err(StoreError::Conflict(_))
    ));
    claimed.name = InstanceName::parse("news-desk").unwrap();
    assert!(matches!(
        s.transfer_instance(&warm, &claimed, 1).await,
        Err(StoreError::CapacityExceeded { used: 1, limit: 1 })
    ));
    assert_eq!(s.get_instance(&pool.id, &warm.id).await.unwrap(), warm);
    // THEN with room it moves: same id, the caller's account and name
    s.transfer_instance(&warm, &claimed, 5).await.unwrap();
    assert_eq!(s.get_instance(&a.id, &warm.id).await.unwrap(), claimed);
    assert_eq!(s.find_instance(&warm.id).await.unwrap(), claimed);
    assert_eq!(
        s.get_instance_by_name(&a.id, &claimed.name)
            .await
            .unwrap()
            .id,
        warm.id
    );
    assert!(matches!(
        s.get_instance(&pool.id, &warm.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.count_capacity(&a.id).await.unwrap(), 2);
    assert_eq!(s.count_capacity(&pool.id).await.unwrap(), 0);
    // AND only once: a second claim of what was read before finds it gone
    let mut again = warm.clone();
    again.account_id = a.id.clone();
    again.name = InstanceName::parse("third-desk").unwrap();
    assert!(matches!(
        s.transfer_instance(&warm, &again, 5).await,
        Err(StoreError::NotFound)
    ));
    // AND the pool's name is free for the next one
    s.insert_instance(&instance(&pool.id, "pool-prebuilt-0"), u32::MAX)
        .await
        .unwrap();
}

pub async fn instances_capacity_names_and_scope(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let b = account(&s).await;
    let one = instance(&a.id, "one");
    s.insert_instance(&one, 2).await.unwrap();
    assert!(matches!(
        s.insert_instance(&instance(&a.id, "one"), 2).await,
        Err(StoreError::Conflict(_))
    ));
    s.insert_instance(&instance(&a.id, "two"), 2).await.unwrap();
    assert!(matches!(
        s.insert_instance(&instance(&a.id, "three"), 2).await,
        Err(StoreError::CapacityExceeded { used: 2, limit: 2 })
    ));
    assert_eq!(s.count_capacity(&a.id).await.unwrap(), 2);
    // same name in another account is fine
    s.insert_instance(&instance(&b.id, "one"), 2).await.unwrap();
    assert!(matches!(
        s.get_instance(&b.id, &one.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.get_instance(&a.id, &one.id).await.unwrap(), one);
    let by_name = s
        .get_instance_by_name(&a.id, &InstanceName::parse("one").unwrap())
        .await
        .unwrap();
    assert_eq!(by_name.id, one.id);
    // rename onto a live name conflicts; deleting frees name and capacity
    let mut renamed = one.clone();
    renamed.name = InstanceName::parse("two").unwrap();
    assert!(matches!(
        s.update_instance(&renamed).await,
        Err(StoreError::Conflict(_))
    ));
    let mut deleted = one.clone();
    deleted.status = InstanceStatus::Inactive;
    deleted.deleted_at = Some(now());
    s.update_instance(&deleted).await.unwrap();
    assert_eq!(s.count_capacity(&a.id).await.unwrap(), 1);
    s.insert_instance(&instance(&a.id, "one"), 2).await.unwrap();
    assert_eq!(
        s.get_instance(&a.id, &one.id).await.unwrap().status,
        InstanceStatus::Inactive
    );
    // a foreign update changes nothing
    let mut foreign = one.clone();
    foreign.account_id = b.id.clone();
    assert!(matches!(
        s.update_instance(&foreign).await,
        Err(StoreError::NotFound)
    ));
    // lists: live only unless asked, paged newest first
    let live = s
        .list_instances(&a.id, &PageRequest::first(10), false)
        .await
        .unwrap();
    assert_eq!(live.items.len(), 2);
    let all = s
        .list_instances(&a.id, &PageRequest::first(10), true)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    let p1 = s
        .list_instances(&a.id, &PageRequest::first(2), true)
        .await
        .unwrap();
    assert_eq!(p1.items.len(), 2);
    let cursor = p1.next_cursor.clone().expect("more");
    let p2 = s
        .list_instances(
            &a.id,
            &PageRequest {
                limit: 2,
                cursor: Some(cursor),
            },
            true,
        )
        .await
        .unwrap();
    assert_eq!(p2.items.len(), 1);
    assert!(p2.next_cursor.is_none());
    assert!(p1.items[1].id > p2.items[0].id);
}

pub async fn secrets_and_grants(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let b = account(&s).await;
    let sec = secret(&a.id, "TOKEN");
    s.insert_secret(&sec).await.unwrap();
    assert!(matches!(
        s.insert_secret(&secret(&a.id, "TOKEN")).await,
        Err(StoreError::Conflict(_))
    ));
    s.insert_secret(&secret(&b.id, "TOKEN")).await.unwrap();
    let inst = InstanceId::generate();
    s.add_grant(&a.id, &sec.id, &inst, now()).await.unwrap();
    s.add_grant(&a.id, &sec.id, &inst, now()).await.unwrap();
    assert_eq!(
        s.get_secret(&a.id, &sec.id).await.unwrap().grants,
        vec![inst.clone()]
    );
    assert!(matches!(
        s.add_grant(&b.id, &sec.id, &inst, now()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.remove_grant(&b.id, &sec.id, &inst).await,
        Err(StoreError::NotFound)
    ));
    s.remove_grant(&a.id, &sec.id, &inst).await.unwrap();
    assert!(matches!(
        s.remove_grant(&a.id, &sec.id, &inst).await,
        Err(StoreError::NotFound)
    ));
    let mut changed = sec.clone();
    changed.is_global = true;
    changed.description = Some("d".into());
    s.update_secret(&changed).await.unwrap();
    assert_eq!(s.get_secret(&a.id, &sec.id).await.unwrap(), changed);
    assert!(matches!(
        s.get_secret(&b.id, &sec.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_secret(&b.id, &sec.id).await,
        Err(StoreError::NotFound)
    ));
    s.delete_secret(&a.id, &sec.id).await.unwrap();
    assert!(matches!(
        s.get_secret(&a.id, &sec.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn automations_due_and_runs_once_per_slot(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
    let due = automation(&a.id, Some(t0));
    let later = automation(&a.id, Some(t0 + Duration::hours(1)));
    let mut off = automation(&a.id, Some(t0));
    off.enabled = false;
    for x in [&due, &later, &off] {
        s.insert_automation(x).await.unwrap();
    }
    // compare-and-set advance
    assert!(s
        .advance_automation(&due.id, Some(t0), Some(t0 + Duration::days(1)))
        .await
        .unwrap());
    assert!(!s
        .advance_automation(&due.id, Some(t0), Some(t0 + Duration::days(2)))
        .await
        .unwrap());
    assert_eq!(
        s.get_automation(&a.id, &due.id).await.unwrap().next_run_at,
        Some(t0 + Duration::days(1))
    );
    // one scheduled run per slot; manual runs always insert
    let r1 = run(&due, RunTrigger::Schedule, t0);
    assert!(matches!(
        s.insert_run(&r1).await.unwrap(),
        Inserted::Created(_)
    ));
    match s
        .insert_run(&run(&due, RunTrigger::Schedule, t0))
        .await
        .unwrap()
    {
        Inserted::Existing(first) => assert_eq!(first.id, r1.id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.insert_run(&run(&due, RunTrigger::Manual, t0))
            .await
            .unwrap(),
        Inserted::Created(_)
    ));
    let mut done = r1.clone();
    done.status = RunStatus::Succeeded;
    done.finished_at = Some(now());
    s.update_run(&done).await.unwrap();
    assert_eq!(s.get_run(&a.id, &r1.id).await.unwrap(), done);
    assert_eq!(
        s.list_runs(&a.id, &due.id, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(
        s.usage_counts(&a.id, t0 - Duration::days(400))
            .await
            .unwrap()
            .automation_runs,
        2
    );
    // deleting the automation deletes its runs, but not what they were billed
    s.delete_automation(&a.id, &due.id).await.unwrap();
    assert!(matches!(
        s.get_run(&a.id, &r1.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.usage_counts(&a.id, t0 - Duration::days(400))
            .await
            .unwrap()
            .automation_runs,
        2
    );
}

pub async fn webhooks_tokens_and_delivery_dedup(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let b = account(&s).await;
    let w = webhook(&a.id);
    s.insert_webhook(&w).await.unwrap();
    assert_eq!(s.webhook_by_token(&w.token).await.unwrap().id, w.id);
    assert!(matches!(
        s.get_webhook(&b.id, &w.id).await,
        Err(StoreError::NotFound)
    ));
    let d1 = delivery(&w, Some("evt-1"));
    assert!(matches!(
        s.insert_delivery(&d1).await.unwrap(),
        Inserted::Created(_)
    ));
    match s
        .insert_delivery(&delivery(&w, Some("evt-1")))
        .await
        .unwrap()
    {
        Inserted::Existing(first) => assert_eq!(first.id, d1.id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.insert_delivery(&delivery(&w, None)).await.unwrap(),
        Inserted::Created(_)
    ));
    assert!(matches!(
        s.insert_delivery(&delivery(&w, None)).await.unwrap(),
        Inserted::Created(_)
    ));
    assert_eq!(
        s.list_deliveries(&a.id, &w.id, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    assert!(matches!(
        s.get_delivery(&b.id, &d1.id).await,
        Err(StoreError::NotFound)
    ));
    // rotating the token kills the old one at once
    let mut rotated = w.clone();
    rotated.token = mint_webhook_token();
    s.update_webhook(&rotated).await.unwrap();
    assert!(matches!(
        s.webhook_by_token(&w.token).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.webhook_by_token(&rotated.token).await.unwrap().id, w.id);
    s.delete_webhook(&a.id, &w.id).await.unwrap();
    assert!(matches!(
        s.get_delivery(&a.id, &d1.id).await,
        Err(StoreError::NotFound)
    ));
    // the three deliveries stay billed (the deduplicated one never was)
    assert_eq!(
        s.usage_counts(&a.id, now() - chrono::Duration::days(1))
            .await
            .unwrap()
            .webhook_deliveries,
        3
    );
}

pub async fn idempotency_key_lifecycle(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let b = account(&s).await;
    let t = now();
    assert_eq!(
        operator_core::idempotency::begin(s.as_ref(), &a.id, "k", "fp1", t)
            .await
            .unwrap(),
        operator_core::idempotency::IdempotencyBegin::Started
    );
    assert_eq!(
        operator_core::idempotency::begin(s.as_ref(), &a.id, "k", "fp1", t)
            .await
            .unwrap(),
        operator_core::idempotency::IdempotencyBegin::InProgress
    );
    assert_eq!(
        operator_core::idempotency::begin(s.as_ref(), &a.id, "k", "fp2", t)
            .await
            .unwrap(),
        operator_core::idempotency::IdempotencyBegin::Mismatch
    );
    assert_eq!(
        operator_core::idempotency::begin(s.as_ref(), &b.id, "k", "fp2", t)
            .await
            .unwrap(),
        operator_core::idempotency::IdempotencyBegin::Started
    );
    let resp = StoredResponse {
        status: 201,
        body: b"{\"x\":1}".to_vec(),
    };
    operator_core::idempotency::complete(s.as_ref(), &a.id, "k", &resp, t)
        .await
        .unwrap();
    assert_eq!(
        operator_core::idempotency::begin(s.as_ref(), &a.id, "k", "fp1", t)
            .await
            .unwrap(),
        operator_core::idempotency::IdempotencyBegin::Completed(resp)
    );
    // a released claim can be retried; a day later the key is free again
    assert_eq!(
        operator_core::idempotency::begin(s.as_ref(), &a.id, "r", "fp", t)
            .await
            .unwrap(),
        operator_core::idempotency::IdempotencyBegin::Started
    );
    s.idempotency_release(&a.id, "r").await.unwrap();
    assert_eq!(
        operator_core::idempotency::begin(s.as_ref(), &a.id, "r", "fp", t)
            .await
            .unwrap(),
        operator_core::idempotency::IdempotencyBegin::Started
    );
    assert_eq!(
        operator_core::idempotency::begin(s.as_ref(), &a.id, "k", "other", t + Duration::hours(25))
            .await
            .unwrap(),
        operator_core::idempotency::IdempotencyBegin::Started
    );
}

pub async fn chats_turns_events_and_leases(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let b = account(&s).await;
    let t0 = now();
    let mk = |id: &str, at: Timestamp| Chat {
        id: ChatId::from_trusted(id),
        account_id: a.id.clone(),
        title: format!("chat {id}"),
        kind: ChatKind::Chat,
        created_at: at,
        updated_at: at,
    };
    let c1 = mk("client-made-id", t0);
    let c2 = mk("chat_second", t0 + Duration::seconds(1));
    s.insert_chat(&c1).await.unwrap();
    s.insert_chat(&c2).await.unwrap();
    assert!(matches!(
        s.insert_chat(&c1).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.get_chat(&b.id, &c1.id).await,
        Err(StoreError::NotFound)
    ));
    // newest first, paged
    let p1 = s.list_chats(&a.id, &PageRequest::first(1)).await.unwrap();
    assert_eq!(p1.items[0].id, c2.id);
    let p2 = s
        .list_chats(
            &a.id,
            &PageRequest {
                limit: 1,
                cursor: p1.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(p2.items[0].id, c1.id);
    assert!(p2.next_cursor.is_none());
    // turns run in id order; messages read in conversation order
    let turn = |suffix: &str, status: TurnStatus| Turn {
        id: TurnId::from_trusted(format!("turn_{suffix}")),
        chat_id: c1.id.clone(),
        account_id: a.id.clone(),
        status,
        source: TurnSource::Chat,
        user_message_id: MessageId::from_trusted(format!("msg_u{suffix}")),
        assistant_message_id: MessageId::from_trusted(format!("msg_a{suffix}")),
        error: None,
        created_at: t0,
        started_at: None,
        finished_at: None,
    };
    let t1 = turn("0001", TurnStatus::Succeeded);
    let t2 = turn("0002", TurnStatus::Queued);
    let t3 = turn("0003", TurnStatus::Queued);
    for t in [&t1, &t2, &t3] {
        assert!(matches!(
            s.insert_turn(t).await.unwrap(),
            Inserted::Created(_)
        ));
    }
    assert!(matches!(
        s.insert_turn(&t2).await.unwrap(),
        Inserted::Existing(_)
    ));
    assert_eq!(
        s.next_open_turn(&a.id, &c1.id).await.unwrap().unwrap().id,
        t2.id
    );
    assert_eq!(s.last_turn(&a.id, &c1.id).await.unwrap().unwrap().id, t3.id);
    let mut done = t2.clone();
    done.status = TurnStatus::Succeeded;
    s.update_turn(&done).await.unwrap();
    assert_eq!(
        s.get_turn(&a.id, &t2.id).await.unwrap().status,
        TurnStatus::Succeeded
    );
    assert!(matches!(
        s.get_turn(&b.id, &t2.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.next_open_turn(&a.id, &c1.id).await.unwrap().unwrap().id,
        t3.id
    );
    // updating a turn that is not there is NotFound and opens nothing
    let ghost_open = turn("0000", TurnStatus::Running);
    assert!(matches!(
        s.update_turn(&ghost_open).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.next_open_turn(&a.id, &c1.id).await.unwrap().unwrap().id,
        t3.id
    );
    let msg = |id: &str, role: &str| ChatMessage {
        id: MessageId::from_trusted(id),
        chat_id: c1.id.clone(),
        account_id: a.id.clone(),
        role: role.into(),
        parts: serde_json::json!([{"type": "text", "text": id}]),
        created_at: t0,
    };
    for m in [
        msg("msg_u0001", "user"),
        msg("msg_u0002", "user"),
        msg("msg_a0001", "assistant"),
        msg("msg_a0002", "assistant"),
    ] {
        s.insert_chat_message(&m).await.unwrap();
    }
    let order: Vec<String> = s
        .chat_messages(&a.id, &c1.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(order, ["msg_u0001", "msg_a0001", "msg_u0002", "msg_a0002"]);
    // a regenerated turn's messages go (an id that is not there is skipped), the rest stay
    s.delete_chat_messages(
        &a.id,
        &c1.id,
        &[
            MessageId::from_trusted("msg_u0002"),
            MessageId::from_trusted("msg_a0002"),
            MessageId::from_trusted("msg_a0003"),
        ],
    )
    .await
    .unwrap();
    let order: Vec<String> = s
        .chat_messages(&a.id, &c1.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(order, ["msg_u0001", "msg_a0001"]);
    s.insert_chat_message(&msg("msg_u0002", "user"))
        .await
        .unwrap();
    s.insert_chat_message(&msg("msg_a0002", "assistant"))
        .await
        .unwrap();
    // the messages of the turns after a summary's last one, in conversation order
    let after = |through: &'static str| {
        let (s, a, c) = (s.clone(), a.id.clone(), c1.id.clone());
        async move {
            s.chat_messages_after(&a, &c, through)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        after("").await,
        ["msg_u0001", "msg_a0001", "msg_u0002", "msg_a0002"]
    );
    assert_eq!(after("0001").await, ["msg_u0002", "msg_a0002"]);
    assert!(after("0002").await.is_empty());
    // the event log numbers events 1, 2, 3 and reads after a cursor
    for k in 1..=3u64 {
        let seq = s
            .append_chat_event(
                &a.id,
                &c1.id,
                &t3.id,
                &Chunk::TextDelta {
                    id: "txt_1".into(),
                    delta: k.to_string(),
                },
            )
            .await
            .unwrap();
        assert_eq!(seq, k);
    }
    assert_eq!(s.last_chat_seq(&a.id, &c1.id).await.unwrap(), 3);
    let after = s.chat_events(&a.id, &c1.id, 1, 10).await.unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(
        after[0].data,
        Chunk::TextDelta {
            id: "txt_1".into(),
            delta: "2".into()
        }
    );
    assert_eq!(after[0].turn_id, t3.id);
    // a run of events is appended in order in one call, numbered on from the last; a run
    // longer than one DynamoDB transaction holds (100 items) too; an empty one writes nothing
    let run: Vec<Chunk> = (0..150)
        .map(|k| Chunk::TextDelta {
            id: "txt_2".into(),
            delta: format!("r{k}"),
        })
        .collect();
    assert_eq!(
        s.append_chat_events(&a.id, &c1.id, &t3.id, &run)
            .await
            .unwrap(),
        153
    );
    assert_eq!(
        s.append_chat_events(&a.id, &c1.id, &t3.id, &[])
            .await
            .unwrap(),
        153
    );
    let all = s.chat_events(&a.id, &c1.id, 3, 500).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (4..=153).collect::<Vec<u64>>()
    );
    assert_eq!(all.iter().map(|e| e.data.clone()).collect::<Vec<_>>(), run);
    // and is read backwards from any point, newest first, across pages of the backend
    let seqs = |events: Vec<ChatEvent>| events.iter().map(|e| e.seq).collect::<Vec<u64>>();
    let back = s.chat_events_before(&a.id, &c1.id, 154, 5).await.unwrap();
    assert_eq!(seqs(back.clone()), vec![153, 152, 151, 150, 149]);
    assert_eq!(back[0].data, run[149]);
    assert_eq!(back[0].turn_id, t3.id);
    assert_eq!(
        seqs(s.chat_events_before(&a.id, &c1.id, 4, 10).await.unwrap()),
        vec![3, 2, 1]
    );
    assert_eq!(
        seqs(
            s.chat_events_before(&a.id, &c1.id, u64::MAX, 500)
                .await
                .unwrap()
        ),
        (1..=153).rev().collect::<Vec<u64>>()
    );
    assert!(s
        .chat_events_before(&a.id, &c1.id, 1, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .chat_events_before(&a.id, &c1.id, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .chat_events_before(&b.id, &c1.id, 154, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .chat_events(&b.id, &c1.id, 0, 10)
        .await
        .unwrap()
        .is_empty());
    // a turn's end is appended with its final state in one write; a turn that is not
    // there gets NotFound and no event
    let mut ended = t3.clone();
    ended.status = TurnStatus::Failed;
    ended.error = Some("the model failed".into());
    ended.finished_at = Some(t0 + Duration::seconds(5));
    let end = Chunk::Error {
        error_text: "the model failed".into(),
    };
    assert_eq!(s.end_turn(&ended, &end).await.unwrap(), 154);
    let stored = s.get_turn(&a.id, &t3.id).await.unwrap();
    assert_eq!(
        (stored.status, stored.error.as_deref(), stored.finished_at),
        (
            TurnStatus::Failed,
            Some("the model failed"),
            ended.finished_at
        )
    );
    let tail = s.chat_events(&a.id, &c1.id, 153, 10).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(
        (tail[0].turn_id.clone(), tail[0].data.clone()),
        (t3.id.clone(), end.clone())
    );
    assert!(s.next_open_turn(&a.id, &c1.id).await.unwrap().is_none());
    let ghost = turn("0009", TurnStatus::Succeeded);
    assert!(matches!(
        s.end_turn(&ghost, &Chunk::Finish).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.last_chat_seq(&a.id, &c1.id).await.unwrap(), 154);
    // leases: one owner at a time until it expires or is released
    let until = t0 + Duration::seconds(30);
    assert!(s.claim_chat(&a.id, &c1.id, "w1", t0, until).await.unwrap());
    assert!(
        s.claim_chat(&a.id, &c1.id, "w1", t0, until).await.unwrap(),
        "renewal"
    );
    assert!(!s.claim_chat(&a.id, &c1.id, "w2", t0, until).await.unwrap());
    assert!(
        s.claim_chat(
            &a.id,
            &c1.id,
            "w2",
            until + Duration::seconds(1),
            until + Duration::seconds(31)
        )
        .await
        .unwrap(),
        "expired lease"
    );
    s.release_chat(&a.id, &c1.id, "w1").await.unwrap();
    assert!(
        !s.claim_chat(
            &a.id,
            &c1.id,
            "w3",
            until + Duration::seconds(2),
            until + Duration::seconds(40)
        )
        .await
        .unwrap(),
        "only the owner releases"
    );
    s.release_chat(&a.id, &c1.id, "w2").await.unwrap();
    assert!(s
        .claim_chat(
            &a.id,
            &c1.id,
            "w3",
            until + Duration::seconds(2),
            until + Duration::seconds(40)
        )
        .await
        .unwrap());
    // delete removes the thread
    s.delete_chat(&a.id, &c1.id).await.unwrap();
    assert!(matches!(
        s.get_chat(&a.id, &c1.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.chat_messages(&a.id, &c1.id).await.unwrap().is_empty());
    assert!(matches!(
        s.delete_chat(&a.id, &c1.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn llm_usage_is_summed_per_instance_over_the_window(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let (i1, i2) = (InstanceId::generate(), InstanceId::generate());
    let t0 = now();
    let since = t0 - Duration::hours(6);
    for (inst, at, input, output) in [
        // before the window: not counted
        (&i1, t0 - Duration::hours(7), 1000, 100),
        // the first bucket, up to its last millisecond
        (&i1, since, 1, 0),
        (
            &i1,
            since + Duration::minutes(15) - Duration::milliseconds(1),
            2,
            0,
        ),
        // the second bucket from its first instant
        (&i1, since + Duration::minutes(15), 4, 0),
        (&i1, t0 - Duration::hours(1), 10, 2),
        // `now` itself: the last bucket
        (&i2, t0, 5, 1),
    ] {
        s.record_llm_usage(&LlmUsage {
            account_id: a.id.clone(),
            instance_id: inst.clone(),
            input_tokens: input,
            output_tokens: output,
            at,
        })
        .await
        .unwrap();
    }
    let (used, oldest) = s.llm_usage_of_instance(&i1, since).await.unwrap();
    assert_eq!(used, 1 + 2 + 4 + 10 + 5 * 2);
    assert_eq!(oldest, Some(since));
    let buckets = UsageBuckets {
        since,
        width: Duration::minutes(15),
        count: 24,
    };
    let mut by = s.llm_usage_by_instance(&a.id, buckets).await.unwrap();
    by.sort();
    let series = |cells: &[(usize, u64)]| {
        let mut v = vec![0u64; 24];
        for &(i, t) in cells {
            v[i] += t;
        }
        v
    };
    // 5 h after `since` is bucket 20; `now` (6 h) falls in the last one
    let mut want = vec![
        (i1.clone(), series(&[(0, 1 + 2), (1, 4), (20, 20)])),
        (i2.clone(), series(&[(23, 10)])),
    ];
    want.sort();
    assert_eq!(by, want);
    // AND the record-side rule agrees
    assert_eq!(buckets.index(since + Duration::minutes(15)), 1);
    assert_eq!(buckets.index(t0 + Duration::hours(1)), 23);
}

/// The embedded-only cross-account queries ([`SweepStore`]): DynamoDB has no cheap answer
/// and does not implement them.
pub async fn sweep_finds_due_automations_and_running_instances(
    s: Arc<operator_local::SqliteStore>,
) {
    let store: Arc<dyn Store> = s.clone();
    let a = account(&store).await;
    let b = account(&store).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
    let due = automation(&a.id, Some(t0));
    let other = automation(&b.id, Some(t0 - Duration::minutes(1)));
    let later = automation(&a.id, Some(t0 + Duration::hours(1)));
    let mut off = automation(&a.id, Some(t0 - Duration::hours(1)));
    off.enabled = false;
    for x in [&due, &other, &later, &off] {
        s.insert_automation(x).await.unwrap();
    }
    // GIVEN automations of two accounts WHEN asked at t0 THEN the enabled due ones, earliest first
    let got = s.due_automations(t0, 10).await.unwrap();
    assert_eq!(
        got.iter().map(|x| x.id.clone()).collect::<Vec<_>>(),
        vec![other.id.clone(), due.id.clone()]
    );
    assert_eq!(s.due_automations(t0, 1).await.unwrap().len(), 1);
    assert_eq!(
        s.next_due_at().await.unwrap(),
        Some(t0 - Duration::minutes(1))
    );
    assert!(s
        .advance_automation(&other.id, Some(t0 - Duration::minutes(1)), None)
        .await
        .unwrap());
    assert!(s
        .advance_automation(&due.id, Some(t0), Some(t0 + Duration::days(1)))
        .await
        .unwrap());
    assert_eq!(
        s.next_due_at().await.unwrap(),
        Some(t0 + Duration::hours(1))
    );
    // Running instances of every account, deleted ones left out
    let mut active = instance(&a.id, "one");
    active.status = InstanceStatus::Active;
    let mut restarting = instance(&b.id, "two");
    restarting.status = InstanceStatus::Restarting;
    let mut gone = instance(&a.id, "three");
    gone.status = InstanceStatus::Active;
    gone.deleted_at = Some(t0);
    let stopped = instance(&a.id, "four");
    for i in [&active, &restarting, &gone, &stopped] {
        s.insert_instance(i, 10).await.unwrap();
    }
    let mut got: Vec<InstanceId> = s
        .instances_in_states(&[InstanceStatus::Active, InstanceStatus::Restarting])
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    got.sort();
    let mut want = vec![active.id, restarting.id];
    want.sort();
    assert_eq!(got, want);
}

// ---------- SQLite only: `SweepStore`, the cross-account queries of the embedded cron loop
// and start-up recovery; the AWS store has no such port (EventBridge fires schedules) ----------

#[tokio::test]
async fn sqlite_sweep_finds_due_automations_and_running_instances() {
    let (db, _dir) = crate::backends::sqlite();
    sweep_finds_due_automations_and_running_instances(Arc::new(operator_local::SqliteStore::new(
        db,
    )))
    .await;
}
