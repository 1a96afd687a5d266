//! The in-process bus between a chat's turn and the streams following it (Lambda, whose
//! turns run elsewhere, polls the log instead). A turn publishes the events it has just
//! written, so a follower in the same process hands them out without reading them back;
//! it reads the log when it starts, after a poll tick, and whenever the published events
//! do not continue where it is (it missed some, or another process wrote them).

use crate::domain::{ChatEvent, Chunk};
use crate::ids::{ChatId, TurnId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::watch;

/// Each followed chat has its own channel, so an event wakes only the streams of its chat
/// (one channel for all woke every stream on every event: 64 streams, 64 times the wake-ups).
#[derive(Default)]
pub struct ChatBus {
    /// Chat ids are unique across accounts; an entry lives while a stream follows the chat.
    chats: Mutex<Chats>,
}

/// The events a chat's last append wrote (committed), in order.
type Published = Arc<[ChatEvent]>;

#[derive(Default)]
struct Chats {
    senders: HashMap<ChatId, Weak<watch::Sender<Published>>>,
    /// Entries at which the map is next swept of chats nobody follows any more.
    sweep_at: usize,
}

/// One stream's view of its chat: [`ChatWatch::changed`] returns once something was
/// published after the watch was made or last looked (a wake-up is never lost between a
/// read and the wait); [`ChatWatch::take`] hands out what was.
pub struct ChatWatch {
    rx: watch::Receiver<Published>,
    _tx: Arc<watch::Sender<Published>>,
    /// [`ChatWatch::changed`] returned but [`ChatWatch::take`] has not looked yet.
    woken: bool,
}

impl ChatWatch {
    pub async fn changed(&mut self) {
        // Never fails: this watch holds a sender.
        if self.rx.changed().await.is_ok() {
            self.woken = true;
        }
    }

    /// What was published since the last look, for a stream at `after`.
    pub fn take(&mut self, after: u64) -> Taken {
        if !std::mem::take(&mut self.woken) && !self.rx.has_changed().unwrap_or(false) {
            return Taken::Nothing;
        }
        let events = self.rx.borrow_and_update();
        match events.first() {
            Some(first) if first.seq <= after + 1 => {
                Taken::Events(events.iter().filter(|e| e.seq > after).cloned().collect())
            }
            _ => Taken::Gap,
        }
    }
}

/// See [`ChatWatch::take`].
#[derive(Debug, PartialEq)]
pub enum Taken {
    /// Nothing was published since the last look.
    Nothing,
    /// The events after the stream's position: the published ones continue the log right
    /// there (possibly nothing new: the stream had read them all from the log).
    Events(Vec<ChatEvent>),
    /// The published events do not continue where the stream is (it missed a publication,
    /// or another process wrote in between): read the log.
    Gap,
}

impl ChatBus {
    fn chats(&self) -> MutexGuard<'_, Chats> {
        self.chats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `data` was appended to the chat's log (committed), the last at `last_seq`: wakes the
    /// streams following the chat and hands them the events (none follows: nothing to do).
    pub fn publish(&self, chat: &ChatId, turn: &TurnId, data: &[Chunk], last_seq: u64) {
        let tx = self.chats().senders.get(chat).and_then(|w| w.upgrade());
        if let Some(tx) = tx {
            let first = (last_seq + 1).saturating_sub(data.len() as u64);
            let events: Published = (first..)
                .zip(data)
                .map(|(seq, d)| ChatEvent {
                    seq,
                    turn_id: turn.clone(),
                    data: d.clone(),
                })
                .collect();
            tx.send_replace(events);
        }
    }

    /// Starts watching `chat`.
    pub fn watch(&self, chat: &ChatId) -> ChatWatch {
        let mut chats = self.chats();
        let tx = match chats.senders.get(chat).and_then(|w| w.upgrade()) {
            Some(tx) => tx,
            None => {
                let tx = Arc::new(watch::channel(Published::from([])).0);
                if chats.senders.len() >= chats.sweep_at {
                    chats.senders.retain(|_, w| w.strong_count() > 0);
                    chats.sweep_at = (chats.senders.len() * 2).max(64);
                }
                chats.senders.insert(chat.clone(), Arc::downgrade(&tx));
                tx
            }
        };
        ChatWatch {
            rx: tx.subscribe(),
            _tx: tx,
            woken: false,
        }
    }

    /// Chats some stream follows (tests).
    pub fn followed(&self) -> usize {
        self.chats()
            .senders
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn delta(text: &str) -> Chunk {
        Chunk::TextDelta {
            id: "txt_1".into(),
            delta: text.into(),
        }
    }

    fn seqs(taken: Taken) -> Option<Vec<u64>> {
        match taken {
            Taken::Events(e) => Some(e.iter().map(|e| e.seq).collect()),
            Taken::Nothing | Taken::Gap => None,
        }
    }

    #[tokio::test]
    async fn a_chat_s_events_wake_only_its_own_streams_and_none_is_lost() {
        // GIVEN two streams on chat A and one on chat B
        let bus = ChatBus::default();
        let (a, b, turn) = (ChatId::generate(), ChatId::generate(), TurnId::generate());
        let (mut a1, mut a2, mut b1) = (bus.watch(&a), bus.watch(&a), bus.watch(&b));
        assert_eq!(bus.followed(), 2);
        // WHEN chat A's log grows before anyone waits
        bus.publish(&a, &turn, &[delta("x")], 1);
        // THEN both of A's streams see it (the wake-up was kept), B's does not
        assert!(a1.changed().now_or_never().is_some());
        assert!(a2.changed().now_or_never().is_some());
        assert!(b1.changed().now_or_never().is_none());
        // AND what woke them is handed out, once
        assert_eq!(seqs(a1.take(0)), Some(vec![1]));
        assert!(a1.changed().now_or_never().is_none());
        assert_eq!(a1.take(1), Taken::Nothing);
        // AND a chat nobody follows costs nothing, and one no longer followed is forgotten
        bus.publish(&ChatId::generate(), &turn, &[delta("y")], 1);
        drop((a1, a2));
        assert_eq!(bus.followed(), 1);
    }

    #[tokio::test]
    async fn published_events_are_handed_out_only_where_they_continue_the_log() {
        let bus = ChatBus::default();
        let (chat, turn) = (ChatId::generate(), TurnId::generate());
        let mut w = bus.watch(&chat);
        // Nothing published yet.
        assert_eq!(w.take(0), Taken::Nothing);
        // Events 1..=3 in one append: all handed out, numbered from the last.
        bus.publish(&chat, &turn, &[delta("a"), delta("b"), delta("c")], 3);
        let Taken::Events(got) = w.take(0) else {
            panic!("the events continue the log")
        };
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(got[1].data, delta("b"));
        assert_eq!(got[1].turn_id, turn);
        // Looked at already: not the same events again.
        assert_eq!(w.take(3), Taken::Nothing);
        // 4..=5, of which the follower had read 4 from the log: only 5.
        bus.publish(&chat, &turn, &[delta("d"), delta("e")], 5);
        assert_eq!(seqs(w.take(4)), Some(vec![5]));
        // All of them read already: nothing new.
        bus.publish(&chat, &turn, &[delta("f")], 6);
        assert_eq!(w.take(6), Taken::Events(vec![]));
        // 8 published but 7 never seen here (another process, or overwritten): a gap.
        bus.publish(&chat, &turn, &[delta("h")], 8);
        assert_eq!(w.take(6), Taken::Gap);
    }
}
