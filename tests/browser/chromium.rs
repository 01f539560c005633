//! Headless Chromium under chromedriver, driven over WebDriver with
//! `fantoccini`. Every browser gets a fresh profile and can reach only
//! loopback addresses.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Once;
use std::time::Duration;

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::support::free_port;

/// How long chromedriver may take to accept connections.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports to try when chromedriver cannot bind the one it was given.
const DRIVER_START_ATTEMPTS: usize = 3;
/// Limit for one page load, redirects included.
const PAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(20);
/// Limit for one script run with `execute` or `execute_async`.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags for Chromium. Besides running it headless, they keep it from
/// reaching outside hosts on its own (updates, and the web font that the
/// provider's pages import). Host names other than `localhost` do not
/// resolve. Requests for other than loopback addresses go to a proxy on a
/// closed loopback port, and Chromium sends no loopback request through a
/// proxy. Adding `EXCLUDE localhost` would cancel the first rule and let
/// `localhost` resolve to ::1, where nothing listens.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--window-size=1280,900",
];

/// The `chromium` and `chromedriver` executables.
pub struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// Finds `chromium` and `chromedriver` in `PATH`.
///
/// Returns `None`, after printing why once per test binary, when chromium
/// is missing and the environment variable `CI` is unset or empty, so that
/// the browser tests are skipped on a developer machine without it. Panics
/// when chromium is missing under CI, or when chromium is present but
/// chromedriver is not.
pub fn find_tools() -> Option<Tools> {
    const INSTALL: &str = "install them with `apt-get install chromium chromium-driver` (Debian)";
    let in_ci = std::env::var("CI").is_ok_and(|value| !value.is_empty());

    let Some(chromium) = find_in_path("chromium") else {
        assert!(
            !in_ci,
            "chromium was not found in PATH, and CI is set, so the browser tests must run: {INSTALL}"
        );
        static SKIP_NOTICE: Once = Once::new();
        SKIP_NOTICE.call_once(|| {
            // Written to the process's stderr, not with `eprintln!`, so that
            // the test harness does not capture it.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the browser tests need chromium and chromedriver, and chromium was not \
                 found in PATH; {INSTALL}. With CI set, a missing chromium fails these tests instead."
            );
        });
        return None;
    };
    let chromedriver = find_in_path("chromedriver").unwrap_or_else(|| {
        panic!(
            "chromium is at {}, but chromedriver was not found in PATH: {INSTALL}",
            chromium.display()
        )
    });
    Some(Tools {
        chromium,
        chromedriver,
    })
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A headless Chromium session under its own chromedriver.
///
/// Call [`Browser::close`] to quit Chromium. If a `Browser` is dropped
/// without it, chromedriver is killed and, because Chromium outlives a
/// killed chromedriver, so is the Chromium process it started.
pub struct Browser {
    /// The WebDriver client. Clones share the session.
    pub client: Client,
    driver: Child,
    chromium_pid: Option<u32>,
    closed: bool,
}

impl Browser {
    /// Starts chromedriver on a free 127.0.0.1 port and opens a Chromium
    /// session whose profile is `dir/profile`. chromedriver logs to
    /// `dir/chromedriver.log`.
    pub async fn start(tools: &Tools, dir: &Path) -> Browser {
        let log = dir.join("chromedriver.log");
        let (driver, port) = start_driver(tools, &log).await;

        let profile = dir.join("profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| arg.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": tools.chromium,
                "args": args,
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("the capabilities are a JSON object")
        };

        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "chromedriver failed to start {}: {err}; see {}",
                    tools.chromium.display(),
                    log.display()
                )
            });
        let chromium_pid = client
            .capabilities()
            .and_then(|capabilities| capabilities.get("goog:processID"))
            .and_then(|pid| pid.as_u64())
            .and_then(|pid| u32::try_from(pid).ok());

        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(SCRIPT_TIMEOUT),
                Some(PAGE_LOAD_TIMEOUT),
                Some(Duration::ZERO),
            ))
            .await
            .expect("chromedriver accepts the timeouts");

        Browser {
            client,
            driver,
            chromium_pid,
            closed: false,
        }
    }

    /// Ends the WebDriver session, which quits Chromium, then stops
    /// chromedriver.
    pub async fn close(mut self) {
        match self.client.clone().close().await {
            Ok(()) => self.closed = true,
            Err(err) => eprintln!("closing the Chromium session failed: {err}"),
        }
        let _ = self.driver.kill().await;
    }

    /// Saves a screenshot and the HTML of every open tab into `dir` and
    /// returns the paths of the files written. A tab that cannot be read is
    /// reported in place of its files.
    pub async fn save_artifacts(&self, dir: &Path) -> Vec<String> {
        let mut saved = Vec::new();
        let windows = match self.client.windows().await {
            Ok(windows) => windows,
            Err(err) => return vec![format!("(listing the tabs failed: {err})")],
        };
        for (index, window) in windows.into_iter().enumerate() {
            if let Err(err) = self.client.switch_to_window(window).await {
                saved.push(format!("(switching to tab {index} failed: {err})"));
                continue;
            }
            let url = match self.client.current_url().await {
                Ok(url) => url.to_string(),
                Err(err) => format!("unknown URL: {err}"),
            };
            saved.push(format!("tab {index} at {url}:"));

            let screenshot = dir.join(format!("tab{index}.png"));
            match self.client.screenshot().await {
                Ok(png) => saved.push(write_artifact(&screenshot, &png)),
                Err(err) => saved.push(format!("(screenshot failed: {err})")),
            }
            let html = dir.join(format!("tab{index}.html"));
            match self.client.source().await {
                Ok(source) => saved.push(write_artifact(&html, source.as_bytes())),
                Err(err) => saved.push(format!("(reading the HTML failed: {err})")),
            }
        }
        saved
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let _ = self.driver.start_kill();
        if let Some(pid) = self.chromium_pid {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn write_artifact(path: &Path, contents: &[u8]) -> String {
    match std::fs::write(path, contents) {
        Ok(()) => format!("  {}", path.display()),
        Err(err) => format!("  (writing {} failed: {err})", path.display()),
    }
}

/// Starts chromedriver and waits until it accepts connections. Returns it
/// with its port.
async fn start_driver(tools: &Tools, log: &Path) -> (Child, u16) {
    for _ in 0..DRIVER_START_ATTEMPTS {
        let port = free_port();
        let mut driver = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| {
                panic!("starting {} failed: {err}", tools.chromedriver.display())
            });

        let deadline = tokio::time::Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return (driver, port);
            }
            // An exit here usually means that another process took the
            // port since `free_port` saw it free, so try another one.
            if driver.try_wait().ok().flatten().is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not accept connections on 127.0.0.1:{port} within {DRIVER_START_TIMEOUT:?}; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!(
        "chromedriver exited before accepting connections {DRIVER_START_ATTEMPTS} times; see {}",
        log.display()
    )
}
