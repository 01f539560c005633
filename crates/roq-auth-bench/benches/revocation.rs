//! The cost of the revocation check, which runs on every request that
//! reads a session: the revocation time of the three keys of one session
//! (its id, the provider's `sid` and the `sub`), none of them revoked, as
//! for a signed-in user.
//!
//! - `revocation/memory_empty` and `revocation/memory_100k`: the in-memory
//!   store's `revoked_at_now`, which `Auth` calls without a future, on an
//!   empty store and on one with 100,000 other revocations.
//! - `revocation/memory_100k_future`: the same lookup through
//!   `RevocationStore::revoked_at`, whose boxed future is polled once, as
//!   `.await` does inside a request, with no runtime around it.
//! - `revocation/redis_loopback`: the Redis store, one `MGET` to a
//!   `redis-server` that this benchmark starts on 127.0.0.1. It needs
//!   `redis-server` on `PATH` (Debian's package) or its path in
//!   `REDIS_SERVER`.

use std::future::Future;
use std::hint::black_box;
use std::net::TcpListener;
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use roq_auth_core::redis_store::RedisRevocationStore;
use roq_auth_core::{MemoryRevocationStore, RevocationKey, RevocationStore};

const RECORDS: u64 = 100_000;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Returns the keys the library checks for one session.
fn session_keys() -> [RevocationKey; 3] {
    [
        RevocationKey::Session("kJ3v9Xq2bH7sLw0pRt5YzA".into()),
        RevocationKey::ProviderSession("8f14e45f-ceea-467f-a0e6-7d2b1c3e9a51".into()),
        RevocationKey::Subject("248289761001".into()),
    ]
}

/// Polls a future that completes without waiting, as the in-memory
/// store's futures do, and returns its output.
fn poll_ready<F: Future>(future: F) -> F::Output {
    let mut context = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory store's future was not ready at its first poll"),
    }
}

fn memory(c: &mut Criterion) {
    let keys = session_keys();
    let now = now();
    let mut group = c.benchmark_group("revocation");

    let empty = MemoryRevocationStore::default();
    assert_eq!(empty.revoked_at_now(&keys, now), None);
    group.bench_function("memory_empty", |b| {
        b.iter(|| empty.revoked_at_now(black_box(&keys), now))
    });

    // Twice the capacity, so that no shard is full and all records stay.
    let full = MemoryRevocationStore::with_capacity(2 * RECORDS as usize);
    for index in 0..RECORDS {
        let key = RevocationKey::Session(format!("other-session-{index}"));
        full.revoke_now(&key, 1, now + 3_600, now);
    }
    assert_eq!(full.len(), RECORDS as usize);
    assert_eq!(full.revoked_at_now(&keys, now), None);
    group.bench_function("memory_100k", |b| {
        b.iter(|| full.revoked_at_now(black_box(&keys), now))
    });

    assert_eq!(poll_ready(full.revoked_at(&keys)).unwrap(), None);
    group.bench_function("memory_100k_future", |b| {
        b.iter(|| poll_ready(full.revoked_at(black_box(&keys))))
    });

    group.finish();
}

/// A `redis-server` child process without persistence, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("bind a free port")
            .port();
        let binary = std::env::var_os("REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "could not start {binary:?}: {error}; install Debian's redis-server package \
                     or set REDIS_SERVER to the binary's path"
                )
            });
        RedisServer { child, port }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis(c: &mut Criterion) {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let store = RedisRevocationStore::open(&format!("redis://127.0.0.1:{}", server.port))
        .expect("a valid URL");
    let keys = session_keys();

    // Waits until the server accepts connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    while runtime.block_on(store.revoked_at(&keys)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server on port {} did not start within 10 s",
            server.port
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(runtime.block_on(store.revoked_at(&keys)).unwrap(), None);

    let mut group = c.benchmark_group("revocation");
    group.bench_function("redis_loopback", |b| {
        b.iter(|| {
            runtime
                .block_on(store.revoked_at(black_box(&keys)))
                .expect("MGET on loopback")
        })
    });
    group.finish();
}

criterion_group!(benches, memory, redis);
criterion_main!(benches);
