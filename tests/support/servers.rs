//! Servers for the logout, refresh and revocation tests, besides those in
//! `mod.rs`. One is an `oidc-provider` with chosen clients and access token
//! lifetime, which can restart on its port and whose log the test reads. The
//! other is a `redis-server`. Both run as child processes on 127.0.0.1 and
//! are killed on drop.
//!
//! Include it with `#[path = "support/servers.rs"] mod servers;` next to
//! `mod support;`, whose helpers it uses.
#![allow(dead_code)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{free_port, CLIENT_ID, CLIENT_SECRET};

/// How long a child process may take to report that it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The Debian package's Redis server binary.
const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// Every line a child process printed, shared with the tasks that read its
/// pipes.
#[derive(Clone, Default)]
pub struct ProcessLog {
    lines: Arc<Mutex<Vec<String>>>,
}

impl ProcessLog {
    fn push(&self, line: String) {
        self.lines
            .lock()
            .expect("the log lock is never poisoned")
            .push(line);
    }

    /// Returns every line so far, joined with newlines.
    pub fn text(&self) -> String {
        self.lines
            .lock()
            .expect("the log lock is never poisoned")
            .join("\n")
    }

    /// Returns how many lines so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .expect("the log lock is never poisoned")
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Waits up to `limit` until at least `expected` lines contain
    /// `needle`, and returns how many do then.
    pub async fn wait_for_count(&self, needle: &str, expected: usize, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let count = self.count(needle);
            if count >= expected || tokio::time::Instant::now() >= deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Starts `command` with both pipes read into `log`, and waits until a line
/// on stdout satisfies `ready`. Returns the child and that line.
async fn spawn_until_ready(
    mut command: Command,
    log: &ProcessLog,
    ready: impl Fn(&str) -> bool + Send + 'static,
) -> (Child, String) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the child process starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();

    let stderr_log = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            stderr_log.push(line);
        }
    });

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let stdout_log = log.clone();
    tokio::spawn(async move {
        let mut ready_tx = Some(ready_tx);
        while let Ok(Some(line)) = stdout.next_line().await {
            if ready_tx.is_some() && ready(&line) {
                if let Some(sender) = ready_tx.take() {
                    let _ = sender.send(line.clone());
                }
            }
            stdout_log.push(line);
        }
    });

    let line = tokio::time::timeout(START_TIMEOUT, ready_rx)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the child did not report ready within {START_TIMEOUT:?}; it printed:\n{}",
                log.text()
            )
        })
        .unwrap_or_else(|_| {
            panic!(
                "the child exited before it was ready; it printed:\n{}",
                log.text()
            )
        });
    (child, line)
}

/// Returns the provider client entry of the test client for an app on each
/// of `app_origins`: its callback and its `/` as the post-logout redirect.
pub fn test_client(app_origins: &[&str]) -> Value {
    let redirect_uris: Vec<String> = app_origins
        .iter()
        .map(|origin| format!("{origin}/api/auth/callback"))
        .collect();
    let post_logout_redirect_uris: Vec<String> = app_origins
        .iter()
        .map(|origin| format!("{origin}/"))
        .collect();
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout_redirect_uris,
    })
}

/// How to start [`Provider`].
#[derive(Clone)]
pub struct ProviderSettings {
    /// The `PROVIDER_CLIENTS` array, such as `[test_client(...)]`.
    pub clients: Value,
    /// `PROVIDER_ACCESS_TOKEN_TTL` in seconds, or the provider's default
    /// (3600) when `None`.
    pub access_token_ttl: Option<u64>,
    /// Whether the provider also logs each token response's tokens and the
    /// PKCE verifier it received, as `issued {JSON}` lines, for tests that
    /// check the app never logs them.
    pub log_issued_values: bool,
}

/// A running `oidc-provider` (tests/provider/server.js) whose stdout and
/// stderr are kept in [`Provider::log`], killed on drop.
pub struct Provider {
    child: Child,
    settings: ProviderSettings,
    /// The issuer, such as `http://127.0.0.1:40123`.
    pub issuer: String,
    /// The port it listens on.
    pub port: u16,
    /// What it printed, including one `grant.success … grant_type=…` line
    /// per token response and one `backchannel logout sent …` line per
    /// logout token delivered.
    pub log: ProcessLog,
}

impl Provider {
    /// Starts the provider on a port the system picks.
    pub async fn start(settings: ProviderSettings) -> Provider {
        Provider::start_on_port(settings, 0).await
    }

    async fn start_on_port(settings: ProviderSettings, port: u16) -> Provider {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/provider/server.js");
        let mut command = Command::new("node");
        command
            .arg(script)
            .env("PROVIDER_PORT", port.to_string())
            .env("PROVIDER_HOST", "127.0.0.1")
            .env("PROVIDER_CLIENTS", settings.clients.to_string());
        if settings.log_issued_values {
            command.env("PROVIDER_LOG_ISSUED_VALUES", "1");
        }
        if let Some(ttl) = settings.access_token_ttl {
            command.env("PROVIDER_ACCESS_TOKEN_TTL", ttl.to_string());
        }

        let log = ProcessLog::default();
        let (child, line) = spawn_until_ready(command, &log, |line| {
            line.contains("\"event\":\"listening\"")
        })
        .await;
        let ready: Value = serde_json::from_str(&line).expect("the provider prints JSON");
        let issuer = ready["issuer"]
            .as_str()
            .expect("the ready line has an issuer")
            .to_owned();
        let port = ready["port"]
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .expect("the ready line has a port");
        Provider {
            child,
            settings,
            issuer,
            port,
            log,
        }
    }

    /// Kills the provider and starts it again with the same settings on the
    /// same port. Everything it kept in memory is gone: sessions, grants,
    /// and refresh tokens, which it then rejects with `invalid_grant`. Its
    /// signing key is new too. The new process has a new, empty log.
    pub async fn restart(mut self) -> Provider {
        self.child
            .kill()
            .await
            .expect("the provider can be stopped");
        Provider::start_on_port(self.settings.clone(), self.port).await
    }
}

/// A running `redis-server` on 127.0.0.1 that keeps nothing on disk,
/// killed on drop.
pub struct RedisServer {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// What it printed.
    pub log: ProcessLog,
}

impl RedisServer {
    /// Starts `/usr/bin/redis-server` on a free port and waits until it
    /// accepts connections.
    pub async fn start() -> RedisServer {
        assert!(
            std::path::Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: install Debian's redis-server package"
        );
        let port = free_port();
        let mut command = Command::new(REDIS_SERVER);
        command.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        let log = ProcessLog::default();
        let (child, _) = spawn_until_ready(command, &log, |line| {
            line.contains("Ready to accept connections")
        })
        .await;
        RedisServer { child, port, log }
    }

    /// Returns the URL for `ROQ_REDIS_URL`, database 0.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Provider {
    /// Returns every distinct token and PKCE verifier in the provider's
    /// `issued` lines, which it prints when started with
    /// [`ProviderSettings::log_issued_values`], each with its field name.
    pub fn issued_values(&self) -> Vec<(String, String)> {
        let mut values = Vec::new();
        for line in self.log.text().lines() {
            let Some((_, json)) = line.split_once("issued ") else {
                continue;
            };
            let issued: Value = serde_json::from_str(json).expect("an issued line holds JSON");
            for (field, value) in issued.as_object().expect("a JSON object") {
                if let Some(value) = value.as_str() {
                    let entry = (field.clone(), value.to_owned());
                    if !values.contains(&entry) {
                        values.push(entry);
                    }
                }
            }
        }
        values
    }
}
