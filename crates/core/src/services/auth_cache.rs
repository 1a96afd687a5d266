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
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; past it the cache starts over (bounded memory under key sprays).
const MAX_ENTRIES: usize = 10_000;

pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped by every `forget`: a lookup that began before a revocation does not put back
    /// what it read (it may be the revoked key).
    generation: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    at: Instant,
    key: ApiKey,
    account: Account,
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

    /// The key and account cached for the key hash `hash`, while fresh.
    pub fn get(&self, hash: &str) -> Option<(ApiKey, Account)> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|e| e.at.elapsed() < self.ttl)
            .map(|e| (e.key.clone(), e.account.clone()))
    }

    /// Taken before reading the store; `put` is given it back.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps what a lookup read, unless a key was forgotten since it began (`seen`).
    pub fn put(&self, hash: &str, key: &ApiKey, account: &Account, seen: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation() != seen {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(hash) {
            entries.clear();
        }
        entries.insert(
            hash.to_owned(),
            Entry {
                at: Instant::now(),
                key: key.clone(),
                account: account.clone(),
            },
        );
    }

    /// Forgets the key `id` (revoked): its next use reads the store.
    pub fn forget(&self, id: &KeyId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, e| e.key.id != *id);
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

    fn pair(id: &str) -> (ApiKey, Account) {
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
        (key, account)
    }

    #[test]
    fn a_fresh_entry_is_served_until_forgotten_or_stale() {
        let cache = AuthCache::new(Duration::from_millis(200));
        let (k1, a) = pair("key_1");
        let (k2, _) = pair("key_2");
        cache.put("h1", &k1, &a, cache.generation());
        cache.put("h2", &k2, &a, cache.generation());
        assert_eq!(cache.get("h1").map(|(k, _)| k.id), Some(k1.id.clone()));
        // a revocation forgets that key only
        cache.forget(&k1.id);
        assert!(cache.get("h1").is_none());
        assert!(cache.get("h2").is_some());
        // a lookup that began before the revocation does not put the revoked key back
        let before = cache.generation() - 1;
        cache.put("h1", &k1, &a, before);
        assert!(cache.get("h1").is_none());
        // and an entry past its time to live is not served
        std::thread::sleep(Duration::from_millis(250));
        assert!(cache.get("h2").is_none());
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = AuthCache::disabled();
        let (k, a) = pair("key_1");
        cache.put("h", &k, &a, cache.generation());
        assert!(cache.get("h").is_none());
    }
}
