//! JobQueue contract: SQS standard-queue semantics.

use crate::backends;
use operator_core::ids::*;
use operator_core::jobs::Job;
use operator_core::ports::JobQueue;
use std::sync::Arc;
use std::time::Duration;

const VIS: Duration = Duration::from_secs(1);
const PAST_VIS: Duration = Duration::from_millis(1300);

fn job(n: u32) -> Job {
    Job::InstanceProvision {
        account_id: AccountId::from_trusted("acct_contract"),
        instance_id: InstanceId::from_trusted(format!("inst_{n}")),
    }
}

pub async fn delivers_what_was_sent_once_while_invisible(q: Arc<dyn JobQueue>) {
    let id = q.send(&job(1), Duration::ZERO).await.unwrap();
    let got = q.receive(10, VIS).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job, job(1));
    assert_eq!(got[0].message_id, id);
    assert_eq!(got[0].receive_count, 1);
    assert!(
        q.receive(10, VIS).await.unwrap().is_empty(),
        "invisible while held"
    );
}

pub async fn visibility_expiry_redelivers_with_a_higher_count(q: Arc<dyn JobQueue>) {
    q.send(&job(2), Duration::ZERO).await.unwrap();
    let first = q.receive(1, VIS).await.unwrap().remove(0);
    tokio::time::sleep(PAST_VIS).await;
    let again = q.receive(1, VIS).await.unwrap();
    assert_eq!(again.len(), 1, "redelivered after the timeout");
    assert_eq!(again[0].message_id, first.message_id);
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt, first.receipt);
}

pub async fn ack_deletes(q: Arc<dyn JobQueue>) {
    q.send(&job(3), Duration::ZERO).await.unwrap();
    let got = q.receive(1, VIS).await.unwrap().remove(0);
    q.ack(&got.receipt).await.unwrap();
    tokio::time::sleep(PAST_VIS).await;
    assert!(
        q.receive(10, VIS).await.unwrap().is_empty(),
        "acked job came back"
    );
}

pub async fn change_visibility_zero_releases_at_once(q: Arc<dyn JobQueue>) {
    q.send(&job(4), Duration::ZERO).await.unwrap();
    let got = q
        .receive(1, Duration::from_secs(30))
        .await
        .unwrap()
        .remove(0);
    q.change_visibility(&got.receipt, Duration::ZERO)
        .await
        .unwrap();
    let again = q.receive(1, VIS).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
}

pub async fn delayed_messages_wait(q: Arc<dyn JobQueue>) {
    q.send(&job(5), Duration::from_secs(1)).await.unwrap();
    assert!(
        q.receive(1, VIS).await.unwrap().is_empty(),
        "visible before its delay"
    );
    tokio::time::sleep(PAST_VIS).await;
    assert_eq!(q.receive(1, VIS).await.unwrap().len(), 1);
}

pub async fn batch_receive_respects_max(q: Arc<dyn JobQueue>) {
    for n in 10..15 {
        q.send(&job(n), Duration::ZERO).await.unwrap();
    }
    let a = q.receive(3, VIS).await.unwrap();
    let b = q.receive(10, VIS).await.unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 2);
    let mut all: Vec<_> = a.iter().chain(&b).map(|r| r.message_id.clone()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "no message delivered twice");
}

/// The queue under test must be built with max_receive_count = 3.
pub async fn dead_letters_after_max_receives(q: Arc<dyn JobQueue>) {
    q.send(&job(6), Duration::ZERO).await.unwrap();
    for n in 1..=3 {
        let got = q.receive(1, Duration::from_millis(200)).await.unwrap();
        assert_eq!(got.len(), 1, "delivery {n}");
        assert_eq!(got[0].receive_count, n);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(q.receive(1, VIS).await.unwrap().is_empty(), "moved aside");
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    // At least the maximum: SQS also counts the receive that moved it (and peeks).
    assert!(dead[0].receive_count >= 3, "{}", dead[0].receive_count);
    let body: Job = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(body, job(6));
}

macro_rules! sqlite_queue_contract {
    ($($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (q, _dir) = crate::backends::sqlite_queue(3);
                    super::$name(q).await;
                }
            )*
        }
    };
}

sqlite_queue_contract!(
    delivers_what_was_sent_once_while_invisible,
    visibility_expiry_redelivers_with_a_higher_count,
    ack_deletes,
    change_visibility_zero_releases_at_once,
    delayed_messages_wait,
    batch_receive_respects_max,
    dead_letters_after_max_receives
);

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
