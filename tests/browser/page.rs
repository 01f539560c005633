//! Steps in a page of the browser under test: waiting for a URL, calling
//! `fetch` in the page, and filling in `oidc-provider`'s login and consent
//! forms.

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

/// How long a step waits for the browser to reach the expected page.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Returns the URL of the current tab.
pub async fn current_url(client: &Client) -> String {
    client
        .current_url()
        .await
        .expect("chromedriver returns the current URL")
        .to_string()
}

/// Waits until the current tab's URL satisfies `matches` and returns it.
/// `expected` describes the URL for the failure message.
pub async fn wait_for_url(
    client: &Client,
    expected: &str,
    matches: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let url = current_url(client).await;
        if matches(&url) {
            return url;
        }
        if tokio::time::Instant::now() >= deadline {
            let text = page_text(client).await;
            panic!(
                "the browser did not reach {expected} within {STEP_TIMEOUT:?}; it is at {url}, \
                 which shows: {text}"
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Returns the start of the current page's visible text, for failure
/// messages.
async fn page_text(client: &Client) -> String {
    const MAX_CHARS: usize = 500;
    match client.find(Locator::Css("body")).await {
        Ok(body) => match body.text().await {
            Ok(text) => text.chars().take(MAX_CHARS).collect(),
            Err(err) => format!("(reading the text failed: {err})"),
        },
        Err(err) => format!("(the page has no body: {err})"),
    }
}

/// Returns whether the current page has an element matching `css`.
pub async fn has_element(client: &Client, css: &str) -> bool {
    !client
        .find_all(Locator::Css(css))
        .await
        .expect("chromedriver runs the query")
        .is_empty()
}

/// Returns the text of the first element matching `css`.
pub async fn text_of(client: &Client, css: &str) -> String {
    let url = current_url(client).await;
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no element matches {css:?} on {url}: {err}"));
    element.text().await.expect("chromedriver reads the text")
}

/// A response to `fetch` in the page.
#[derive(Debug)]
pub struct FetchResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body, parsed as JSON.
    pub json: Value,
}

/// Runs `fetch(path)` in the current page, as the page's own script would,
/// with the page's cookies, and returns the response.
pub async fn fetch_in_page(client: &Client, path: &str) -> FetchResponse {
    const SCRIPT: &str = r#"
        const [path, done] = arguments;
        fetch(path, { headers: { accept: "application/json" } })
          .then(async (response) => done({ status: response.status, body: await response.text() }))
          .catch((error) => done({ error: String(error) }));
    "#;
    let result = client
        .execute_async(SCRIPT, vec![Value::from(path)])
        .await
        .unwrap_or_else(|err| panic!("running fetch({path:?}) in the page failed: {err}"));
    if let Some(error) = result.get("error") {
        panic!("fetch({path:?}) in the page failed: {error}");
    }

    let status = result["status"]
        .as_u64()
        .and_then(|status| u16::try_from(status).ok())
        .unwrap_or_else(|| panic!("fetch({path:?}) returned no status: {result}"));
    let body = result["body"].as_str().unwrap_or_default();
    let json = serde_json::from_str(body).unwrap_or_else(|err| {
        panic!("fetch({path:?}) returned {status} with a body that is not JSON ({err}): {body}")
    });
    FetchResponse { status, json }
}

/// Completes sign-in at `oidc-provider` in the current tab: fills in its
/// login form with `login` and any password, confirms its consent form if
/// it shows one, and waits until the browser is back on `app_origin`.
/// Returns the URL it lands on.
///
/// The tab must be on the provider's login form, or on its way there.
pub async fn sign_in_at_provider(client: &Client, app_origin: &str, login: &str) -> String {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    // The URL of the last form submitted, so that a form is submitted once
    // even if the page has not changed yet when it is checked again.
    let mut submitted: Option<String> = None;
    loop {
        let url = current_url(client).await;
        if url.starts_with(app_origin) {
            return url;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sign-in as {login:?} did not return to {app_origin} within {STEP_TIMEOUT:?}; the browser is at {url}"
        );
        if submitted.as_deref() != Some(url.as_str()) && url.contains("/interaction/") {
            if has_element(client, "input[name=prompt][value=login]").await {
                submit_login_form(client, login).await;
                submitted = Some(url);
                continue;
            }
            if has_element(client, "input[name=prompt][value=consent]").await {
                click(client, "button[type=submit]").await;
                submitted = Some(url);
                continue;
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn submit_login_form(client: &Client, login: &str) {
    type_into(client, "input[name=login]", login).await;
    type_into(client, "input[name=password]", "any password").await;
    click(client, "button[type=submit]").await;
}

async fn type_into(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("the form has no {css:?}: {err}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|err| panic!("typing into {css:?} failed: {err}"));
}

/// Clicks the first element matching `css`.
pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no element matches {css:?}: {err}"))
        .click()
        .await
        .unwrap_or_else(|err| panic!("clicking {css:?} failed: {err}"));
}
