//! Test harness: starts the real OpenID provider (`oidc-provider` under
//! Node) and a demo app as child processes on 127.0.0.1, and drives a
//! sign-in over real HTTP with a cookie jar.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

/// How long a child process may take to print its ready line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The client the tests register at the provider.
pub const CLIENT_ID: &str = "roq-test-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "roq-test-secret";
/// A fixed `ROQ_SECRET` for the demo under test.
pub const APP_SECRET: &str = "4f1c2a9b8e7d6c5b4a3928171615141312111009080706050403020100ffeedd";

/// First port [`free_port`] hands out. The range 20000 to 29999 lies below
/// Linux's default ephemeral range (32768 to 60999), where servers bound to
/// port 0, such as the provider, get theirs, so the two never collide.
const FIRST_TEST_PORT: u16 = 20_000;
const TEST_PORTS: u16 = 10_000;

/// Returns a port that was free a moment ago, for a server that must be
/// known before it starts (the provider registers the app's redirect URI).
/// No two calls in one test process return the same port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);

    // Test binaries run one after another, but start each at its own
    // offset so that a port a previous binary left in TIME_WAIT is skipped
    // less often.
    let offset = (std::process::id() % u32::from(TEST_PORTS)) as u16;
    for _ in 0..TEST_PORTS {
        let index = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST_TEST_PORT + (offset + index % TEST_PORTS) % TEST_PORTS;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free port between {FIRST_TEST_PORT} and {}",
        FIRST_TEST_PORT + TEST_PORTS - 1
    );
}

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running `oidc-provider`, stopped on drop.
pub struct OidcProvider {
    child: Child,
    /// The issuer, such as `http://127.0.0.1:40123`.
    pub issuer: String,
}

impl OidcProvider {
    /// Starts the provider with one client whose redirect URIs point at an
    /// app on `app_origin`.
    pub async fn start(app_origin: &str) -> OidcProvider {
        OidcProvider::start_with_host(app_origin, "127.0.0.1").await
    }

    /// Starts the provider like [`OidcProvider::start`], with the issuer
    /// `http://{host}:PORT`. It still listens on 127.0.0.1 only, so `host`
    /// must resolve there. The browser tests use `localhost`, so that the
    /// provider and an app on 127.0.0.1 are two sites.
    pub async fn start_with_host(app_origin: &str, host: &str) -> OidcProvider {
        let clients = serde_json::json!([{
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [format!("{app_origin}/api/auth/callback")],
            "post_logout_redirect_uris": [format!("{app_origin}/")],
        }]);
        let script = repository_root().join("tests/provider/server.js");
        let mut command = Command::new("node");
        command
            .arg(script)
            .env("PROVIDER_PORT", "0")
            .env("PROVIDER_HOST", host)
            .env("PROVIDER_CLIENTS", clients.to_string());
        let (child, line) =
            spawn_and_wait(command, |line| line.contains("\"event\":\"listening\"")).await;

        let ready: serde_json::Value =
            serde_json::from_str(&line).expect("the provider prints JSON");
        let issuer = ready["issuer"]
            .as_str()
            .expect("the ready line has an issuer")
            .to_owned();
        OidcProvider { child, issuer }
    }

    /// Stops the provider and waits until it has exited, so that requests
    /// to it fail from then on.
    pub async fn stop(mut self) {
        self.child
            .kill()
            .await
            .expect("the provider can be stopped");
    }
}

/// A running demo app (an example binary of this repository), stopped on
/// drop.
pub struct Demo {
    child: Child,
    /// The app's origin, such as `http://127.0.0.1:40124`.
    pub origin: String,
    /// What the app printed up to its ready line.
    pub banner: Vec<String>,
}

/// Returns the path of an example's binary, which `cargo test` builds next
/// to the test binaries.
pub fn example_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    profile_dir.join("examples").join(name)
}

/// Returns the command that runs the example `name` listening on `bind`,
/// with an empty environment apart from `PATH`, log level `info` without
/// colours, and `env`.
fn demo_command(name: &str, bind: &str, env: &[(&str, &str)]) -> Command {
    let binary = example_binary(name);
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --examples` or the whole `cargo test` first",
        binary.display()
    );

    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ROQ_BIND", bind)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

impl Demo {
    /// Starts the example `name` on `port` with the given extra environment.
    pub async fn start(name: &str, port: u16, env: &[(&str, &str)]) -> Demo {
        let command = demo_command(name, &format!("127.0.0.1:{port}"), env);

        let mut banner = Vec::new();
        let (child, line) =
            spawn_and_collect(command, "roq-auth demo listening on ", &mut banner).await;
        let origin = line
            .trim()
            .strip_prefix("roq-auth demo listening on ")
            .expect("the ready line names the origin")
            .to_owned();
        Demo {
            child,
            origin,
            banner,
        }
    }

    /// Starts the example against the given provider with the test client.
    pub async fn start_with_provider(name: &str, port: u16, provider: &OidcProvider) -> Demo {
        Demo::start_with_secrets(name, port, provider, APP_SECRET, None).await
    }

    /// Starts the example against the given provider with the given
    /// `ROQ_SECRET` and, optionally, `ROQ_PREVIOUS_SECRETS`.
    pub async fn start_with_secrets(
        name: &str,
        port: u16,
        provider: &OidcProvider,
        secret: &str,
        previous_secrets: Option<&str>,
    ) -> Demo {
        let mut env = vec![
            ("ROQ_ISSUER_URL", provider.issuer.as_str()),
            ("ROQ_CLIENT_ID", CLIENT_ID),
            ("ROQ_CLIENT_SECRET", CLIENT_SECRET),
            ("ROQ_SECRET", secret),
        ];
        if let Some(previous) = previous_secrets {
            env.push(("ROQ_PREVIOUS_SECRETS", previous));
        }
        Demo::start(name, port, &env).await
    }

    /// Stops the app and waits until it has exited, so its port is free.
    pub async fn stop(mut self) {
        self.child.kill().await.expect("the demo can be stopped");
    }

    /// Returns the absolute URL of a path on the app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }
}

/// Starts `command` and waits until a stdout line satisfies `ready`.
async fn spawn_and_wait(command: Command, ready: impl Fn(&str) -> bool) -> (Child, String) {
    let mut lines = Vec::new();
    spawn_until(command, ready, &mut lines).await
}

async fn spawn_and_collect(
    command: Command,
    prefix: &str,
    lines: &mut Vec<String>,
) -> (Child, String) {
    spawn_until(command, |line| line.starts_with(prefix), lines).await
}

async fn spawn_until(
    mut command: Command,
    ready: impl Fn(&str) -> bool,
    lines: &mut Vec<String>,
) -> (Child, String) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the child process starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut reader = BufReader::new(stdout).lines();

    let wait = async {
        while let Some(line) = reader.next_line().await.expect("stdout is readable") {
            if ready(&line) {
                return Some(line);
            }
            lines.push(line);
        }
        None
    };
    let line = tokio::time::timeout(START_TIMEOUT, wait)
        .await
        .expect("the child printed its ready line in time")
        .unwrap_or_else(|| panic!("the child exited before it was ready; it printed {lines:?}"));

    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = reader.next_line().await {} });
    (child, line)
}

/// Builds an HTTP client that stores cookies like a browser but follows no
/// redirect, so that every hop can be inspected.
pub fn browser() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("the test client builds");
    (client, jar)
}

/// Returns the `Location` of a redirect, resolved against the request URL.
pub fn location(response: &Response) -> String {
    assert!(
        response.status().is_redirection(),
        "expected a redirect from {}, got {}",
        response.url(),
        response.status()
    );
    let location = response
        .headers()
        .get(LOCATION)
        .expect("a redirect has a Location")
        .to_str()
        .expect("Location is ASCII");
    response
        .url()
        .join(location)
        .expect("Location resolves")
        .to_string()
}

/// Returns the `Set-Cookie` header that sets or removes `name`.
pub fn set_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
}

/// Start of the names of the transaction cookies, one per sign-in.
pub const TRANSACTION_COOKIE_PREFIX: &str = "roq_tx_";

/// Returns the first `Set-Cookie` header that sets or removes a
/// transaction cookie.
pub fn transaction_set_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(TRANSACTION_COOKIE_PREFIX))
}

/// Returns a query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Signs in at `oidc-provider` from its authorization URL and returns the
/// callback URL it redirects to. `login` becomes the user's `sub`.
pub async fn complete_oidc_provider_login(
    client: &reqwest::Client,
    authorization_url: &str,
    login: &str,
) -> String {
    // The authorization request leads to the login interaction, unless the
    // provider already has a session for this browser and redirects at once.
    let response = client.get(authorization_url).send().await.unwrap();
    let interaction = location(&response);
    if !interaction.contains("/interaction/") {
        return interaction;
    }

    let response = client
        .post(&interaction)
        .form(&[("prompt", "login"), ("login", login), ("password", "any")])
        .send()
        .await
        .unwrap();
    let resume = location(&response);
    let response = client.get(&resume).send().await.unwrap();
    let consent = location(&response);
    if !consent.contains("/interaction/") {
        return consent;
    }

    // The consent interaction, the first time this client requests access.
    let response = client
        .post(&consent)
        .form(&[("prompt", "consent")])
        .send()
        .await
        .unwrap();
    let resume = location(&response);
    let response = client.get(&resume).send().await.unwrap();
    location(&response)
}

/// Confirms sign-out at `oidc-provider` from its end-session URL and
/// returns the URL it sends the browser back to.
pub async fn confirm_oidc_provider_logout(
    client: &reqwest::Client,
    end_session_url: &str,
) -> String {
    let page = client.get(end_session_url).send().await.unwrap();
    let form_url = page.url().clone();
    let body = expect_status(page, StatusCode::OK).await;
    let xsrf = body
        .split("name=\"xsrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no xsrf field in the logout form: {body}"))
        .to_owned();
    let confirm = form_url.join("/session/end/confirm").unwrap();
    let response = client
        .post(confirm)
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap();
    location(&response)
}

/// Follows the app from a protected page to the provider's authorization
/// URL: page → login route → provider. Returns the authorization URL.
pub async fn start_sign_in(client: &reqwest::Client, demo: &Demo, page: &str) -> String {
    let response = client.get(demo.url(page)).send().await.unwrap();
    let login = location(&response);
    let response = client.get(&login).send().await.unwrap();
    location(&response)
}

/// Signs in through the whole flow and returns the callback's response.
pub async fn sign_in(client: &reqwest::Client, demo: &Demo, page: &str, login: &str) -> Response {
    let authorization = start_sign_in(client, demo, page).await;
    let callback = complete_oidc_provider_login(client, &authorization, login).await;
    client.get(&callback).send().await.unwrap()
}

/// Asserts a response status with its body in the message.
pub async fn expect_status(response: Response, expected: StatusCode) -> String {
    let status = response.status();
    let url = response.url().to_string();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(
        status, expected,
        "unexpected status from {url}; body: {body}"
    );
    body
}

/// Signs in at the demo's embedded development provider from its
/// authorization URL and returns the callback URL it redirects to. Its form
/// repeats the authorization parameters in hidden fields.
pub async fn complete_dev_provider_login(
    client: &reqwest::Client,
    authorization_url: &str,
    login: &str,
) -> String {
    let page = client.get(authorization_url).send().await.unwrap();
    let body = expect_status(page, StatusCode::OK).await;
    assert!(
        body.contains("name=\"username\""),
        "expected the login form, got {body}"
    );

    let mut form_url = Url::parse(authorization_url).unwrap();
    let mut form: Vec<(String, String)> = form_url.query_pairs().into_owned().collect();
    form.push(("username".into(), login.into()));
    form.push(("action".into(), "login".into()));
    form_url.set_query(None);

    let response = client.post(form_url).form(&form).send().await.unwrap();
    location(&response)
}

/// How long [`DemoLog::wait_for`] waits for a line: the demo writes its log
/// line before it sends the response, so the line is normally there at once.
const LOG_WAIT: Duration = Duration::from_secs(3);

/// Every line a demo printed on stdout and stderr, with ANSI colour codes
/// removed, for tests that check what the server logged. `tracing`'s default
/// writer is stdout, so the log lines arrive there.
#[derive(Clone, Default)]
pub struct DemoLog {
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl DemoLog {
    fn push(&self, line: &str) {
        self.lines
            .lock()
            .expect("the log lock is never poisoned")
            .push(strip_ansi(line));
    }

    /// Returns the number of lines so far: a mark for
    /// [`DemoLog::lines_since`].
    pub fn len(&self) -> usize {
        self.lines
            .lock()
            .expect("the log lock is never poisoned")
            .len()
    }

    /// Returns whether nothing was printed yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the lines printed after the first `mark` lines.
    pub fn lines_since(&self, mark: usize) -> Vec<String> {
        let lines = self.lines.lock().expect("the log lock is never poisoned");
        lines.get(mark..).unwrap_or_default().to_vec()
    }

    /// Returns every line so far, joined with newlines.
    pub fn text(&self) -> String {
        self.lines_since(0).join("\n")
    }

    /// Waits up to 3 seconds for a line after `mark` that satisfies
    /// `matches`, and returns it.
    pub async fn wait_for(&self, mark: usize, matches: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = tokio::time::Instant::now() + LOG_WAIT;
        loop {
            if let Some(line) = self
                .lines_since(mark)
                .into_iter()
                .find(|line| matches(line))
            {
                return Some(line);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Removes ANSI escape sequences (`ESC [ … letter`) from a line.
fn strip_ansi(line: &str) -> String {
    let mut text = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    text
}

impl Demo {
    /// Starts the example `name` like [`Demo::start`], but collects what it
    /// prints on stdout and stderr into the returned [`DemoLog`] instead of
    /// passing stderr through. Port 0 lets the demo pick a free port, which
    /// `origin` then names.
    pub async fn start_logged(name: &str, port: u16, env: &[(&str, &str)]) -> (Demo, DemoLog) {
        let command = demo_command(name, &format!("127.0.0.1:{port}"), env);

        let log = DemoLog::default();
        let (child, line) = spawn_logged(command, "roq-auth demo listening on ", &log).await;
        let origin = line
            .trim()
            .strip_prefix("roq-auth demo listening on ")
            .expect("the ready line names the origin")
            .to_owned();
        let banner = log.lines_since(0);
        (
            Demo {
                child,
                origin,
                banner,
            },
            log,
        )
    }
}

/// Starts `command` with stdout and stderr piped into `log`, and waits
/// until a stdout line starts with `prefix`. That line is not logged.
async fn spawn_logged(mut command: Command, prefix: &str, log: &DemoLog) -> (Child, String) {
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
            stderr_log.push(&line);
        }
    });

    let wait = async {
        while let Some(line) = stdout.next_line().await.expect("stdout is readable") {
            if line.starts_with(prefix) {
                return Some(line);
            }
            log.push(&line);
        }
        None
    };
    let line = tokio::time::timeout(START_TIMEOUT, wait)
        .await
        .expect("the child printed its ready line in time")
        .unwrap_or_else(|| {
            panic!(
                "the child exited before it was ready; it printed:\n{}",
                log.text()
            )
        });

    let stdout_log = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            stdout_log.push(&line);
        }
    });
    (child, line)
}

impl OidcProvider {
    /// Starts the provider like [`OidcProvider::start`], but on a fixed
    /// `port`, so that a test can start it after an app that already names
    /// `http://127.0.0.1:{port}` as its issuer.
    pub async fn start_on_port(app_origin: &str, port: u16) -> OidcProvider {
        let clients = serde_json::json!([{
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [format!("{app_origin}/api/auth/callback")],
            "post_logout_redirect_uris": [format!("{app_origin}/")],
        }]);
        let script = repository_root().join("tests/provider/server.js");
        let mut command = Command::new("node");
        command
            .arg(script)
            .env("PROVIDER_PORT", port.to_string())
            .env("PROVIDER_HOST", "127.0.0.1")
            .env("PROVIDER_CLIENTS", clients.to_string());
        let (child, line) =
            spawn_and_wait(command, |line| line.contains("\"event\":\"listening\"")).await;

        let ready: serde_json::Value =
            serde_json::from_str(&line).expect("the provider prints JSON");
        let issuer = ready["issuer"]
            .as_str()
            .expect("the ready line has an issuer")
            .to_owned();
        OidcProvider { child, issuer }
    }
}

/// How a demo ended that exited by itself, with everything it printed.
pub struct DemoExit {
    /// The exit status.
    pub status: std::process::ExitStatus,
    /// Standard output, where the demo prints its ready line.
    pub stdout: String,
    /// Standard error, where the demo prints its log and its final error.
    pub stderr: String,
}

impl Demo {
    /// Runs the example `name` with only `env` (plus `PATH`, and `ROQ_BIND`
    /// on a port the system picks) and waits up to `limit` for it to exit
    /// by itself, as it must when a setting is invalid.
    ///
    /// # Panics
    ///
    /// When the binary is missing, or the demo still runs after `limit`; it
    /// is then killed.
    pub async fn run_until_exit(name: &str, env: &[(&str, &str)], limit: Duration) -> DemoExit {
        let mut command = demo_command(name, "127.0.0.1:0", env);
        command.stdin(Stdio::null()).kill_on_drop(true);

        let names: Vec<&str> = env.iter().map(|(key, _)| *key).collect();
        let output = tokio::time::timeout(limit, command.output())
            .await
            .unwrap_or_else(|_| {
                panic!("{name} was still running after {limit:?} with {names:?} set")
            })
            .expect("the demo process starts");
        DemoExit {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs every case against each adapter's demo: module `axum` runs it
/// against `demo`, module `actix` against `demo_actix`, one test per case.
/// A case is an async function of the example's name. Attributes written
/// before a case, such as `#[ignore]`, apply to both of its tests.
#[allow(unused_macros)]
macro_rules! demo_suite {
    ($($(#[$attribute:meta])* $case:ident),* $(,)?) => {
        mod axum {
            $(
                #[tokio::test]
                $(#[$attribute])*
                async fn $case() {
                    super::$case("demo").await;
                }
            )*
        }
        mod actix {
            $(
                #[tokio::test]
                $(#[$attribute])*
                async fn $case() {
                    super::$case("demo_actix").await;
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use demo_suite;
