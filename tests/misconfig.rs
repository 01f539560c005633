//! Misconfiguration fails closed: each demo, started with one setting
//! missing or malformed, exits with a non-zero status before it serves a
//! request, and its error names the setting without repeating a secret.
//! Each case is written once and run against every adapter's demo by
//! `suite!` at the bottom.
//!
//! The demos fill in three settings on purpose, so their absence is not a
//! demo error: a throwaway `ROQ_SECRET`, an embedded development provider
//! for `ROQ_ISSUER_URL`, and the bound address for `ROQ_BASE_URL`. For an
//! application that calls `Auth::from_env`, the unit test
//! `missing_settings_are_named` in `crates/roq-auth-core/src/config.rs`
//! covers those three.
//!
//! The suite runs the demo binaries: build them first with
//! `cargo build --examples`, or run the whole `cargo test`.

mod support;

use std::time::Duration;

use support::*;

/// How long a demo may take to reject its settings and exit. It reads them
/// before it contacts anything, so it normally exits within milliseconds.
const EXIT_LIMIT: Duration = Duration::from_secs(20);

/// An issuer that is never contacted: every case fails before the demo
/// talks to its provider. Port 9 is the discard port, with nothing
/// listening on a test machine.
const UNUSED_ISSUER: &str = "http://127.0.0.1:9";

/// A complete, valid configuration, which each case changes in one setting.
fn valid_settings() -> Vec<(&'static str, String)> {
    vec![
        ("ROQ_SECRET", APP_SECRET.to_owned()),
        ("ROQ_ISSUER_URL", UNUSED_ISSUER.to_owned()),
        ("ROQ_CLIENT_ID", CLIENT_ID.to_owned()),
        ("ROQ_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
    ]
}

/// One change to [`valid_settings`].
enum Change {
    /// Leaves the variable out.
    Unset(&'static str),
    /// Sets the variable to this value.
    Set(&'static str, String),
}

/// Runs `example` with one setting changed and checks that it exits with
/// a failure status, without its ready line, and with an error on stderr
/// that starts with `expected`. The output must not contain `hidden`, a
/// secret the change introduced.
async fn expect_rejected(example: &str, change: Change, expected: &str, hidden: Option<&str>) {
    let mut settings = valid_settings();
    match &change {
        Change::Unset(name) => settings.retain(|(key, _)| key != name),
        Change::Set(name, value) => {
            settings.retain(|(key, _)| key != name);
            settings.push((name, value.clone()));
        }
    }
    let env: Vec<(&str, &str)> = settings
        .iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect();

    let exit = Demo::run_until_exit(example, &env, EXIT_LIMIT).await;

    assert!(
        !exit.status.success(),
        "the demo exited successfully; stderr:\n{}",
        exit.stderr
    );
    assert!(
        exit.status.code().is_some(),
        "the demo was killed by a signal ({}) instead of exiting; stderr:\n{}",
        exit.status,
        exit.stderr
    );
    assert!(
        !exit.stdout.contains("roq-auth demo listening on "),
        "the demo started serving; stdout:\n{}",
        exit.stdout
    );
    let error_line = exit
        .stderr
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error: ` line on stderr:\n{}", exit.stderr));
    assert!(
        error_line.starts_with(&format!("error: {expected}")),
        "expected the error to start with {expected:?}, got {error_line:?}"
    );
    if let Some(secret) = hidden {
        assert!(
            !exit.stderr.contains(secret) && !exit.stdout.contains(secret),
            "the rejected secret appears in the output"
        );
    }
}

async fn client_id_missing(example: &str) {
    let change = Change::Unset("ROQ_CLIENT_ID");
    expect_rejected(example, change, "ROQ_CLIENT_ID is not set", None).await;
}

async fn client_id_blank(example: &str) {
    let change = Change::Set("ROQ_CLIENT_ID", "   ".to_owned());
    expect_rejected(example, change, "ROQ_CLIENT_ID is not set", None).await;
}

async fn client_secret_missing(example: &str) {
    let change = Change::Unset("ROQ_CLIENT_SECRET");
    expect_rejected(example, change, "ROQ_CLIENT_SECRET is not set", None).await;
}

async fn secret_of_63_characters(example: &str) {
    let secret = APP_SECRET[..63].to_owned();
    let change = Change::Set("ROQ_SECRET", secret.clone());
    let expected = "ROQ_SECRET is invalid: expected 64 hexadecimal characters (32 bytes), \
                    found 63 characters";
    expect_rejected(example, change, expected, Some(&secret)).await;
}

async fn secret_with_non_hex_character(example: &str) {
    let secret = format!("{}g", &APP_SECRET[..63]);
    let change = Change::Set("ROQ_SECRET", secret.clone());
    let expected = "ROQ_SECRET is invalid: contains a character that is not hexadecimal";
    expect_rejected(example, change, expected, Some(&secret)).await;
}

async fn previous_secret_malformed(example: &str) {
    let previous = format!("{},{}", APP_SECRET, &APP_SECRET[..40]);
    let change = Change::Set("ROQ_PREVIOUS_SECRETS", previous);
    let expected = "ROQ_PREVIOUS_SECRETS is invalid: entry 2 is not 64 hexadecimal characters";
    expect_rejected(example, change, expected, Some(&APP_SECRET[..40])).await;
}

async fn issuer_not_a_url(example: &str) {
    let change = Change::Set("ROQ_ISSUER_URL", "login.example.com".to_owned());
    let expected = "ROQ_ISSUER_URL is invalid: \"login.example.com\" is not a URL";
    expect_rejected(example, change, expected, None).await;
}

async fn base_url_with_path(example: &str) {
    let change = Change::Set("ROQ_BASE_URL", "http://127.0.0.1:3000/app".to_owned());
    let expected = "ROQ_BASE_URL is invalid: \"http://127.0.0.1:3000/app\" must be an origin only";
    expect_rejected(example, change, expected, None).await;
}

async fn base_url_with_query(example: &str) {
    let change = Change::Set("ROQ_BASE_URL", "http://127.0.0.1:3000/?tenant=a".to_owned());
    let expected =
        "ROQ_BASE_URL is invalid: \"http://127.0.0.1:3000/?tenant=a\" must be an origin only";
    expect_rejected(example, change, expected, None).await;
}

async fn http_timeout_zero(example: &str) {
    let change = Change::Set("ROQ_HTTP_TIMEOUT", "0".to_owned());
    let expected = "ROQ_HTTP_TIMEOUT is invalid: must be at least 1 second";
    expect_rejected(example, change, expected, None).await;
}

async fn http_timeout_not_a_number(example: &str) {
    let change = Change::Set("ROQ_HTTP_TIMEOUT", "10s".to_owned());
    let expected = "ROQ_HTTP_TIMEOUT is invalid: \"10s\" is not a whole number of seconds";
    expect_rejected(example, change, expected, None).await;
}

async fn scopes_separated_by_commas(example: &str) {
    let change = Change::Set("ROQ_SCOPES", "profile,email".to_owned());
    let expected = "ROQ_SCOPES is invalid: \"profile,email\" contains a comma; separate scopes \
                    with spaces";
    expect_rejected(example, change, expected, None).await;
}

/// Checks the control case: the valid settings alone start the demo, so a
/// rejection in the other cases comes from the one changed setting.
async fn valid_settings_start(example: &str) {
    let settings = valid_settings();
    let env: Vec<(&str, &str)> = settings
        .iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect();
    let demo = Demo::start(example, free_port(), &env).await;

    let home = reqwest::get(demo.url("/")).await.unwrap();
    expect_status(home, reqwest::StatusCode::OK).await;
}

support::demo_suite!(
    client_id_missing,
    client_id_blank,
    client_secret_missing,
    secret_of_63_characters,
    secret_with_non_hex_character,
    previous_secret_malformed,
    issuer_not_a_url,
    base_url_with_path,
    base_url_with_query,
    http_timeout_zero,
    http_timeout_not_a_number,
    scopes_separated_by_commas,
    valid_settings_start,
);
