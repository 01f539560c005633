//! A [`RevocationStore`] in Redis (feature `redis`), shared by every
//! instance of an application that points at the same server.
//!
//! Each revocation is one string key, `prefix` + [`RevocationKey::storage_key`],
//! whose value is the `revoked_at` time in decimal Unix seconds and which
//! expires at `keep_until`. Reading the revocations of a session is one
//! `MGET`, and recording one is one `EVALSHA` of a small Lua script.
//!
//! The store talks to one Redis server (or a proxy in front of one). Redis
//! Cluster is not supported, because the keys of one `MGET` may fall into
//! different hash slots. Tested with Redis 7.0 (Debian 12's `redis-server`).

use std::fmt;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, RedisError, RedisResult, Script};

use crate::revocation::{RevocationError, RevocationKey, RevocationStore, StoreFuture};

/// Key prefix of [`RedisRevocationStore::open`].
pub const DEFAULT_PREFIX: &str = "roq:revoked:";

/// Operation timeout of [`RedisRevocationStore::open`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest `revoked_at` the store accepts, and the cap on `keep_until`:
/// 2^53 seconds, far beyond any real time. Lua numbers are doubles, so the
/// script compares larger integers inexactly.
const MAX_TIME: u64 = 1 << 53;

/// Records a revocation atomically: keeps the later `revoked_at`, and keeps
/// the key at least until `keep_until`. `SET` drops a key's expiry, so the
/// script reads the expiry first and sets the later of the two afterwards.
/// A key without an expiry (written by something else) stays without one.
///
/// Calling `TIME` before a write needs Redis 5.0 or later, where scripts
/// replicate their effects and not their source.
const REVOKE_SCRIPT: &str = r"
local key = KEYS[1]
local revoked_at = tonumber(ARGV[1])
local keep_until = tonumber(ARGV[2])

local ttl_ms = redis.call('PTTL', key)
local current = tonumber(redis.call('GET', key))
if current == nil or current < revoked_at then
  redis.call('SET', key, ARGV[1])
end

if ttl_ms == -1 then
  return
end
if ttl_ms >= 0 then
  local now = redis.call('TIME')
  local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  local expires_at = math.ceil((now_ms + ttl_ms) / 1000)
  if expires_at > keep_until then
    keep_until = expires_at
  end
end
redis.call('EXPIREAT', key, string.format('%.0f', keep_until))
";

/// Revocations kept in Redis, for an application that runs as several
/// instances.
///
/// [`open`](RedisRevocationStore::open) only checks the URL. The store
/// connects on its first operation, shares one multiplexed connection
/// among all requests, and reconnects by itself after the connection
/// fails, so an application can start while Redis is down. Every operation
/// fails with a [`RevocationError`] after the timeout (default 2 s) instead
/// of waiting for a server that does not respond.
///
/// The store needs a Tokio runtime. The connection's I/O task runs on the
/// runtime of the operation that opened the connection (in Actix Web, one
/// worker's runtime); when that runtime stops, the next operation
/// reconnects on its own runtime.
///
/// ```no_run
/// use roq_auth_core::redis_store::RedisRevocationStore;
///
/// let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
/// let store = RedisRevocationStore::open(&url)?
///     .with_prefix("myapp:revoked:")
///     .with_timeout(std::time::Duration::from_millis(500));
/// # Ok::<(), roq_auth_core::RevocationError>(())
/// ```
pub struct RedisRevocationStore {
    client: Client,
    /// The URL with its password replaced, for `Debug` and error messages.
    redacted_url: String,
    prefix: String,
    timeout: Duration,
    revoke_script: Script,
    /// Created by the first operation, because creating it needs a Tokio
    /// runtime and `open` may run before one starts.
    connection: Mutex<Option<ConnectionManager>>,
}

impl fmt::Debug for RedisRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationStore")
            .field("url", &self.redacted_url)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisRevocationStore {
    /// Checks a Redis URL and creates a store for it, without connecting.
    ///
    /// The URL is `redis://[[user]:password@]host[:port][/db]`, or
    /// `rediss://` for TLS, which verifies the server's certificate
    /// against the system's CA store. The password is percent-encoded.
    ///
    /// # Errors
    ///
    /// Returns a [`RevocationError`] when the URL is invalid or has another
    /// scheme. The message never contains the URL.
    pub fn open(url: &str) -> Result<RedisRevocationStore, RevocationError> {
        const EXPECTED: &str = "expected redis://[[user]:password@]host[:port][/db] or rediss://…";

        let parsed = url::Url::parse(url)
            .map_err(|error| RevocationError(format!("invalid Redis URL: {error}; {EXPECTED}")))?;
        if parsed.scheme() != "redis" && parsed.scheme() != "rediss" {
            return Err(RevocationError(format!(
                "invalid Redis URL: the scheme `{}` is not supported; {EXPECTED}",
                parsed.scheme()
            )));
        }
        let client = Client::open(parsed.clone())
            .map_err(|error| RevocationError(format!("invalid Redis URL: {error}; {EXPECTED}")))?;

        Ok(RedisRevocationStore {
            client,
            redacted_url: redact(parsed),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            revoke_script: Script::new(REVOKE_SCRIPT),
            connection: Mutex::new(None),
        })
    }

    /// Sets the prefix of every key the store reads and writes (default
    /// `roq:revoked:`), so that several applications can share one Redis
    /// database.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisRevocationStore {
        self.prefix = prefix.into();
        self
    }

    /// Sets how long one operation may take, connecting included, before
    /// it fails with a [`RevocationError`] (default 2 s).
    pub fn with_timeout(mut self, timeout: Duration) -> RedisRevocationStore {
        self.timeout = timeout;
        // A connection made before this call keeps the old timeout.
        *self
            .connection
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self
    }

    /// Returns the key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Returns the operation timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Returns the Redis key of a revocation: the prefix, then the
    /// revocation key with its kind tag.
    pub fn redis_key(&self, key: &RevocationKey) -> String {
        let storage_key = key.storage_key();
        let mut redis_key = String::with_capacity(self.prefix.len() + storage_key.len());
        redis_key.push_str(&self.prefix);
        redis_key.push_str(&storage_key);
        redis_key
    }

    fn connection(&self) -> Result<ConnectionManager, RevocationError> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }

        // One attempt per connection: an operation that finds the server
        // down fails at once instead of waiting through retries, and the
        // next operation tries again.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|error| {
                RevocationError(format!(
                    "failed to set up the connection to Redis at {}: {error}",
                    self.redacted_url
                ))
            })?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    fn discard_connection(&self) {
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Runs `command` on the shared connection within the timeout. After an
    /// I/O error, such as a connection that Redis closed when it restarted,
    /// the connection manager reconnects and `command` runs once more.
    async fn run<T, F, Fut>(&self, operation: &str, command: F) -> Result<T, RevocationError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let connection = self.connection()?;
        let attempts = async {
            match command(connection.clone()).await {
                Err(error) if error.is_io_error() => command(connection).await,
                result => result,
            }
        };

        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                // The connection manager reconnects after I/O errors only,
                // and returns a failed login on every later operation. A
                // new manager logs in again, so the store recovers once the
                // server accepts the credentials.
                if error.kind() == ErrorKind::AuthenticationFailed {
                    self.discard_connection();
                }
                Err(self.failure(operation, &error))
            }
            Err(_elapsed) => Err(RevocationError(format!(
                "{operation} in Redis at {} timed out after {:?}; check that the server is up and reachable",
                self.redacted_url, self.timeout
            ))),
        }
    }

    fn failure(&self, operation: &str, error: &RedisError) -> RevocationError {
        let unreachable =
            error.is_connection_refusal() || error.is_connection_dropped() || error.is_timeout();
        let hint = if unreachable {
            "; check that the server is up and reachable"
        } else {
            ""
        };
        RevocationError(format!(
            "{operation} in Redis at {} failed: {error}{hint}",
            self.redacted_url
        ))
    }
}

impl RevocationStore for RedisRevocationStore {
    fn revoke<'a>(
        &'a self,
        key: &'a RevocationKey,
        revoked_at: u64,
        keep_until: u64,
    ) -> StoreFuture<'a, Result<(), RevocationError>> {
        Box::pin(async move {
            if revoked_at > MAX_TIME {
                return Err(RevocationError(format!(
                    "revoked_at {revoked_at} is out of range: expected Unix seconds up to {MAX_TIME}"
                )));
            }
            let keep_until = keep_until.min(MAX_TIME);
            let redis_key = self.redis_key(key);
            let mut invocation = self.revoke_script.key(&redis_key);
            invocation.arg(revoked_at).arg(keep_until);

            self.run("recording a revocation", |mut connection| {
                let invocation = &invocation;
                async move { invocation.invoke_async::<()>(&mut connection).await }
            })
            .await
        })
    }

    fn revoked_at<'a>(
        &'a self,
        keys: &'a [RevocationKey],
    ) -> StoreFuture<'a, Result<Option<u64>, RevocationError>> {
        Box::pin(async move {
            // MGET without keys is a syntax error in Redis.
            if keys.is_empty() {
                return Ok(None);
            }
            let mut command = redis::cmd("MGET");
            for key in keys {
                command.arg(self.redis_key(key));
            }

            let values: Vec<Option<u64>> = self
                .run("reading revocations", |mut connection| {
                    let command = &command;
                    async move { command.query_async(&mut connection).await }
                })
                .await?;
            Ok(values.into_iter().flatten().max())
        })
    }
}

/// Returns the URL with its password, if any, replaced by `***`.
fn redact(mut url: url::Url) -> String {
    if url.password().is_some() {
        // Fails only for URLs that cannot have a password, which have none.
        let _ = url.set_password(Some("***"));
    }
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_accepts_redis_and_rediss() {
        for url in [
            "redis://127.0.0.1",
            "redis://127.0.0.1:6380/2",
            "redis://:secret@localhost:6379",
            "redis://app:secret@localhost:6379/0",
            "rediss://app:secret@redis.example:6380",
        ] {
            assert!(
                RedisRevocationStore::open(url).is_ok(),
                "{url} was rejected"
            );
        }
    }

    #[test]
    fn open_rejects_invalid_urls_without_echoing_them() {
        for url in [
            "",
            "127.0.0.1:6379",
            "http://:hunter2@localhost:6379",
            "unix:///run/redis.sock?pass=hunter2",
            "redis://:hunter2@localhost:6379/notanumber",
            "redis://:hunter2@:6379",
        ] {
            let error = RedisRevocationStore::open(url).expect_err(url);
            let message = error.to_string();
            assert!(message.contains("invalid Redis URL"), "{url}: {message}");
            assert!(!message.contains("hunter2"), "{url}: {message}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let store = RedisRevocationStore::open("redis://app:hunter2@localhost:6379/1").unwrap();
        let debug = format!("{store:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("redis://app:***@localhost:6379/1"),
            "{debug}"
        );
        assert!(debug.contains("roq:revoked:"), "{debug}");
    }

    #[test]
    fn redis_key_has_prefix_and_kind() {
        let store = RedisRevocationStore::open("redis://localhost")
            .unwrap()
            .with_prefix("app1:");
        let key = RevocationKey::Subject("alice".into());
        assert_eq!(store.redis_key(&key), "app1:u:alice");
        assert_eq!(store.prefix(), "app1:");
    }

    #[test]
    fn defaults_and_timeout_setter() {
        let store = RedisRevocationStore::open("redis://localhost").unwrap();
        assert_eq!(store.prefix(), DEFAULT_PREFIX);
        assert_eq!(store.timeout(), DEFAULT_TIMEOUT);
        let store = store.with_timeout(Duration::from_millis(250));
        assert_eq!(store.timeout(), Duration::from_millis(250));
    }
}
