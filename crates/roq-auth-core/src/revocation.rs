//! Revoked sessions: the server-side record that makes a sealed cookie stop
//! working before its expiry.
//!
//! A sealed session cookie is valid until it expires, wherever it was
//! copied to. Logout and back-channel logout therefore record a revocation
//! here, and every request checks it after unsealing. A revocation names a
//! [`RevocationKey`] and a time: every session that key matches and that
//! was issued at or before that time is signed out.
//!
//! [`MemoryRevocationStore`] is the default and serves one instance.
//! Several instances behind a load balancer need a shared store, such as
//! the Redis one behind the `redis` feature, or an implementation of
//! [`RevocationStore`] of their own.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher as _, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

/// A boxed future returned by [`RevocationStore`] methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a revocation applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RevocationKey {
    /// One session of this library, by its random id
    /// ([`Session::id`](crate::Session::id)). Logout records it.
    Session(String),
    /// Every session created from one session at the provider, by the ID
    /// token's `sid` claim. Back-channel logout records it.
    ProviderSession(String),
    /// Every session of one user, by `sub`. A back-channel logout token
    /// without `sid` records it.
    Subject(String),
}

impl RevocationKey {
    /// The key as one string with a tag per kind, for stores that keep
    /// strings, such as Redis: `s:` + session id, `p:` + provider session
    /// id, `u:` + subject.
    pub fn storage_key(&self) -> String {
        let (tag, value) = match self {
            RevocationKey::Session(id) => ("s:", id),
            RevocationKey::ProviderSession(sid) => ("p:", sid),
            RevocationKey::Subject(sub) => ("u:", sub),
        };
        let mut key = String::with_capacity(tag.len() + value.len());
        key.push_str(tag);
        key.push_str(value);
        key
    }
}

/// A revocation store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("revocation store: {0}")]
pub struct RevocationError(pub String);

/// A store of revocations. Implementations must be safe to share across
/// threads. The library calls [`RevocationStore::revoked_at`] on every
/// request that reads a session, so it should return quickly.
///
/// Times are Unix seconds.
pub trait RevocationStore: Send + Sync + 'static {
    /// Records that every session `key` matches and that was issued at or
    /// before `revoked_at` is revoked. The record may be dropped after
    /// `keep_until`, when every such session has expired anyway. A second
    /// revocation of the same key keeps the later `revoked_at`.
    fn revoke<'a>(
        &'a self,
        key: &'a RevocationKey,
        revoked_at: u64,
        keep_until: u64,
    ) -> StoreFuture<'a, Result<(), RevocationError>>;

    /// Returns the latest `revoked_at` recorded for any of `keys`, or
    /// `None` when none of them is revoked.
    fn revoked_at<'a>(
        &'a self,
        keys: &'a [RevocationKey],
    ) -> StoreFuture<'a, Result<Option<u64>, RevocationError>>;
}

/// Most revocations [`MemoryRevocationStore::default`] keeps: about 10 MB.
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

const SHARDS: usize = 16;

/// Revocations kept in this process's memory: the default store, for an
/// application that runs as one instance.
///
/// It is bounded: records are dropped once expired, and when it is full,
/// the record that expires first makes room, with a warning in the log.
/// Revocations are lost on restart; use a shared store to keep them.
pub struct MemoryRevocationStore {
    shards: Box<[RwLock<HashMap<RevocationKey, Record>>]>,
    hasher: RandomState,
    len: AtomicUsize,
    capacity_per_shard: usize,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    revoked_at: u64,
    keep_until: u64,
}

impl fmt::Debug for MemoryRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRevocationStore")
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for MemoryRevocationStore {
    fn default() -> MemoryRevocationStore {
        MemoryRevocationStore::with_capacity(DEFAULT_MEMORY_CAPACITY)
    }
}

impl MemoryRevocationStore {
    /// Creates a store that keeps at most about `capacity` revocations.
    pub fn with_capacity(capacity: usize) -> MemoryRevocationStore {
        MemoryRevocationStore {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
            capacity_per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// How many revocations are kept.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether no revocation is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &RevocationKey) -> &RwLock<HashMap<RevocationKey, Record>> {
        let index = self.hasher.hash_one(key) as usize % self.shards.len();
        &self.shards[index]
    }

    /// Records a revocation now, without a future.
    pub fn revoke_now(&self, key: &RevocationKey, revoked_at: u64, keep_until: u64, now: u64) {
        let mut shard = self
            .shard(key)
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(record) = shard.get_mut(key) {
            record.revoked_at = record.revoked_at.max(revoked_at);
            record.keep_until = record.keep_until.max(keep_until);
            return;
        }
        if shard.len() >= self.capacity_per_shard {
            let before = shard.len();
            shard.retain(|_, record| record.keep_until > now);
            if shard.len() >= self.capacity_per_shard {
                let first_to_expire = shard
                    .iter()
                    .min_by_key(|(_, record)| record.keep_until)
                    .map(|(key, _)| key.clone());
                if let Some(evicted) = first_to_expire {
                    shard.remove(&evicted);
                    tracing::warn!(
                        "the in-memory revocation store is full: dropped the revocation that expires first; \
                         use a larger store or a shared one"
                    );
                }
            }
            self.len.fetch_sub(before - shard.len(), Ordering::Relaxed);
        }
        shard.insert(
            key.clone(),
            Record {
                revoked_at,
                keep_until,
            },
        );
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns the latest revocation of any of `keys`, without a future.
    /// Expired records are ignored.
    pub fn revoked_at_now(&self, keys: &[RevocationKey], now: u64) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        keys.iter()
            .filter_map(|key| {
                let shard = self
                    .shard(key)
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                shard
                    .get(key)
                    .filter(|record| record.keep_until > now)
                    .map(|record| record.revoked_at)
            })
            .max()
    }
}

impl RevocationStore for MemoryRevocationStore {
    fn revoke<'a>(
        &'a self,
        key: &'a RevocationKey,
        revoked_at: u64,
        keep_until: u64,
    ) -> StoreFuture<'a, Result<(), RevocationError>> {
        let now = unix_now();
        self.revoke_now(key, revoked_at, keep_until, now);
        Box::pin(std::future::ready(Ok(())))
    }

    fn revoked_at<'a>(
        &'a self,
        keys: &'a [RevocationKey],
    ) -> StoreFuture<'a, Result<Option<u64>, RevocationError>> {
        let found = self.revoked_at_now(keys, unix_now());
        Box::pin(std::future::ready(Ok(found)))
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> RevocationKey {
        RevocationKey::Session(id.to_owned())
    }

    #[test]
    fn revocation_is_found_and_later_time_wins() {
        let store = MemoryRevocationStore::default();
        assert_eq!(store.revoked_at_now(&[session("a")], 100), None);
        store.revoke_now(&session("a"), 50, 1_000, 100);
        store.revoke_now(&session("a"), 40, 1_000, 100);
        assert_eq!(store.revoked_at_now(&[session("a")], 100), Some(50));
        store.revoke_now(&RevocationKey::Subject("alice".into()), 70, 1_000, 100);
        let keys = [session("a"), RevocationKey::Subject("alice".into())];
        assert_eq!(store.revoked_at_now(&keys, 100), Some(70));
        assert_eq!(store.revoked_at_now(&[session("b")], 100), None);
    }

    #[test]
    fn kinds_do_not_collide() {
        let store = MemoryRevocationStore::default();
        store.revoke_now(&RevocationKey::Subject("x".into()), 10, 1_000, 0);
        assert_eq!(store.revoked_at_now(&[session("x")], 0), None);
        assert_eq!(
            store.revoked_at_now(&[RevocationKey::ProviderSession("x".into())], 0),
            None
        );
        assert_ne!(
            RevocationKey::Subject("x".into()).storage_key(),
            session("x").storage_key()
        );
    }

    #[test]
    fn expired_records_are_ignored() {
        let store = MemoryRevocationStore::default();
        store.revoke_now(&session("a"), 10, 200, 100);
        assert_eq!(store.revoked_at_now(&[session("a")], 199), Some(10));
        assert_eq!(store.revoked_at_now(&[session("a")], 200), None);
    }

    #[test]
    fn stays_bounded_and_drops_first_to_expire() {
        let store = MemoryRevocationStore::with_capacity(SHARDS * 4);
        for index in 0..1_000u64 {
            store.revoke_now(&session(&index.to_string()), 1, 10_000 + index, 0);
        }
        assert!(store.len() <= SHARDS * 4, "len {}", store.len());
        // The latest revocations are kept.
        assert_eq!(store.revoked_at_now(&[session("999")], 0), Some(1));
        // Expired records make room before anything live is dropped.
        let store = MemoryRevocationStore::with_capacity(SHARDS);
        for index in 0..(SHARDS as u64 * 8) {
            store.revoke_now(&session(&index.to_string()), 1, 5, 0);
        }
        store.revoke_now(&session("live"), 1, 1_000, 10);
        assert_eq!(store.revoked_at_now(&[session("live")], 10), Some(1));
    }
}
