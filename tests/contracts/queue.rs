//! JobQueue contract: SQS standard-queue semantics, declared once and run on SQLite (on a
//! manual clock) and on SQS (the emulator, in real time). Time passes through
//! [`TestQueue::elapse`], never a bare sleep.

use crate::backends::{self, TestQueue};
use operator_core::ids::*;
use operator_core::jobs::Job;
use operator_core::ports::JobQueue;
use std::time::Duration;

contracts! {
    sqlite: crate::backends::queue_on_sqlite,
    aws: crate::backends::queue_on_sqs,
    contracts: [
        delivers_what_was_sent_once_while_invisible,
        visibility_expiry_redelivers_with_a_higher_count,
        ack_deletes,
        change_visibility_zero_releases_at_once,
        delayed_messages_wait,
        batch_receive_respects_max,
        dead_letters_after_max_receives,
    ],
}

/// A visibility timeout the tests let pass.
const VIS: Duration = Duration::from_secs(1);
const PAST_VIS: Duration = Duration::from_millis(1300);
/// A visibility timeout no test lets pass: "still hidden" checks hold however slowly a
/// loaded machine runs the calls between them (SQS runs in real time).
const HELD: Duration = Duration::from_secs(30);

fn job(n: u32) -> Job {
    Job::provision(
        AccountId::from_trusted("acct_contract"),
        InstanceId::from_trusted(format!("inst_{n}")),
    )
}

pub async fn delivers_what_was_sent_once_while_invisible(t: TestQueue) {
    let q = &t.queue;
    let id = q.send(&job(1), Duration::ZERO).await.unwrap();
    let got = t.receive_at_least(1, HELD).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job, job(1));
    assert_eq!(got[0].message_id, id);
    assert_eq!(got[0].receive_count, 1);
    assert!(
        q.receive(10, HELD).await.unwrap().is_empty(),
        "invisible while held"
    );
}

pub async fn visibility_expiry_redelivers_with_a_higher_count(t: TestQueue) {
    t.queue.send(&job(2), Duration::ZERO).await.unwrap();
    let first = t.receive_at_least(1, VIS).await.remove(0);
    t.elapse(PAST_VIS).await;
    let again = t.receive_at_least(1, VIS).await;
    assert_eq!(again.len(), 1, "redelivered after the timeout");
    assert_eq!(again[0].message_id, first.message_id);
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt, first.receipt);
}

pub async fn ack_deletes(t: TestQueue) {
    let q = &t.queue;
    q.send(&job(3), Duration::ZERO).await.unwrap();
    let got = t.receive_at_least(1, VIS).await.remove(0);
    q.ack(&got.receipt).await.unwrap();
    t.elapse(PAST_VIS).await;
    assert!(
        q.receive(10, VIS).await.unwrap().is_empty(),
        "acked job came back"
    );
}

pub async fn change_visibility_zero_releases_at_once(t: TestQueue) {
    let q = &t.queue;
    q.send(&job(4), Duration::ZERO).await.unwrap();
    let got = t.receive_at_least(1, HELD).await.remove(0);
    q.change_visibility(&got.receipt, Duration::ZERO)
        .await
        .unwrap();
    // No time passes on SQLite's clock; on SQS the poll ends long before HELD would.
    let again = t.receive_at_least(1, VIS).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
}

pub async fn delayed_messages_wait(t: TestQueue) {
    let q = &t.queue;
    // Two seconds: long enough for the send and the check to fit inside it on SQS.
    q.send(&job(5), Duration::from_secs(2)).await.unwrap();
    assert!(
        q.receive(1, VIS).await.unwrap().is_empty(),
        "visible before its delay"
    );
    t.elapse(Duration::from_millis(2300)).await;
    assert_eq!(t.receive_at_least(1, VIS).await.len(), 1);
}

pub async fn batch_receive_respects_max(t: TestQueue) {
    let q = &t.queue;
    for n in 10..15 {
        q.send(&job(n), Duration::ZERO).await.unwrap();
    }
    let a = t.receive_at_least(3, HELD).await;
    let b = t.receive_at_least(2, HELD).await;
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 2);
    assert!(
        q.receive(10, HELD).await.unwrap().is_empty(),
        "all five held"
    );
    let mut all: Vec<_> = a.iter().chain(&b).map(|r| r.message_id.clone()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "no message delivered twice");
}

/// The queue under test must be built with max_receive_count = 3.
pub async fn dead_letters_after_max_receives(t: TestQueue) {
    let q = &t.queue;
    q.send(&job(6), Duration::ZERO).await.unwrap();
    for n in 1..=3 {
        let got = t.receive_at_least(1, VIS).await;
        assert_eq!(got.len(), 1, "delivery {n}");
        assert_eq!(got[0].receive_count, n);
        t.elapse(PAST_VIS).await;
    }
    assert!(q.receive(1, VIS).await.unwrap().is_empty(), "moved aside");
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    // At least the maximum: SQS also counts the receive that moved it (and peeks).
    assert!(dead[0].receive_count >= 3, "{}", dead[0].receive_count);
    let body: Job = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(body, job(6));
}

// ---------- SQLite only: the embedded queue's own storage, no SQS counterpart ----------

#[tokio::test]
async fn sqlite_unreadable_bodies_go_straight_to_the_dead_letter_queue() {
    let (db, _dir) = backends::sqlite();
    let q = operator_local::SqliteQueue::new(db.clone(), "contract", 3);
    db.call(|c| -> anyhow::Result<()> {
        c.execute(
            "INSERT INTO jobs (id, body, visible_at, receive_count, sent_at, queue) VALUES ('job_bad', '{\"type\":\"Nope\"}', 0, 0, 0, 'contract')",
            [],
        )?;
        Ok(())
    })
    .await
    .unwrap();
    assert!(q.receive(10, VIS).await.unwrap().is_empty());
    assert_eq!(q.dead_letters(10).await.unwrap()[0].message_id, "job_bad");
}
