//! The browser suite: headless Chromium signs in to each demo against a
//! real OpenID provider (`oidc-provider` under Node), as a user would.
//!
//! The provider's issuer is `http://localhost:PORT` and the app is
//! `http://127.0.0.1:PORT`, so that the browser treats them as two sites,
//! as in production. With both on 127.0.0.1 it would send even
//! SameSite=Strict cookies on the way back from the provider, and cookie
//! mistakes would stay hidden.
//!
//! Each case is written once and run against every adapter's demo by the
//! `suite!` macro at the bottom. A failing case saves a screenshot and the
//! HTML of every tab under `target/tmp/browser/<adapter>-<case>/` and names
//! the files in its output. Without `chromium` in `PATH` the cases are
//! skipped, unless `CI` is set.

mod support;

#[path = "browser/chromium.rs"]
mod chromium;
#[path = "browser/page.rs"]
mod page;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::Client;
use serde_json::json;
use tokio::sync::Mutex;

use chromium::{find_tools, Browser};
use page::{
    click, current_url, fetch_in_page, has_element, sign_in_at_provider, text_of, wait_for_url,
};
use support::{free_port, Demo, OidcProvider};

/// Limit for one case, after the provider, the demo and the browser have
/// started.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a case works with: a browser, and the demo and provider it signs in
/// to.
struct Fixture {
    browser: Client,
    demo: Demo,
    /// The provider's issuer, `http://localhost:PORT`.
    issuer: String,
    provider: Mutex<Option<OidcProvider>>,
}

impl Fixture {
    /// Opens a path of the app in the current tab.
    async fn goto(&self, path: &str) {
        let url = self.demo.url(path);
        self.browser
            .goto(&url)
            .await
            .unwrap_or_else(|err| panic!("opening {url} failed: {err}"));
    }

    /// Waits until the current tab shows the provider's login form.
    async fn wait_for_provider_login(&self) -> String {
        let url = wait_for_url(&self.browser, "the provider's login form", |url| {
            url.starts_with(&self.issuer) && url.contains("/interaction/")
        })
        .await;
        assert!(
            has_element(&self.browser, "input[name=login]").await,
            "the page at {url} has no login field"
        );
        url
    }

    /// Waits until the current tab is on `path` of the app, and returns its
    /// URL.
    async fn wait_for_app_page(&self, path: &str) -> String {
        let expected = self.demo.url(path);
        wait_for_url(&self.browser, &expected, |url| url == expected).await
    }

    /// Signs in from the dashboard: opens it, signs in at the provider as
    /// `login`, and checks that the dashboard greets `name`.
    async fn sign_in(&self, login: &str, name: &str) {
        self.goto("/dashboard").await;
        self.wait_for_provider_login().await;
        sign_in_at_provider(&self.browser, &self.demo.origin, login).await;
        self.wait_for_app_page("/dashboard").await;
        assert_eq!(text_of(&self.browser, "#name").await, name);
    }

    /// Returns the names of the session cookies (`roq_session` and its
    /// chunks `roq_session.N`) the browser stores for the current page.
    async fn session_cookie_names(&self) -> Vec<String> {
        self.browser
            .get_all_cookies()
            .await
            .expect("chromedriver returns the cookies")
            .iter()
            .map(|cookie| cookie.name().to_owned())
            .filter(|name| name == "roq_session" || name.starts_with("roq_session."))
            .collect()
    }

    /// Stops the provider, so that no request to it succeeds from then on.
    async fn stop_provider(&self) {
        if let Some(provider) = self.provider.lock().await.take() {
            provider.stop().await;
        }
    }
}

/// Starts the provider, the demo `example` and a browser, runs `case`, and
/// on failure saves the browser's tabs under `target/tmp/browser/{test}/`.
async fn run<F, Fut>(test: &str, example: &str, case: F)
where
    F: FnOnce(Arc<Fixture>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(tools) = find_tools() else {
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("browser")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|err| panic!("creating {} failed: {err}", dir.display()));

    let port = free_port();
    let app_origin = format!("http://127.0.0.1:{port}");
    let provider = OidcProvider::start_with_host(&app_origin, "localhost").await;
    let demo = Demo::start_with_provider(example, port, &provider).await;
    assert_eq!(demo.origin, app_origin);
    assert!(
        provider.issuer.starts_with("http://localhost:"),
        "the provider must be on another site than the app, but its issuer is {}",
        provider.issuer
    );

    let browser = Browser::start(&tools, &dir).await;
    let fixture = Arc::new(Fixture {
        browser: browser.client.clone(),
        demo,
        issuer: provider.issuer.clone(),
        provider: Mutex::new(Some(provider)),
    });

    // The case runs in its own task, so that a panic in it comes back here
    // as a value, and the browser can still be asked for its pages.
    let outcome = tokio::spawn(tokio::time::timeout(CASE_TIMEOUT, case(fixture.clone()))).await;
    let panic = match outcome {
        Ok(Ok(())) => {
            browser.close().await;
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        Ok(Err(_elapsed)) => None,
        Err(join_error) => join_error.try_into_panic().ok(),
    };

    let saved = browser.save_artifacts(&dir).await;
    eprintln!(
        "{test} failed. The browser's tabs are saved:\n{}\nchromedriver's log: {}",
        saved.join("\n"),
        dir.join("chromedriver.log").display()
    );
    browser.close().await;
    let _ = std::fs::remove_dir_all(dir.join("profile"));
    match panic {
        Some(panic) => std::panic::resume_unwind(panic),
        None => panic!("{test} did not finish within {CASE_TIMEOUT:?}"),
    }
}

async fn signed_out_dashboard_shows_provider_login(fx: Arc<Fixture>) {
    fx.goto("/dashboard").await;

    let url = fx.wait_for_provider_login().await;
    assert!(
        has_element(&fx.browser, "input[name=password]").await,
        "the page at {url} has no password field"
    );
}

async fn sign_in_returns_to_dashboard(fx: Arc<Fixture>) {
    fx.sign_in("alice", "Alice Example").await;
    assert_eq!(text_of(&fx.browser, "#sub").await, "alice");

    let cookies = fx
        .browser
        .get_all_cookies()
        .await
        .expect("chromedriver returns the cookies");
    let session = cookies
        .iter()
        .find(|cookie| cookie.name() == "roq_session")
        .expect("the browser stores the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|same_site| same_site.to_string()),
        Some("Lax".to_owned())
    );
    let document_cookie = fx
        .browser
        .execute("return document.cookie", vec![])
        .await
        .expect("the page runs a script");
    assert!(
        !document_cookie.to_string().contains("roq_session"),
        "the page's script can read the session cookie: {document_cookie}"
    );
}

async fn in_page_fetch_returns_user(fx: Arc<Fixture>) {
    fx.sign_in("alice", "Alice Example").await;

    let me = fetch_in_page(&fx.browser, "/api/me").await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(
        me.json,
        json!({"sub": "alice", "name": "Alice Example", "email": "alice@example.test"})
    );

    let session = fetch_in_page(&fx.browser, "/api/auth/session").await;
    assert_eq!(session.status, 200, "{session:?}");
    assert_eq!(session.json["user"]["sub"], "alice");
    assert_eq!(session.json["user"]["name"], "Alice Example");
    assert!(session.json["expires_at"].as_u64().is_some(), "{session:?}");
}

async fn signed_in_login_redirects_to_dashboard(fx: Arc<Fixture>) {
    fx.goto("/login").await;
    fx.wait_for_app_page("/login").await;
    click(&fx.browser, "#sign-in").await;
    fx.wait_for_provider_login().await;
    sign_in_at_provider(&fx.browser, &fx.demo.origin, "bob").await;
    fx.wait_for_app_page("/dashboard").await;

    fx.goto("/login").await;
    fx.wait_for_app_page("/dashboard").await;
    assert_eq!(text_of(&fx.browser, "#name").await, "Bob Example");
}

async fn two_tabs_sign_in_at_once(fx: Arc<Fixture>) {
    let browser = &fx.browser;

    // Both tabs start a sign-in, and each waits at the provider's login
    // form, before either finishes.
    let first = browser.window().await.expect("the first tab has a handle");
    fx.goto("/dashboard").await;
    fx.wait_for_provider_login().await;
    let second = browser
        .new_window(true)
        .await
        .expect("chromedriver opens a tab")
        .handle;
    browser
        .switch_to_window(second.clone())
        .await
        .expect("chromedriver switches tabs");
    fx.goto("/dashboard").await;
    fx.wait_for_provider_login().await;

    for (tab, window) in [("first", &first), ("second", &second)] {
        browser
            .switch_to_window(window.clone())
            .await
            .expect("chromedriver switches tabs");
        let landed = sign_in_at_provider(browser, &fx.demo.origin, "gina").await;
        assert_eq!(
            landed,
            fx.demo.url("/dashboard"),
            "the {tab} tab did not finish its sign-in"
        );
        assert_eq!(text_of(browser, "#name").await, "Gina Example");
        let me = fetch_in_page(browser, "/api/me").await;
        assert_eq!(me.status, 200, "{tab} tab: {me:?}");
    }
}

async fn sign_out_ends_app_session(fx: Arc<Fixture>) {
    fx.sign_in("carol", "Carol Example").await;
    assert_eq!(fx.session_cookie_names().await, ["roq_session"]);

    sign_out(&fx).await;
    let home = text_of(&fx.browser, "body").await;
    assert!(home.contains("You are not signed in"), "{home}");

    assert_eq!(fx.session_cookie_names().await, Vec::<String>::new());
    let me = fetch_in_page(&fx.browser, "/api/me").await;
    assert_eq!(me.status, 401, "{me:?}");
    assert_eq!(me.json, json!({"error": "unauthorized"}));
    let session = fetch_in_page(&fx.browser, "/api/auth/session").await;
    assert_eq!(session.status, 401, "{session:?}");
}

// Chromium 156 keeps the signed-in dashboard in its back/forward cache
// despite `Cache-Control: no-store`, and neither the cookie change nor
// `Clear-Site-Data: "cache"` evicts it. The demo's pages reload themselves
// from a `pageshow` handler when restored from that cache; this case fails
// without it.
async fn back_after_sign_out_shows_no_cached_page(fx: Arc<Fixture>) {
    fx.sign_in("dora", "Dora Example").await;
    // A variable of this page's script survives only if the browser keeps
    // the page itself, in its back/forward cache.
    fx.browser
        .execute("window.roqSignedInPage = true", vec![])
        .await
        .expect("the page runs a script");
    sign_out(&fx).await;

    // With the provider stopped, a fresh request for /dashboard ends at an
    // error page, so the name can come only from a cache. Back twice: past
    // the provider's logout confirmation to the dashboard.
    fx.stop_provider().await;
    fx.browser.back().await.expect("chromedriver goes back");
    fx.browser.back().await.expect("chromedriver goes back");

    // A page restored from the back/forward cache may reload itself from a
    // `pageshow` handler, so give it a moment to do so.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while has_element(&fx.browser, "#name").await && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = current_url(&fx.browser).await;
    let restored = fx
        .browser
        .execute("return window.roqSignedInPage === true", vec![])
        .await
        .is_ok_and(|value| value == json!(true));
    assert!(
        !has_element(&fx.browser, "#name").await,
        "going back after sign-out shows the signed-in dashboard at {url} (restored from the \
         back/forward cache: {restored})"
    );
    let source = fx
        .browser
        .source()
        .await
        .expect("chromedriver reads the page");
    assert!(
        !source.contains("Dora Example"),
        "going back after sign-out shows the user's name at {url}"
    );
}

/// Signs out through the app's sign-out link and the provider's logout
/// confirmation, and waits for the app's home page.
async fn sign_out(fx: &Fixture) {
    click(&fx.browser, "a[href='/api/auth/logout']").await;
    wait_for_url(&fx.browser, "the provider's logout confirmation", |url| {
        url.starts_with(&fx.issuer) && url.contains("/session/end")
    })
    .await;
    click(&fx.browser, "button[name=logout][value=yes]").await;
    fx.wait_for_app_page("/").await;
}

/// Signs out through the provider's logout confirmation: the provider's
/// session ends too, so /dashboard shows its login form again.
async fn sign_out_requires_provider_login_again(fx: Arc<Fixture>) {
    fx.sign_in("erin", "Erin Example").await;
    sign_out(&fx).await;
    let me = fetch_in_page(&fx.browser, "/api/me").await;
    assert_eq!(me.status, 401, "{me:?}");

    fx.goto("/dashboard").await;
    fx.wait_for_provider_login().await;
}

/// Runs every case against each adapter's demo: a module per adapter, with
/// one test per case. The cases after `ignored:` are compiled and marked
/// `#[ignore]` with the given reason.
macro_rules! suite {
    (
        cases: [$($case:ident),* $(,)?],
        ignored: [$($ignored:ident => $reason:literal),* $(,)?] $(,)?
    ) => {
        suite!(@adapter axum, "demo", [$($case),*], [$($ignored => $reason),*]);
        suite!(@adapter actix, "demo_actix", [$($case),*], [$($ignored => $reason),*]);
    };
    (
        @adapter $adapter:ident, $example:literal,
        [$($case:ident),*],
        [$($ignored:ident => $reason:literal),*]
    ) => {
        mod $adapter {
            $(
                #[tokio::test]
                async fn $case() {
                    let test = concat!(stringify!($adapter), "-", stringify!($case));
                    super::run(test, $example, super::$case).await;
                }
            )*
            $(
                #[tokio::test]
                #[ignore = $reason]
                async fn $ignored() {
                    let test = concat!(stringify!($adapter), "-", stringify!($ignored));
                    super::run(test, $example, super::$ignored).await;
                }
            )*
        }
    };
}

suite!(
    cases: [
        signed_out_dashboard_shows_provider_login,
        sign_in_returns_to_dashboard,
        in_page_fetch_returns_user,
        signed_in_login_redirects_to_dashboard,
        two_tabs_sign_in_at_once,
        sign_out_ends_app_session,
        back_after_sign_out_shows_no_cached_page,
        sign_out_requires_provider_login_again,
    ],
    ignored: [],
);
