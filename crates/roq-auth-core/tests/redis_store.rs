//! `RedisRevocationStore` against a real Redis server.
//!
//! Each test starts its own `redis-server` on a free port of 127.0.0.1,
//! without persistence, and kills it when the test ends. The binary is
//! `redis-server` from `PATH` (Debian's package installs
//! `/usr/bin/redis-server`), or the path in the `REDIS_SERVER` environment
//! variable.
#![cfg(feature = "redis")]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use roq_auth_core::redis_store::RedisRevocationStore;
use roq_auth_core::{RevocationKey, RevocationStore};

/// A `redis-server` child process, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
    password: Option<String>,
}

impl RedisServer {
    fn start() -> RedisServer {
        RedisServer::start_on(free_port(), None)
    }

    fn start_on(port: u16, password: Option<&str>) -> RedisServer {
        RedisServer::start_with(port, password, &[])
    }

    fn start_with(port: u16, password: Option<&str>, extra_args: &[&str]) -> RedisServer {
        let binary = std::env::var_os("REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
        let mut command = Command::new(&binary);
        command
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .args(extra_args);
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let child = command.spawn().unwrap_or_else(|error| {
            panic!(
                "could not start {binary:?}: {error}; install Debian's redis-server package \
                 or set REDIS_SERVER to the binary's path"
            )
        });
        let server = RedisServer {
            child,
            port,
            password: password.map(str::to_owned),
        };
        server.wait_until_ready();
        server
    }

    fn url(&self) -> String {
        url_for(self.port)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Opens a synchronous connection that bypasses the store, to inspect keys.
    fn admin(&self) -> redis::Connection {
        let url = match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => self.url(),
        };
        redis::Client::open(url)
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
            .expect("admin connection to the test server")
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.replies_to_ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn replies_to_ping(&self) -> bool {
        if TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            return false;
        }
        let mut connection = self.admin();
        redis::cmd("PING").query::<String>(&mut connection).is_ok()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {} failed", self.pid());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A stopped process does not act on SIGKILL until it continues.
        let _ = Command::new("kill").args(["-CONT", &self.pid()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

fn url_for(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn session(id: &str) -> RevocationKey {
    RevocationKey::Session(id.to_owned())
}

#[tokio::test]
async fn revoke_then_read() {
    let server = RedisServer::start();
    let store = RedisRevocationStore::open(&server.url()).unwrap();
    let keep_until = now() + 600;

    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), None);
    store.revoke(&session("a"), 100, keep_until).await.unwrap();

    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(100));
    assert_eq!(store.revoked_at(&[session("b")]).await.unwrap(), None);
    assert_eq!(
        store
            .revoked_at(&[session("b"), session("a")])
            .await
            .unwrap(),
        Some(100)
    );
    assert_eq!(store.revoked_at(&[]).await.unwrap(), None);

    let mut admin = server.admin();
    let stored: String = redis::cmd("GET")
        .arg("roq:revoked:s:a")
        .query(&mut admin)
        .unwrap();
    assert_eq!(stored, "100");
}

#[tokio::test]
async fn later_time_wins() {
    let server = RedisServer::start();
    let store = RedisRevocationStore::open(&server.url()).unwrap();
    let keep_until = now() + 600;
    let alice = RevocationKey::Subject("alice".into());

    store.revoke(&session("a"), 100, keep_until).await.unwrap();
    store.revoke(&session("a"), 50, keep_until).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(100));

    store.revoke(&session("a"), 200, keep_until).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(200));

    // The maximum over several keys.
    store.revoke(&alice, 300, keep_until).await.unwrap();
    let both = [session("a"), alice.clone()];
    assert_eq!(store.revoked_at(&both).await.unwrap(), Some(300));
    store.revoke(&session("a"), 400, keep_until).await.unwrap();
    assert_eq!(store.revoked_at(&both).await.unwrap(), Some(400));
}

#[tokio::test]
async fn kinds_and_prefixes_do_not_collide() {
    let server = RedisServer::start();
    let store = RedisRevocationStore::open(&server.url()).unwrap();
    let other_app = RedisRevocationStore::open(&server.url())
        .unwrap()
        .with_prefix("other-app:");
    let second_instance = RedisRevocationStore::open(&server.url()).unwrap();
    let keep_until = now() + 600;

    store
        .revoke(&RevocationKey::Subject("x".into()), 10, keep_until)
        .await
        .unwrap();

    assert_eq!(store.revoked_at(&[session("x")]).await.unwrap(), None);
    let provider_session = RevocationKey::ProviderSession("x".into());
    assert_eq!(store.revoked_at(&[provider_session]).await.unwrap(), None);
    let subject = [RevocationKey::Subject("x".into())];
    assert_eq!(other_app.revoked_at(&subject).await.unwrap(), None);
    // Another store with the same prefix, as on another instance of the
    // application, reads the revocation.
    assert_eq!(
        second_instance.revoked_at(&subject).await.unwrap(),
        Some(10)
    );

    other_app
        .revoke(&RevocationKey::Subject("x".into()), 20, keep_until)
        .await
        .unwrap();
    assert_eq!(store.revoked_at(&subject).await.unwrap(), Some(10));
    assert_eq!(other_app.revoked_at(&subject).await.unwrap(), Some(20));
}

#[tokio::test]
async fn record_expires_at_keep_until() {
    let server = RedisServer::start();
    let store = RedisRevocationStore::open(&server.url()).unwrap();
    let mut admin = server.admin();
    let keep_until = now() + 2;

    store
        .revoke(&session("short"), 100, keep_until)
        .await
        .unwrap();
    let expire_time: u64 = redis::cmd("EXPIRETIME")
        .arg("roq:revoked:s:short")
        .query(&mut admin)
        .unwrap();
    assert_eq!(expire_time, keep_until);
    assert_eq!(
        store.revoked_at(&[session("short")]).await.unwrap(),
        Some(100)
    );

    // Redis deletes the key once its expiry time is in the past.
    while now() <= keep_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.revoked_at(&[session("short")]).await.unwrap(), None);
}

#[tokio::test]
async fn expiry_is_never_shortened() {
    let server = RedisServer::start();
    let store = RedisRevocationStore::open(&server.url()).unwrap();
    let mut admin = server.admin();
    let key = "roq:revoked:s:a";
    let start = now();
    let expire_time = |admin: &mut redis::Connection| -> i64 {
        redis::cmd("EXPIRETIME").arg(key).query(admin).unwrap()
    };

    store.revoke(&session("a"), 100, start + 500).await.unwrap();
    assert_eq!(expire_time(&mut admin), (start + 500) as i64);

    // A later revocation that may be dropped sooner rewrites the value,
    // which clears the expiry in Redis, so the script restores the later one.
    store.revoke(&session("a"), 200, start + 5).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(200));
    assert_eq!(expire_time(&mut admin), (start + 500) as i64);

    // An earlier revocation with a shorter expiry changes nothing.
    store.revoke(&session("a"), 150, start + 5).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(200));
    assert_eq!(expire_time(&mut admin), (start + 500) as i64);

    // A longer expiry extends the record, even with an earlier time.
    store.revoke(&session("a"), 150, start + 900).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(200));
    assert_eq!(expire_time(&mut admin), (start + 900) as i64);

    // A key that something else wrote without an expiry keeps none.
    let _: () = redis::cmd("SET")
        .arg("roq:revoked:s:b")
        .arg("5")
        .query(&mut admin)
        .unwrap();
    store.revoke(&session("b"), 7, start + 5).await.unwrap();
    assert_eq!(store.revoked_at(&[session("b")]).await.unwrap(), Some(7));
    let ttl: i64 = redis::cmd("TTL")
        .arg("roq:revoked:s:b")
        .query(&mut admin)
        .unwrap();
    assert_eq!(ttl, -1);
}

#[tokio::test]
async fn redis_down_at_open_then_up() {
    let port = free_port();
    let store = RedisRevocationStore::open(&url_for(port)).unwrap();

    let error = store.revoked_at(&[session("a")]).await.unwrap_err();
    assert!(error.to_string().contains("reading revocations"), "{error}");

    let _server = RedisServer::start_on(port, None);
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), None);
    store.revoke(&session("a"), 100, now() + 600).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(100));
}

#[tokio::test]
async fn redis_down_gives_clear_error() {
    let port = free_port();
    let store = RedisRevocationStore::open(&url_for(port)).unwrap();
    let address = format!("127.0.0.1:{port}");

    let started = Instant::now();
    let error = store
        .revoke(&session("a"), 100, now() + 600)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("recording a revocation"), "{error}");
    assert!(error.contains(&address), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");

    let error = store
        .revoked_at(&[session("a")])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("reading revocations"), "{error}");
    assert!(error.contains(&address), "{error}");
    // A refused connection fails at once, not after the 2 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn killed_redis_is_an_error_until_restarted() {
    let port = free_port();
    let server = RedisServer::start_on(port, None);
    let store = RedisRevocationStore::open(&url_for(port)).unwrap();
    store.revoke(&session("a"), 100, now() + 600).await.unwrap();

    drop(server);
    let error = store.revoked_at(&[session("a")]).await.unwrap_err();
    assert!(error.to_string().contains("reading revocations"), "{error}");

    // The new server starts empty, since persistence is off. The store
    // reconnects without an error on the first operation.
    let _server = RedisServer::start_on(port, None);
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), None);
}

#[tokio::test]
async fn restart_between_operations_is_transparent() {
    let port = free_port();
    let server = RedisServer::start_on(port, None);
    let store = RedisRevocationStore::open(&url_for(port)).unwrap();
    store.revoke(&session("a"), 100, now() + 600).await.unwrap();

    drop(server);
    let _server = RedisServer::start_on(port, None);
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), None);
    store.revoke(&session("a"), 200, now() + 600).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(200));
}

/// The connection's I/O task runs on the runtime that opened it, as on one
/// Actix Web worker. When that runtime stops, the store reconnects on the
/// runtime of the next operation.
#[test]
fn store_outlives_its_first_runtime() {
    let server = RedisServer::start();
    let store = RedisRevocationStore::open(&server.url()).unwrap();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };

    let first = runtime();
    first
        .block_on(store.revoke(&session("a"), 100, now() + 600))
        .unwrap();
    drop(first);

    let second = runtime();
    let found = second.block_on(store.revoked_at(&[session("a")])).unwrap();
    assert_eq!(found, Some(100));
}

#[tokio::test]
async fn silent_listener_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts connections and keeps them open without ever replying.
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming() {
            open.push(stream);
        }
    });
    let timeout = Duration::from_millis(300);
    let store = RedisRevocationStore::open(&url_for(port))
        .unwrap()
        .with_timeout(timeout);

    for attempt in 0..2 {
        let started = Instant::now();
        let error = store
            .revoked_at(&[session("a")])
            .await
            .unwrap_err()
            .to_string();
        let elapsed = started.elapsed();
        assert!(error.contains("timed out"), "attempt {attempt}: {error}");
        assert!(elapsed >= timeout, "attempt {attempt}: {elapsed:?}");
        assert!(
            elapsed < Duration::from_secs(1),
            "attempt {attempt}: {elapsed:?}"
        );
    }

    let started = Instant::now();
    let error = store
        .revoke(&session("a"), 100, now() + 600)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("timed out"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn stopped_server_times_out_then_recovers() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(300);
    let store = RedisRevocationStore::open(&server.url())
        .unwrap()
        .with_timeout(timeout);
    store.revoke(&session("a"), 100, now() + 600).await.unwrap();

    // SIGSTOP freezes the server with the connection open: requests are
    // sent but get no reply.
    server.signal("-STOP");
    let started = Instant::now();
    let error = store
        .revoked_at(&[session("b")])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("timed out"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // The late reply to the timed-out MGET must not be taken for the
    // reply to a later one.
    server.signal("-CONT");
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(100));
    assert_eq!(store.revoked_at(&[session("b")]).await.unwrap(), None);
}

#[tokio::test]
async fn wrong_password_recovers_once_fixed() {
    let port = free_port();
    let server = RedisServer::start_on(port, Some("admin-secret"));
    let store =
        RedisRevocationStore::open(&format!("redis://:store-secret@127.0.0.1:{port}")).unwrap();

    let error = store
        .revoked_at(&[session("a")])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("reading revocations"), "{error}");
    assert!(!error.contains("store-secret"), "{error}");

    // The operator changes the server's password to the one in the URL.
    let mut admin = server.admin();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("store-secret")
        .query(&mut admin)
        .unwrap();

    store.revoke(&session("a"), 100, now() + 600).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(100));
}

/// The environment variable through which `rediss_verifies_certificates`
/// hands the server's URL to `rediss_client_in_child`.
const TLS_URL_VARIABLE: &str = "ROQ_TEST_REDISS_URL";

/// Runs `openssl` with `args` in `directory`, and panics when it fails.
fn openssl(directory: &std::path::Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(directory)
        .output()
        .unwrap_or_else(|error| panic!("could not run openssl (Debian package openssl): {error}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Creates a CA and a certificate for `localhost` signed by it, and
/// returns the directory that contains `ca.crt`, `server.crt` and `server.key`.
fn make_certificates() -> std::path::PathBuf {
    let directory = std::env::temp_dir().join(format!(
        "roq-redis-tls-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&directory).unwrap();
    openssl(
        &directory,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=roq-auth test CA",
            "-days",
            "2",
        ],
    );
    openssl(
        &directory,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(directory.join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        &directory,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-extfile",
            "ext.cnf",
            "-days",
            "2",
        ],
    );
    directory
}

/// `rediss://` verifies the server's certificate against the system's CA
/// store. The test CA is trusted only in a child process, through the
/// `SSL_CERT_FILE` variable that rustls-native-certs reads, because
/// changing the environment of this multi-threaded process is unsound.
#[tokio::test]
async fn rediss_verifies_certificates() {
    let certificates = make_certificates();
    let tls_port = free_port();
    let file = |name: &str| certificates.join(name).to_str().unwrap().to_owned();
    let tls_args = [
        "--tls-port".to_owned(),
        tls_port.to_string(),
        "--tls-cert-file".to_owned(),
        file("server.crt"),
        "--tls-key-file".to_owned(),
        file("server.key"),
        "--tls-ca-cert-file".to_owned(),
        file("ca.crt"),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
    ];
    let tls_args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    let _server = RedisServer::start_with(free_port(), None, &tls_args);
    let url = format!("rediss://localhost:{tls_port}");

    // Without the test CA, the certificate is rejected.
    let store = RedisRevocationStore::open(&url).unwrap();
    let error = store
        .revoked_at(&[session("a")])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("certificate"), "{error}");

    // With it, the child process reads and writes over TLS.
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "rediss_client_in_child", "--nocapture"])
        .env(TLS_URL_VARIABLE, &url)
        .env("SSL_CERT_FILE", file("ca.crt"))
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(stderr.contains("TLS round trip done"), "{stdout}\n{stderr}");

    let _ = std::fs::remove_dir_all(&certificates);
}

/// The half of `rediss_verifies_certificates` that runs in a child process.
/// Run directly, without the parent's variables, it does nothing.
#[tokio::test]
async fn rediss_client_in_child() {
    let Ok(url) = std::env::var(TLS_URL_VARIABLE) else {
        return;
    };
    let store = RedisRevocationStore::open(&url).unwrap();
    store.revoke(&session("a"), 100, now() + 600).await.unwrap();
    assert_eq!(store.revoked_at(&[session("a")]).await.unwrap(), Some(100));
    eprintln!("TLS round trip done");
}
