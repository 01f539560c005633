//! A bounded cache of session cookie values already unsealed, so that a
//! repeat request skips the base64url decoding, decryption and JSON parsing.
//!
//! The key is the whole sealed value: a value differing in any byte is a
//! miss and is unsealed and authenticated as usual. Only values that
//! unsealed are inserted, so a client cannot fill the cache with forgeries.
//! A hit returns the session as it was unsealed: the caller still checks
//! its expiry on every request.
//!
//! The cache is split into shards, each behind its own `RwLock`, so hits on
//! different threads take only shared locks, and an insert locks one shard.
//! Each shard evicts in the manner of S3-FIFO. New entries wait in a small
//! queue and move to the main queue only if read again meanwhile, by a later
//! request than the one that inserted them. So a value read on one request
//! only leaves early, while its memory is still in the CPU cache, and does
//! not push out active sessions.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{PoisonError, RwLock};

use crate::session::Session;

/// Number of shards. A power of two, so a shard is picked with a mask.
const SHARDS: usize = 16;

/// The estimated memory the cache may use, across all shards. An entry is
/// weighed by [`estimated_weight`]. At the size of a session with a dozen
/// claims (a cookie value of about 650 bytes), this is room for about 6,000
/// sessions. Evicting an active session costs it one unseal on its next
/// request, a few microseconds.
const MAX_WEIGHT: usize = 16 * 1024 * 1024;

/// How many leading bytes of a sealed value are hashed. They hold the
/// version, the key id and the 24-byte random nonce, which is unique to
/// each seal, so hashing the rest adds nothing but time. Lookups still
/// compare the whole value.
const HASHED_PREFIX_LEN: usize = 64;

/// A session as it was unsealed from one cookie value.
#[derive(Clone, Debug)]
pub(crate) struct CachedSession {
    pub(crate) session: Session,
    pub(crate) sealed_with_previous_key: bool,
}

/// The bounded cache of unsealed session cookie values.
pub(crate) struct SessionCache {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    max_shard_weight: usize,
}

#[derive(Default)]
struct Shard {
    /// Entries by the hash of their key. Two keys with the same 64-bit hash
    /// cannot both stay: the later insert replaces the earlier one.
    entries: HashMap<u64, Entry, BuildHasherDefault<PrehashedHasher>>,
    /// New entries, oldest first.
    small: VecDeque<u64>,
    /// Entries read again while in `small`, oldest first.
    main: VecDeque<u64>,
    small_weight: usize,
    main_weight: usize,
}

struct Entry {
    key: Box<[u8]>,
    value: CachedSession,
    weight: usize,
    in_main: bool,
    /// Reads since the entry was inserted or last passed over, up to
    /// [`MAX_READS`].
    reads: AtomicU8,
}

/// Maximum reads an entry counts, so that a session read a thousand times
/// does not stay a thousand rounds after it goes idle.
const MAX_READS: u8 = 3;

/// The share of a shard's weight that new entries may take, in percent.
const SMALL_QUEUE_PERCENT: usize = 10;

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("shards", &self.shards.len())
            .field("max_shard_weight", &self.max_shard_weight)
            .finish_non_exhaustive()
    }
}

impl Default for SessionCache {
    fn default() -> SessionCache {
        SessionCache::with_max_weight(MAX_WEIGHT)
    }
}

impl SessionCache {
    /// Creates an empty cache of at most `max_weight` estimated bytes.
    pub(crate) fn with_max_weight(max_weight: usize) -> SessionCache {
        SessionCache {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            max_shard_weight: max_weight / SHARDS,
        }
    }

    /// Returns the session unsealed from `sealed`, if it is cached.
    pub(crate) fn get(&self, sealed: impl AsRef<[u8]>) -> Option<CachedSession> {
        let sealed = sealed.as_ref();
        let hash = self.hash(sealed);
        let shard = self
            .shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.entries.get(&hash)?;
        if *entry.key != *sealed {
            return None;
        }
        // Reading before writing keeps the cache line shared once the count
        // is at its maximum, as it is for every active session.
        let reads = entry.reads.load(Ordering::Relaxed);
        if reads < MAX_READS {
            entry.reads.store(reads + 1, Ordering::Relaxed);
        }
        Some(entry.value.clone())
    }

    /// Stores the session unsealed from `sealed`, evicting entries of its
    /// shard until the shard's estimated weight fits again.
    pub(crate) fn insert(&self, sealed: impl AsRef<[u8]>, value: CachedSession) {
        let sealed = sealed.as_ref();
        let weight = estimated_weight(sealed);
        if weight > self.max_shard_weight {
            return;
        }

        let hash = self.hash(sealed);
        let mut shard = self
            .shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = shard.entries.get_mut(&hash) {
            // The same value inserted by two requests at once, or a 64-bit
            // hash collision. The entry is replaced in its queue position.
            let old_weight = std::mem::replace(&mut existing.weight, weight);
            existing.key = sealed.into();
            existing.value = value;
            *existing.reads.get_mut() = 0;
            let queue_weight = if existing.in_main {
                &mut shard.main_weight
            } else {
                &mut shard.small_weight
            };
            *queue_weight = *queue_weight - old_weight + weight;
            return;
        }

        // Evicting before inserting spares the new entry, which the caller
        // is about to read again.
        let evicted = shard.evict_over(self.max_shard_weight - weight);
        shard.small.push_back(hash);
        shard.small_weight += weight;
        shard.entries.insert(
            hash,
            Entry {
                key: sealed.into(),
                value,
                weight,
                in_main: false,
                reads: AtomicU8::new(0),
            },
        );
        drop(shard);
        // The evicted sessions are freed after the lock is released.
        drop(evicted);
    }

    fn hash(&self, sealed: &[u8]) -> u64 {
        let prefix = &sealed[..sealed.len().min(HASHED_PREFIX_LEN)];
        self.hasher.hash_one(prefix)
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        // Middle bits pick the shard: the map inside a shard takes its
        // bucket from the low bits and its tag from the top seven.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }
}

impl Shard {
    /// Evicts entries until the weight is at most `max_weight`, and returns
    /// them.
    ///
    /// The loop ends: each step evicts an entry, moves one from `small` to
    /// `main` with its reads reset, or takes one read off an entry in
    /// `main`, and no read is added while the write lock is held.
    fn evict_over(&mut self, max_weight: usize) -> Vec<Entry> {
        let mut evicted = Vec::new();
        let max_small_weight = max_weight * SMALL_QUEUE_PERCENT / 100;
        while self.small_weight + self.main_weight > max_weight {
            let from_small = self.small_weight > max_small_weight || self.main.is_empty();
            let queue = if from_small {
                &mut self.small
            } else {
                &mut self.main
            };
            let Some(hash) = queue.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&hash) else {
                continue;
            };
            let reads = entry.reads.get_mut();

            if from_small && *reads >= 1 {
                // Read again after the request that inserted it, which
                // reads it once: an active session.
                *reads = 0;
                entry.in_main = true;
                self.small_weight -= entry.weight;
                self.main_weight += entry.weight;
                self.main.push_back(hash);
            } else if !from_small && *reads > 0 {
                *reads -= 1;
                self.main.push_back(hash);
            } else if let Some(entry) = self.entries.remove(&hash) {
                if entry.in_main {
                    self.main_weight -= entry.weight;
                } else {
                    self.small_weight -= entry.weight;
                }
                evicted.push(entry);
            }
        }
        evicted
    }
}

/// Estimates the memory an entry takes: the key, and the parsed session,
/// which takes about three times the bytes of its JSON because every claim
/// is its own allocation.
fn estimated_weight(sealed: &[u8]) -> usize {
    const ENTRY_OVERHEAD: usize = 256;
    sealed.len() * 3 + ENTRY_OVERHEAD
}

/// A hasher for keys that are already hashes: the map gets the key back.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys reach this hasher, through `write_u64`.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionPayload, User};

    fn cached(sub: &str) -> CachedSession {
        CachedSession {
            session: SessionPayload {
                id: format!("id-{sub}"),
                issued_at: 1,
                user: User::new(sub),
                scopes: Vec::new(),
                absolute_expires_at: 100,
                provider_sid: None,
            }
            .into_session(50),
            sealed_with_previous_key: false,
        }
    }

    fn sealed(index: usize) -> String {
        // Distinct prefixes, as random nonces make them.
        format!("{index:064}{}", "x".repeat(600))
    }

    #[test]
    fn hit_returns_inserted_session() {
        let cache = SessionCache::default();
        cache.insert(sealed(1), cached("alice"));
        let hit = cache.get(sealed(1)).expect("a hit");
        assert_eq!(hit.session.user().sub, "alice");
        assert!(!hit.sealed_with_previous_key);
    }

    #[test]
    fn value_differing_after_prefix_misses() {
        let cache = SessionCache::default();
        let value = sealed(1);
        cache.insert(&value, cached("alice"));

        let mut altered = value.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = b'y';
        let altered = String::from_utf8(altered).unwrap();
        assert!(cache.get(&altered).is_none());
        assert!(cache.get(&value[..value.len() - 1]).is_none());
        assert!(cache.get("").is_none());
    }

    #[test]
    fn weight_stays_bounded_and_recent_entries_stay() {
        let max_weight = SHARDS * estimated_weight(sealed(0).as_bytes()) * 4;
        let cache = SessionCache::with_max_weight(max_weight);
        for index in 0..1000 {
            cache.insert(sealed(index), cached("user"));
            assert!(
                cache.get(sealed(index)).is_some(),
                "entry {index} was evicted at once"
            );
        }

        let mut total_weight = 0;
        let mut total_entries = 0;
        for shard in cache.shards.iter() {
            let shard = shard.read().unwrap();
            let weight = shard.small_weight + shard.main_weight;
            assert!(weight <= cache.max_shard_weight);
            let in_main: usize = shard
                .entries
                .values()
                .filter(|entry| entry.in_main)
                .map(|entry| entry.weight)
                .sum();
            assert_eq!(shard.main_weight, in_main);
            assert_eq!(
                weight,
                shard
                    .entries
                    .values()
                    .map(|entry| entry.weight)
                    .sum::<usize>()
            );
            assert_eq!(shard.small.len() + shard.main.len(), shard.entries.len());
            total_weight += weight;
            total_entries += shard.entries.len();
        }
        assert!(total_weight <= max_weight);
        assert!(total_entries < 1000, "{total_entries} entries stayed");
    }

    #[test]
    fn referenced_entry_outlives_unreferenced_ones() {
        let cache =
            SessionCache::with_max_weight(SHARDS * estimated_weight(sealed(0).as_bytes()) * 3);
        let active = sealed(0);
        cache.insert(&active, cached("active"));
        for index in 1..200 {
            assert!(
                cache.get(&active).is_some(),
                "the active entry was evicted before {index}"
            );
            cache.insert(sealed(index), cached("passing"));
        }
    }

    #[test]
    fn entry_read_on_second_request_is_kept() {
        let cache =
            SessionCache::with_max_weight(SHARDS * estimated_weight(sealed(0).as_bytes()) * 4);
        let active = sealed(0);
        cache.insert(&active, cached("active"));
        assert!(cache.get(&active).is_some());
        for index in 1..200 {
            cache.insert(sealed(index), cached("passing"));
        }
        assert!(
            cache.get(&active).is_some(),
            "a session read on one later request was evicted"
        );
    }

    #[test]
    fn same_value_inserted_twice_is_one_entry() {
        let cache = SessionCache::default();
        cache.insert(sealed(1), cached("alice"));
        cache.insert(sealed(1), cached("bob"));
        assert_eq!(cache.get(sealed(1)).unwrap().session.user().sub, "bob");

        let entries: usize = cache
            .shards
            .iter()
            .map(|shard| shard.read().unwrap().entries.len())
            .sum();
        let queued: usize = cache
            .shards
            .iter()
            .map(|shard| {
                let shard = shard.read().unwrap();
                shard.small.len() + shard.main.len()
            })
            .sum();
        assert_eq!(entries, 1);
        assert_eq!(queued, 1);
    }

    #[test]
    fn oversized_value_is_not_cached() {
        let cache = SessionCache::with_max_weight(SHARDS * 1024);
        let value = "v".repeat(2048);
        cache.insert(&value, cached("alice"));
        assert!(cache.get(&value).is_none());
    }
}
