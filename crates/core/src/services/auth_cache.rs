//! Recently authenticated API keys, so a request does not read its key and account from the
//! store every time. A revocation through this process (`revoke_key`) removes the key's
//! entry at once; a change made by another process sharing the store (an admin command
//! revoking a key or changing a plan) is seen within the entry's time to live. Deployments
//! whose API runs in many processes (AWS: every Lambda) keep it off, so revocation stays
//! immediate everywhere.

use crate::domain::{Account, ApiKey};
use crate::ids::KeyId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries kept at most; past it the cache starts over (bounded memory under key sprays).
const MAX_ENTRIES: usize = 10_000;

/// The SHA-256 digest of a key's plaintext (`domain::key_digest`): what entries are found by.
pub type Digest = [u8; 32];

/// A key and its account as the store gave them; shared, so a hit copies nothing.
pub struct Authenticated {
    pub key: ApiKey,
    pub account: Account,
}

pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<Digest, Entry>>,
    /// Bumped by every `forget`: a lookup that began before a revocation does not put back
    /// what it read (it may be the revoked key).
    generation: AtomicU64,
}

struct Entry {
    at: Instant,
    found: Arc<Authenticated>,
}

impl AuthCache {
    /// `ttl` zero: nothing is kept.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
        }
    }

    pub fn disabled() -> Self {
        Self::new(Duration::ZERO)
    }

    /// The key and account cached for the key digest `digest`, while fresh.
    pub fn get(&self, digest: &Digest) -> Option<Arc<Authenticated>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(digest)
            .filter(|e| e.at.elapsed() < self.ttl)
            .map(|e| e.found.clone())
    }

    /// Taken before reading the store; `put` is given it back.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps what a lookup read, unless a key was forgotten since it began (`seen`).
    pub fn put(&self, digest: &Digest, found: Arc<Authenticated>, seen: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation() != seen {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(digest) {
            entries.clear();
        }
        entries.insert(
            *digest,
            Entry {
                at: Instant::now(),
                found,
            },
        );
    }

    /// Forgets the key `id` (revoked): its next use reads the store.
    pub fn forget(&self, id: &KeyId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, e| e.found.key.id != *id);
    }
}

impl Default for AuthCache {
    fn default() -> Self {
        Self::disabled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlanSlug;
    use crate::ids::{AccountId, UserId};

    fn pair(id: &str) -> Arc<Authenticated> {
        let account = Account {
            id: AccountId::from_trusted("acct_1"),
            user_id: UserId::from_trusted("user_1"),
            plan: PlanSlug::Pro,
            instance_limit: None,
            token_limit: None,
            created_at: chrono::Utc::now(),
        };
        let key = ApiKey {
            id: KeyId::from_trusted(id),
            account_id: account.id.clone(),
            name: Some("k".into()),
            prefix: "ck_live_abcd".into(),
            hash: format!("hash-{id}"),
            created_at: chrono::Utc::now(),
            last_used_at: None,
        };
        Arc::new(Authenticated { key, account })
    }

    #[test]
    fn a_fresh_entry_is_served_until_forgotten_or_stale() {
        let cache = AuthCache::new(Duration::from_millis(200));
        let (h1, h2) = ([1u8; 32], [2u8; 32]);
        let (k1, k2) = (pair("key_1"), pair("key_2"));
        cache.put(&h1, k1.clone(), cache.generation());
        cache.put(&h2, k2, cache.generation());
        assert_eq!(
            cache.get(&h1).map(|f| f.key.id.clone()),
            Some(k1.key.id.clone())
        );
        // a revocation forgets that key only
        cache.forget(&k1.key.id);
        assert!(cache.get(&h1).is_none());
        assert!(cache.get(&h2).is_some());
        // a lookup that began before the revocation does not put the revoked key back
        let before = cache.generation() - 1;
        cache.put(&h1, k1, before);
        assert!(cache.get(&h1).is_none());
        // and an entry past its time to live is not served
        std::thread::sleep(Duration::from_millis(250));
        assert!(cache.get(&h2).is_none());
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = AuthCache::disabled();
        cache.put(&[0u8; 32], pair("key_1"), cache.generation());
        assert!(cache.get(&[0u8; 32]).is_none());
    }
}
