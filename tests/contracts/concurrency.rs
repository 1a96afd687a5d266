//! Store contract under concurrency: uniqueness and capacity hold when writers race, not only
//! when they take turns. Sequential contracts cannot see a lock whose condition was dropped
//! (a plain read guards the sequential case); these start N writers at once behind a barrier
//! and count the outcomes. Each contract is written once against `Arc<dyn Store>` and listed
//! once below, which runs it on SQLite and on DynamoDB (the emulator).

use crate::store::{account, automation, instance, now, secret, webhook};
use chrono::Utc;
use futures::future::join_all;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::*;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Barrier;

/// How many writers race in each contract.
const N: usize = 8;

/// Runs `n` copies of `f(i)` at once (released together by a barrier) and returns their
/// results in index order.
async fn race<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks = (0..n).map(|i| {
        let barrier = barrier.clone();
        let fut = f(i);
        tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("a racing writer panicked"))
        .collect()
}

fn oks<T>(results: &[Result<T, StoreError>]) -> usize {
    results.iter().filter(|r| r.is_ok()).count()
}

fn scheduled_run(a: &Automation, slot: Timestamp) -> AutomationRun {
    AutomationRun {
        id: RunId::generate(),
        automation_id: a.id.clone(),
        account_id: a.account_id.clone(),
        trigger: RunTrigger::Schedule,
        status: RunStatus::Queued,
        scheduled_for: slot,
        started_at: None,
        finished_at: None,
        chat_id: None,
        error: None,
        created_at: now(),
    }
}

fn delivery(w: &Webhook, dedup: &str) -> Delivery {
    Delivery {
        id: DeliveryId::generate(),
        webhook_id: w.id.clone(),
        account_id: w.account_id.clone(),
        status: DeliveryStatus::Queued,
        payload: "{}".into(),
        dedup_key: Some(dedup.to_owned()),
        received_at: now(),
        started_at: None,
        finished_at: None,
        chat_id: None,
        error: None,
    }
}

async fn chat(s: &Arc<dyn Store>, account: &AccountId) -> Chat {
    let c = Chat {
        id: ChatId::generate(),
        account_id: account.clone(),
        title: "c".into(),
        kind: ChatKind::Chat,
        created_at: now(),
        updated_at: now(),
    };
    s.insert_chat(&c).await.unwrap();
    c
}

pub async fn concurrent_inserts_of_one_instance_name_let_exactly_one_through(s: Arc<dyn Store>) {
    // GIVEN an account with room for all of them
    let a = account(&s).await;
    // WHEN N instances with one name are inserted at once
    let results = race(N, |_| {
        let (s, i) = (s.clone(), instance(&a.id, "same-name"));
        async move { s.insert_instance(&i, 100).await.map(|()| i.id) }
    })
    .await;
    // THEN exactly one is in, every other one is a name Conflict
    assert_eq!(oks(&results), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(StoreError::Conflict(_)))),
        "{results:?}"
    );
    let winner = results.iter().find_map(|r| r.as_ref().ok()).unwrap();
    let name = InstanceName::parse("same-name").unwrap();
    assert_eq!(
        &s.get_instance_by_name(&a.id, &name).await.unwrap().id,
        winner
    );
    let all = s
        .list_instances(&a.id, &PageRequest::first(50), true)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1, "the losers left no instance behind");
    assert_eq!(s.count_capacity(&a.id).await.unwrap(), 1);
}

pub async fn concurrent_renames_to_one_name_let_exactly_one_through(s: Arc<dyn Store>) {
    // GIVEN N instances with different names
    let a = account(&s).await;
    let mut instances = vec![];
    for i in 0..N {
        let x = instance(&a.id, &format!("old-{i}"));
        s.insert_instance(&x, 100).await.unwrap();
        instances.push(x);
    }
    // WHEN all of them are renamed to one name at once
    let results = race(N, |i| {
        let s = s.clone();
        let mut x = instances[i].clone();
        x.name = InstanceName::parse("target").unwrap();
        x.updated_at = now();
        async move { s.update_instance(&x).await }
    })
    .await;
    // THEN exactly one rename went through, the others are Conflicts and keep their names
    assert_eq!(oks(&results), 1, "{results:?}");
    let target = InstanceName::parse("target").unwrap();
    let holder = s.get_instance_by_name(&a.id, &target).await.unwrap();
    for (i, r) in results.iter().enumerate() {
        let x = &instances[i];
        match r {
            Ok(()) => assert_eq!(holder.id, x.id),
            Err(StoreError::Conflict(_)) => {
                assert_eq!(
                    s.get_instance_by_name(&a.id, &x.name).await.unwrap().id,
                    x.id,
                    "a failed rename keeps the old name"
                );
                assert_eq!(s.get_instance(&a.id, &x.id).await.unwrap().name, x.name);
            }
            Err(e) => panic!("rename {i}: unexpected {e:?}"),
        }
    }
    let holders = s
        .list_instances(&a.id, &PageRequest::first(50), false)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|x| x.name == target)
        .count();
    assert_eq!(holders, 1);
}

pub async fn inserts_and_renames_racing_for_one_name_let_exactly_one_through(s: Arc<dyn Store>) {
    // GIVEN N/2 instances with other names
    let a = account(&s).await;
    let mut existing = vec![];
    for i in 0..N / 2 {
        let x = instance(&a.id, &format!("other-{i}"));
        s.insert_instance(&x, 100).await.unwrap();
        existing.push(x);
    }
    // WHEN they are renamed to one name while N/2 new instances with that name are inserted
    let results = race(N, |i| {
        let s = s.clone();
        let fresh = instance(&a.id, "contested");
        let mut renamed = existing[i % (N / 2)].clone();
        renamed.name = InstanceName::parse("contested").unwrap();
        async move {
            if i < N / 2 {
                s.update_instance(&renamed).await
            } else {
                s.insert_instance(&fresh, 100).await
            }
        }
    })
    .await;
    // THEN exactly one of all of them holds the name, the others are Conflicts
    assert_eq!(oks(&results), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict(_)))),
        "{results:?}"
    );
    let contested = InstanceName::parse("contested").unwrap();
    let holders = s
        .list_instances(&a.id, &PageRequest::first(50), false)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|x| x.name == contested)
        .count();
    assert_eq!(holders, 1);
    s.get_instance_by_name(&a.id, &contested).await.unwrap();
}

pub async fn racing_for_the_last_capacity_slot_lets_exactly_one_through(s: Arc<dyn Store>) {
    // GIVEN an account with a capacity of 3 and 2 instances
    let a = account(&s).await;
    for name in ["first", "second"] {
        s.insert_instance(&instance(&a.id, name), 3).await.unwrap();
    }
    // WHEN N instances of different names race for the last slot
    let results = race(N, |i| {
        let (s, x) = (s.clone(), instance(&a.id, &format!("racer-{i}")));
        async move { s.insert_instance(&x, 3).await }
    })
    .await;
    // THEN exactly one gets it and the others are told the account is full
    assert_eq!(oks(&results), 1, "{results:?}");
    assert!(
        results.iter().all(|r| matches!(
            r,
            Ok(()) | Err(StoreError::CapacityExceeded { used: 3, limit: 3 })
        )),
        "{results:?}"
    );
    assert_eq!(s.count_capacity(&a.id).await.unwrap(), 3);
}

pub async fn concurrent_inserts_of_one_secret_name_let_exactly_one_through(s: Arc<dyn Store>) {
    // GIVEN an account
    let a = account(&s).await;
    // WHEN N secrets with one name are inserted at once
    let results = race(N, |_| {
        let (s, x) = (s.clone(), secret(&a.id, "API_TOKEN"));
        async move { s.insert_secret(&x).await }
    })
    .await;
    // THEN exactly one is in, the others are Conflicts
    assert_eq!(oks(&results), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict(_)))),
        "{results:?}"
    );
    let listed = s
        .list_secrets(&a.id, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
}

pub async fn grants_added_while_the_secret_is_updated_are_all_kept(s: Arc<dyn Store>) {
    // GIVEN a secret
    let a = account(&s).await;
    let sec = secret(&a.id, "SHARED");
    s.insert_secret(&sec).await.unwrap();
    let grantees: Vec<InstanceId> = (0..N).map(|_| InstanceId::generate()).collect();
    // WHEN grants are added while its description is updated, all at once
    let results = race(2 * N, |i| {
        let (s, a, mut sec) = (s.clone(), a.id.clone(), sec.clone());
        let grantee = grantees[i % N].clone();
        async move {
            if i < N {
                s.add_grant(&a, &sec.id, &grantee, now()).await
            } else {
                sec.description = Some(format!("update {i}"));
                sec.updated_at = now();
                s.update_secret(&sec).await
            }
        }
    })
    .await;
    // THEN every write succeeded and no grant was lost to an update
    assert_eq!(oks(&results), 2 * N, "{results:?}");
    let got = s.get_secret(&a.id, &sec.id).await.unwrap();
    let got: BTreeSet<_> = got.grants.into_iter().collect();
    let want: BTreeSet<_> = grantees.into_iter().collect();
    assert_eq!(got, want);
}

pub async fn concurrent_fires_of_one_scheduled_slot_create_one_run(s: Arc<dyn Store>) {
    // GIVEN an automation and one scheduled time
    let a = account(&s).await;
    let auto = automation(&a.id, None);
    s.insert_automation(&auto).await.unwrap();
    let since = now();
    let slot = ts(Utc::now());
    // WHEN N runs for that slot are inserted at once (a fire delivered N times)
    let results = race(N, |_| {
        let (s, r) = (s.clone(), scheduled_run(&auto, slot));
        async move { s.insert_run(&r).await }
    })
    .await;
    // THEN one is created and every other insert returns that same run
    let created: Vec<RunId> = results
        .iter()
        .filter_map(|r| match r {
            Ok(Inserted::Created(r)) => Some(r.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for r in &results {
        match r {
            Ok(Inserted::Created(_)) => {}
            Ok(Inserted::Existing(r)) => assert_eq!(r.id, created[0]),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    let runs = s
        .list_runs(&a.id, &auto.id, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1);
    // and exactly one run is billed
    let usage = s.usage_counts(&a.id, since).await.unwrap();
    assert_eq!(usage.automation_runs, 1);
}

pub async fn concurrent_deliveries_with_one_dedup_key_create_one(s: Arc<dyn Store>) {
    // GIVEN a webhook
    let a = account(&s).await;
    let w = webhook(&a.id);
    s.insert_webhook(&w).await.unwrap();
    let since = now();
    // WHEN N deliveries with one dedup key arrive at once
    let results = race(N, |_| {
        let (s, d) = (s.clone(), delivery(&w, "evt-42"));
        async move { s.insert_delivery(&d).await }
    })
    .await;
    // THEN one is created and every other one returns it
    let created: Vec<DeliveryId> = results
        .iter()
        .filter_map(|r| match r {
            Ok(Inserted::Created(d)) => Some(d.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for r in &results {
        match r {
            Ok(Inserted::Created(_)) => {}
            Ok(Inserted::Existing(d)) => assert_eq!(d.id, created[0]),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    // and exactly one delivery is billed
    let usage = s.usage_counts(&a.id, since).await.unwrap();
    assert_eq!(usage.webhook_deliveries, 1);
}

pub async fn concurrent_inserts_of_one_turn_create_it_once_and_bill_it_once(s: Arc<dyn Store>) {
    // GIVEN a chat
    let a = account(&s).await;
    let c = chat(&s, &a.id).await;
    let since = now();
    let turn = Turn {
        id: TurnId::from_trusted("turn_0001"),
        chat_id: c.id.clone(),
        account_id: a.id.clone(),
        status: TurnStatus::Queued,
        source: TurnSource::Chat,
        user_message_id: MessageId::from_trusted("msg_u0001"),
        assistant_message_id: MessageId::from_trusted("msg_a0001"),
        error: None,
        created_at: now(),
        started_at: None,
        finished_at: None,
    };
    // WHEN the same turn is inserted N times at once (a retried request)
    let results = race(N, |_| {
        let (s, t) = (s.clone(), turn.clone());
        async move { s.insert_turn(&t).await }
    })
    .await;
    // THEN one insert created it, the others got it back
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok(Inserted::Created(_))))
        .count();
    assert_eq!(created, 1, "{results:?}");
    assert!(
        results.iter().all(|r| match r {
            Ok(Inserted::Created(t)) | Ok(Inserted::Existing(t)) => t.id == turn.id,
            Err(_) => false,
        }),
        "{results:?}"
    );
    // and it is billed once
    let usage = s.usage_counts(&a.id, since).await.unwrap();
    assert_eq!(usage.chat_turns, 1);
}

pub async fn a_key_revoked_concurrently_is_revoked_once_and_touches_never_revive_it(
    s: Arc<dyn Store>,
) {
    // GIVEN a live API key
    let a = account(&s).await;
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
    // WHEN N revocations and N uses of the key happen at once
    let results = race(2 * N, |i| {
        let (s, a, id) = (s.clone(), a.id.clone(), key.id.clone());
        async move {
            if i % 2 == 0 {
                Some(s.delete_key(&a, &id, now()).await)
            } else {
                // A use racing a revocation may or may not land; it must not fail.
                s.touch_key(&id, now()).await.unwrap();
                None
            }
        }
    })
    .await;
    let revocations: Vec<_> = results.into_iter().flatten().collect();
    // THEN exactly one revocation succeeded, the others found it revoked
    assert_eq!(oks(&revocations), 1, "{revocations:?}");
    assert!(
        revocations
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::NotFound))),
        "{revocations:?}"
    );
    // and the key stays revoked
    assert!(matches!(
        s.key_by_hash(&minted.hash).await,
        Err(StoreError::NotFound)
    ));
    assert!(s
        .list_keys(&a.id, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
}

pub async fn concurrent_event_appends_take_distinct_consecutive_numbers(s: Arc<dyn Store>) {
    // GIVEN a chat
    let a = account(&s).await;
    let c = chat(&s, &a.id).await;
    // WHEN N events are appended at once
    let results = race(N, |i| {
        let (s, a, c) = (s.clone(), a.id.clone(), c.id.clone());
        async move {
            let delta = Chunk::TextDelta {
                id: "txt_1".into(),
                delta: i.to_string(),
            };
            s.append_chat_event(&a, &c, &TurnId::from_trusted("turn_1"), &delta)
                .await
        }
    })
    .await;
    // THEN they got the numbers 1..=N, once each, and the log holds all of them in order
    let seqs: BTreeSet<u64> = results.iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(seqs, (1..=N as u64).collect::<BTreeSet<_>>());
    assert_eq!(s.last_chat_seq(&a.id, &c.id).await.unwrap(), N as u64);
    let events = s.chat_events(&a.id, &c.id, 0, 100).await.unwrap();
    let got: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(got, (1..=N as u64).collect::<Vec<_>>());
}

pub async fn concurrent_claims_of_a_chat_have_one_winner(s: Arc<dyn Store>) {
    // GIVEN an unclaimed chat
    let a = account(&s).await;
    let c = chat(&s, &a.id).await;
    let t = now();
    // WHEN N workers claim it at once
    let results = race(N, |i| {
        let (s, a, c) = (s.clone(), a.id.clone(), c.id.clone());
        async move {
            s.claim_chat(
                &a,
                &c,
                &format!("worker-{i}"),
                t,
                t + chrono::Duration::minutes(5),
            )
            .await
        }
    })
    .await;
    // THEN exactly one holds the lease
    let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

pub async fn concurrent_advances_of_one_slot_have_one_winner(s: Arc<dyn Store>) {
    // GIVEN an automation due at one time
    let a = account(&s).await;
    let due = ts(Utc::now());
    let auto = automation(&a.id, Some(due));
    s.insert_automation(&auto).await.unwrap();
    // WHEN N schedulers advance it from that time at once
    let results = race(N, |i| {
        let (s, id) = (s.clone(), auto.id.clone());
        let next = due + chrono::Duration::minutes(1 + i as i64);
        async move { s.advance_automation(&id, Some(due), Some(next)).await }
    })
    .await;
    // THEN exactly one moved it
    let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

pub async fn concurrent_claims_of_one_idempotency_key_have_one_winner(s: Arc<dyn Store>) {
    // GIVEN an account
    let a = account(&s).await;
    let t = now();
    // WHEN N requests claim one Idempotency-Key at once
    let results = race(N, |i| {
        let (s, a) = (s.clone(), a.id.clone());
        let record = IdempotencyRecord {
            fingerprint: format!("request {i}"),
            created_at: t,
            response: None,
        };
        async move { s.idempotency_claim(&a, "key-1", &record).await }
    })
    .await;
    // THEN one claimed it and every other one sees the winner's record
    let claimed = results
        .iter()
        .filter(|r| matches!(r, Ok(Claim::Claimed)))
        .count();
    assert_eq!(claimed, 1, "{results:?}");
    let held: BTreeSet<String> = results
        .iter()
        .filter_map(|r| match r {
            Ok(Claim::Held(rec)) => Some(rec.fingerprint.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(held.len(), 1, "all losers see one record: {held:?}");
    assert_eq!(results.len() - claimed, N - 1);
}

pub async fn lanes_claiming_at_once_get_every_pair_exactly_once(s: Arc<dyn Store>) {
    // GIVEN an experiment of 12 pairs (1 variant × 12 items)
    let a = account(&s).await;
    let variant = InstanceId::generate();
    let e = crate::experiments::experiment(&a.id, &[&variant], 12);
    let items: Vec<DatasetItem> = (0..12)
        .map(|i| DatasetItem {
            input: format!("q{i}"),
            expected: Some(serde_json::json!(i)),
        })
        .collect();
    s.insert_experiment(&e, &items).await.unwrap();
    // WHEN N lanes work at once: claim, record the result, claim again, until none is left
    let runs = race(N, |lane| {
        let (s, e, variant) = (s.clone(), e.clone(), variant.clone());
        async move {
            let mut mine = vec![];
            while let Some(pair) = s
                .claim_pair(&e.account_id, &e.id, lane as u32)
                .await
                .unwrap()
            {
                mine.push(pair);
                let result = ExperimentResult {
                    account_id: e.account_id.clone(),
                    experiment_id: e.id.clone(),
                    instance_id: variant.clone(),
                    item_index: pair,
                    output: Some(format!("lane {lane}")),
                    score: Some(1.0),
                    reason: None,
                    error: None,
                    latency_ms: None,
                    created_at: now(),
                };
                s.insert_result(&result).await.unwrap();
            }
            mine
        }
    })
    .await;
    // THEN every pair was claimed by exactly one lane, and every one has its result
    let mut all: Vec<u32> = runs.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..12).collect::<Vec<_>>(), "{runs:?}");
    assert_eq!(s.all_results(&a.id, &e.id).await.unwrap().len(), 12);
}

/// The list of concurrency contracts, written once; each runs on every backend.
macro_rules! concurrency_contracts {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (s, _dir) = crate::backends::sqlite_store();
                    super::$name(s).await;
                }
            )*
        }

        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::dynamo_store().await).await;
                }
            )*
        }
    };
}

/// A fresh table on the emulator, reached through [`one_request_at_a_time`].
async fn dynamo_store() -> Arc<dyn Store> {
    let endpoint = one_request_at_a_time(&crate::support::emulator::emulator().url).await;
    crate::backends::dynamo_store_with(&crate::support::emulator::aws_config_at(&endpoint).await)
        .await
}

/// A loopback proxy to `upstream` that forwards one request at a time.
///
/// DynamoDB applies each request atomically; the emulator does not: moto runs a
/// `TransactWriteItems` without a lock and rolls a cancelled one back by restoring a copy of
/// the table taken when it started, which erases any transaction that committed meanwhile (a
/// correct adapter then sees two winners). Admitting one request at a time restores
/// DynamoDB's per-request atomicity and nothing more: the requests of racing writers still
/// interleave in any order, and those interleavings are what these contracts exercise.
async fn one_request_at_a_time(upstream: &str) -> String {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};

    struct Gate {
        upstream: String,
        http: reqwest::Client,
        turn: tokio::sync::Mutex<()>,
    }

    async fn forward(
        State(gate): State<Arc<Gate>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let _turn = gate.turn.lock().await;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = gate
            .http
            .request(method, format!("{}{path}", gate.upstream))
            .body(body);
        for (k, v) in &headers {
            if k != "host" && k != "content-length" {
                req = req.header(k, v);
            }
        }
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        };
        let status = res.status();
        let mut out_headers = HeaderMap::new();
        for (k, v) in res.headers() {
            if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                out_headers.insert(k.clone(), v.clone());
            }
        }
        let body = res.bytes().await.unwrap_or_default();
        (status, out_headers, body).into_response()
    }

    let gate = Arc::new(Gate {
        upstream: upstream.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        turn: tokio::sync::Mutex::new(()),
    });
    let app = axum::Router::new().fallback(forward).with_state(gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Lives as long as the test's runtime.
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

concurrency_contracts!(
    concurrent_inserts_of_one_instance_name_let_exactly_one_through,
    concurrent_renames_to_one_name_let_exactly_one_through,
    inserts_and_renames_racing_for_one_name_let_exactly_one_through,
    racing_for_the_last_capacity_slot_lets_exactly_one_through,
    concurrent_inserts_of_one_secret_name_let_exactly_one_through,
    grants_added_while_the_secret_is_updated_are_all_kept,
    concurrent_fires_of_one_scheduled_slot_create_one_run,
    concurrent_deliveries_with_one_dedup_key_create_one,
    concurrent_inserts_of_one_turn_create_it_once_and_bill_it_once,
    a_key_revoked_concurrently_is_revoked_once_and_touches_never_revive_it,
    concurrent_event_appends_take_distinct_consecutive_numbers,
    concurrent_claims_of_a_chat_have_one_winner,
    concurrent_advances_of_one_slot_have_one_winner,
    concurrent_claims_of_one_idempotency_key_have_one_winner,
    lanes_claiming_at_once_get_every_pair_exactly_once,
);
