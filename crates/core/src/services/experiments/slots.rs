//! The per-instance bound on experiment messages: an instance's agent answers one message at
//! a time (the runtime's agent lock), so a lane sends an instance its next item only when no
//! other lane of this process is waiting on it. Without it, `concurrency` lanes over fewer
//! variants would queue several messages at one instance — each waiting its turn inside the
//! instance, its latency counting the wait, the last ones risking the message timeout.
//!
//! The bound is per process: on AWS, lanes of one experiment on different workers can still
//! meet at an instance, where its agent lock serialises them (latency then includes the wait).

use crate::ids::InstanceId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Messages in flight to one instance from this process's lanes.
pub const PER_INSTANCE: usize = 1;

#[derive(Default)]
pub struct InstanceSlots {
    by_instance: Mutex<HashMap<InstanceId, Arc<Semaphore>>>,
}

/// A held slot; dropping it frees it (and forgets the instance when nobody else waits).
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    slots: Arc<InstanceSlots>,
    instance: InstanceId,
}

impl InstanceSlots {
    /// Waits until `instance` has a free slot and takes it.
    pub async fn acquire(self: &Arc<Self>, instance: &InstanceId) -> Slot {
        let sem = {
            let mut map = self.by_instance.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(instance.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(PER_INSTANCE)))
                .clone()
        };
        let permit = sem.acquire_owned().await.ok();
        Slot {
            permit,
            slots: self.clone(),
            instance: instance.clone(),
        }
    }

    /// Instances with a slot held or waited for.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.by_instance.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut map = self
            .slots
            .by_instance
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Only the map holds it once no lane holds or waits for a permit.
        if map
            .get(&self.instance)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            map.remove(&self.instance);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_message_per_instance_at_a_time_and_others_are_not_held_up() {
        let slots = Arc::new(InstanceSlots::default());
        let a = InstanceId::from_trusted("inst_a");
        let b = InstanceId::from_trusted("inst_b");
        let first = slots.acquire(&a).await;
        // another instance is free
        let other = tokio::time::timeout(Duration::from_secs(5), slots.acquire(&b)).await;
        assert!(other.is_ok());
        drop(other);
        // the same instance waits until the first slot is dropped
        let s2 = slots.clone();
        let a2 = a.clone();
        let second = tokio::spawn(async move { s2.acquire(&a2).await });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the slot was handed on")
            .expect("task");
        assert_eq!(slots.tracked(), 1);
        drop(second);
        assert_eq!(
            slots.tracked(),
            0,
            "instances nobody waits on are forgotten"
        );
    }
}
