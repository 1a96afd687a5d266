//! ExperimentStore contract: the record and its items, account scoping, lanes claiming pairs
//! (resume a lane's unfinished pair; never the same new pair twice, even when claimed
//! concurrently), one result per (variant, item), result paging, delete. Run on SQLite and on
//! DynamoDB (the emulator).

use crate::store::{account, now};
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::*;
use std::sync::Arc;

contracts! {
    sqlite: crate::backends::store_on_sqlite,
    aws: crate::backends::store_on_dynamodb,
    contracts: [experiments_claims_and_results],
}

pub(crate) fn experiment(account: &AccountId, variants: &[&InstanceId], items: u32) -> Experiment {
    Experiment {
        id: ExperimentId::generate(),
        account_id: account.clone(),
        name: "aqi".into(),
        instance_ids: variants.iter().map(|i| (*i).clone()).collect(),
        scorer: Scorer::Exact,
        source: DatasetSource::Inline,
        item_count: items,
        concurrency: 4,
        status: ExperimentStatus::Queued,
        error: None,
        created_at: now(),
        updated_at: now(),
        finished_at: None,
    }
}

fn result(e: &Experiment, variant: usize, item: u32, output: &str) -> ExperimentResult {
    ExperimentResult {
        account_id: e.account_id.clone(),
        experiment_id: e.id.clone(),
        instance_id: e.instance_ids[variant].clone(),
        item_index: item,
        output: Some(output.into()),
        score: Some(1.0),
        reason: None,
        error: None,
        latency_ms: Some(12),
        created_at: now(),
    }
}

pub async fn experiments_claims_and_results(s: Arc<dyn Store>) {
    let a = account(&s).await;
    let other = account(&s).await;
    let (v0, v1) = (InstanceId::generate(), InstanceId::generate());
    let items: Vec<DatasetItem> = (0..3)
        .map(|i| DatasetItem {
            input: format!("question {i}"),
            expected: Some(serde_json::json!(i)),
        })
        .collect();
    // GIVEN an experiment of 3 items on 2 variants (6 pairs)
    let mut e = experiment(&a.id, &[&v0, &v1], 3);
    s.insert_experiment(&e, &items).await.unwrap();
    assert!(matches!(
        s.insert_experiment(&e, &items).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_experiment(&a.id, &e.id).await.unwrap(), e);
    assert!(matches!(
        s.get_experiment(&other.id, &e.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.experiment_item(&a.id, &e.id, 2).await.unwrap(), items[2]);
    assert!(matches!(
        s.experiment_item(&a.id, &e.id, 3).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.experiment_item(&other.id, &e.id, 0).await,
        Err(StoreError::NotFound)
    ));
    // AND a newer one: lists are newest first and page
    let newer = experiment(&a.id, &[&v0], 1);
    s.insert_experiment(&newer, &items[..1]).await.unwrap();
    let first = s
        .list_experiments(&a.id, &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first.items, vec![newer.clone()]);
    let rest = s
        .list_experiments(
            &a.id,
            &PageRequest {
                limit: 1,
                cursor: first.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items, vec![e.clone()]);
    assert_eq!(rest.next_cursor, None);
    assert!(s
        .list_experiments(&other.id, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());

    // WHEN lane 0 claims THEN it gets pair 0, and again pair 0 while that has no result
    assert_eq!(s.claim_pair(&a.id, &e.id, 0).await.unwrap(), Some(0));
    assert_eq!(s.claim_pair(&a.id, &e.id, 0).await.unwrap(), Some(0));
    assert_eq!(s.claim_pair(&a.id, &e.id, 1).await.unwrap(), Some(1));
    // AND once pair 0 (variant 0, item 0) has its result, lane 0 moves on
    let r0 = result(&e, 0, 0, "zero");
    assert!(matches!(
        s.insert_result(&r0).await.unwrap(),
        Inserted::Created(_)
    ));
    assert_eq!(s.claim_pair(&a.id, &e.id, 0).await.unwrap(), Some(2));
    // AND a second result for the same pair keeps the first
    match s.insert_result(&result(&e, 0, 0, "again")).await.unwrap() {
        Inserted::Existing(first) => assert_eq!(first.output.as_deref(), Some("zero")),
        Inserted::Created(_) => panic!("a pair was recorded twice"),
    }
    // WHEN eight more lanes claim THEN the three pairs left go to three of them, once each
    // (claims racing for real: tests/contracts/concurrency.rs)
    let mut claims = vec![];
    for lane in 2..10 {
        claims.push(s.claim_pair(&a.id, &e.id, lane).await.unwrap());
    }
    let got: Vec<u32> = claims.iter().flatten().copied().collect();
    assert_eq!(got, [3, 4, 5], "{claims:?}");
    // AND lane 1 still holds pair 1; nothing new is left
    assert_eq!(s.claim_pair(&a.id, &e.id, 1).await.unwrap(), Some(1));
    assert_eq!(s.claim_pair(&a.id, &e.id, 11).await.unwrap(), None);

    // WHEN every pair has a result THEN results page by item, then variant
    for pair in 1..6 {
        let (variant, item) = e.pair(pair);
        s.insert_result(&result(&e, variant, item, &format!("p{pair}")))
            .await
            .unwrap();
    }
    let mut seen = vec![];
    let mut cursor = None;
    loop {
        let page = s
            .list_results(&a.id, &e.id, None, &PageRequest { limit: 4, cursor })
            .await
            .unwrap();
        seen.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let order: Vec<(u32, InstanceId)> = seen
        .iter()
        .map(|r| (r.item_index, r.instance_id.clone()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|(i, inst)| (*i, inst.to_string()));
    assert_eq!(order, sorted);
    assert_eq!(order.len(), 6);
    let only_v1 = s
        .list_results(&a.id, &e.id, Some(&v1), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(only_v1.items.len(), 3);
    assert!(only_v1.items.iter().all(|r| r.instance_id == v1));
    assert_eq!(s.all_results(&a.id, &e.id).await.unwrap().len(), 6);
    assert!(s
        .list_results(&other.id, &e.id, None, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(s.claim_pair(&a.id, &e.id, 0).await.unwrap(), None);
    // AND billing counts each pair's result once (the repeated insert above is not billed),
    // for this account only
    let since = now() - chrono::Duration::days(1);
    assert_eq!(
        s.usage_counts(&a.id, since).await.unwrap().experiment_items,
        6
    );
    assert_eq!(
        s.usage_counts(&other.id, since)
            .await
            .unwrap()
            .experiment_items,
        0
    );

    // WHEN it is updated THEN the change is kept
    e.status = ExperimentStatus::Succeeded;
    e.finished_at = Some(now());
    s.update_experiment(&e).await.unwrap();
    assert_eq!(s.get_experiment(&a.id, &e.id).await.unwrap(), e);
    // AND once ended it never changes again (a lane's late write cannot undo a cancel)
    let mut late = e.clone();
    late.status = ExperimentStatus::Running;
    assert!(matches!(
        s.update_experiment(&late).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_experiment(&a.id, &e.id).await.unwrap(), e);
    // WHEN it is deleted THEN it, its items and results are gone; the other experiment stays
    assert!(matches!(
        s.delete_experiment(&other.id, &e.id).await,
        Err(StoreError::NotFound)
    ));
    s.delete_experiment(&a.id, &e.id).await.unwrap();
    assert!(matches!(
        s.get_experiment(&a.id, &e.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.experiment_item(&a.id, &e.id, 0).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.all_results(&a.id, &e.id).await.unwrap().is_empty());
    // AND what it was billed stays in the billing period
    assert_eq!(
        s.usage_counts(&a.id, since).await.unwrap().experiment_items,
        6
    );
    assert!(matches!(
        s.delete_experiment(&a.id, &e.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.update_experiment(&e).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.get_experiment(&a.id, &newer.id).await.unwrap(), newer);
}
