//! The parts the Axum and Actix demos share: reading their settings, starting the
//! development provider when no real one is configured, and the HTML of
//! their pages.
#![allow(dead_code)]

use std::net::SocketAddr;

use roq_auth::{Auth, Config, ConfigBuilder, User};
use roq_auth_devprovider::{DevProvider, DevProviderConfig};

/// Default listen address of the demos, replaced by `ROQ_BIND`.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";

/// The client id the demos register at their development provider.
const DEV_CLIENT_ID: &str = "roq-demo";

/// Starts logging to stderr at `info`, or at the level `RUST_LOG` sets.
/// Stdout keeps only the lines that tools and tests read.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Reads `ROQ_BIND`.
pub fn bind_address() -> Result<SocketAddr, String> {
    let text = std::env::var("ROQ_BIND").unwrap_or_else(|_| DEFAULT_BIND.to_owned());
    text.parse().map_err(|_| {
        format!("ROQ_BIND is invalid: {text:?} is not an address such as 127.0.0.1:3000")
    })
}

/// The demo's configuration, and the development provider when the demo
/// started one. Keep the provider alive as long as the app runs.
pub struct DemoSetup {
    pub config: Config,
    pub dev_provider: Option<DevProvider>,
}

/// Builds the configuration from the environment, the way an application
/// would, with two demo-only conveniences: a throwaway `ROQ_SECRET` when none
/// is set, and an embedded development provider when `ROQ_ISSUER_URL` is
/// unset. `local` is the address the demo is bound to, which gives the
/// default `ROQ_BASE_URL`.
pub async fn demo_setup(local: SocketAddr) -> Result<DemoSetup, Box<dyn std::error::Error>> {
    let base_url = env("ROQ_BASE_URL").unwrap_or_else(|| format!("http://{local}"));

    let secret = match env("ROQ_SECRET") {
        Some(secret) => secret,
        None => {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            println!(
                "ROQ_SECRET is not set: using a throwaway key, so sessions end when the demo stops. \
                 Set ROQ_SECRET to the output of `openssl rand -hex 32` to keep them."
            );
            hex::encode(bytes)
        }
    };

    // Every setting an application would read from the environment comes
    // from there; the demo only fills in what is missing.
    let builder = ConfigBuilder::from_env()?
        .secret(secret)
        .base_url(base_url.clone());
    let (builder, dev_provider) = match env("ROQ_ISSUER_URL") {
        Some(_) => (builder, None),
        None => {
            let mut client_secret = [0u8; 24];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut client_secret);
            let client_secret = hex::encode(client_secret);
            let origin = base_url.trim_end_matches('/');
            let provider = DevProvider::start(DevProviderConfig {
                client_id: DEV_CLIENT_ID.to_owned(),
                client_secret: client_secret.clone(),
                redirect_uris: vec![format!("{origin}/api/auth/callback")],
                post_logout_redirect_uris: vec![format!("{origin}/")],
            })
            .await?;
            println!(
                "ROQ_ISSUER_URL is not set: started a DEVELOPMENT-ONLY OpenID provider at {} \
                 (its login form accepts any user name; never use it in production)",
                provider.issuer()
            );
            let builder = builder
                .issuer_url(provider.issuer())
                .client_id(DEV_CLIENT_ID)
                .client_secret(client_secret);
            (builder, Some(provider))
        }
    };

    Ok(DemoSetup {
        config: builder.build()?,
        dev_provider,
    })
}

/// Prints the line tools and tests wait for, then the URL to open.
pub fn announce(local: SocketAddr, config: &Config) {
    println!("roq-auth demo listening on http://{local}");
    println!(
        "Open {}/ in a browser",
        config.base_url().as_str().trim_end_matches('/')
    );
}

/// Builds the sign-in the way an application would: revocations go to
/// Redis when `ROQ_REDIS_URL` is set, so that several demo instances share
/// them.
pub fn build_auth(config: Config) -> Result<Auth, roq_auth::ConfigError> {
    Ok(Auth::builder(config).revocation_store_from_env()?.build())
}

/// The JSON `/api/token` returns for an access token: when it expires, its
/// scopes, and a fingerprint (the first 16 hexadecimal digits of its
/// SHA-256) that tells two tokens apart without showing either.
pub fn token_json(token: &roq_auth::AccessToken) -> serde_json::Value {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(token.secret().as_bytes());
    serde_json::json!({
        "expires_at": token.expires_at(),
        "scopes": token.scopes(),
        "fingerprint": hex::encode(&digest[..8]),
    })
}

/// The status and JSON `/api/token` returns when there is no token: 401
/// `{"error":"unauthorized"}` when the user must sign in again, 503
/// `{"error":"unavailable"}` when the provider is down.
pub fn token_error_json(err: &roq_auth::AccessTokenError) -> (u16, serde_json::Value) {
    let status = err.status().as_u16();
    let error = if status == 503 {
        "unavailable"
    } else {
        "unauthorized"
    };
    (status, serde_json::json!({"error": error}))
}

/// Checks the provider in the background and logs the outcome, so a
/// misconfigured issuer shows at start-up without delaying it.
pub fn spawn_provider_check(auth: Auth) {
    tokio::spawn(async move {
        match auth.check_provider().await {
            Ok(()) => {
                tracing::info!(issuer = %auth.config().issuer(), "OpenID provider is reachable")
            }
            Err(err) => tracing::warn!(
                error = %err,
                "OpenID provider check failed; sign-in will try again"
            ),
        }
    });
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Renders the public home page, with sign-in and sign-out links.
pub fn home_page(user: Option<&User>) -> String {
    let status = match user {
        Some(user) => format!(
            "<p>Signed in as <strong>{}</strong>.</p>",
            escape(display_name(user))
        ),
        None => "<p>You are not signed in.</p>".to_owned(),
    };
    page(
        "roq-auth demo",
        &format!(
            "{status}\n<ul>\n<li><a href=\"/api/auth/login?returnTo=%2Fdashboard\">Sign in</a></li>\n\
             <li><a href=\"/dashboard\">Dashboard</a> (signed in only)</li>\n\
             <li><a href=\"/api/me\">/api/me</a> (JSON, signed in only)</li>\n\
             <li><a href=\"/api/token\">/api/token</a> (the access token's expiry, JSON, signed in only)</li>\n\
             <li><a href=\"/api/auth/session\">/api/auth/session</a></li>\n\
             <li><a href=\"/api/auth/logout\">Sign out</a></li>\n</ul>"
        ),
    )
}

/// Renders the protected dashboard, showing the user's name and `sub`.
pub fn dashboard_page(user: &User) -> String {
    page(
        "Dashboard",
        &format!(
            "<p>Welcome, <strong id=\"name\">{}</strong>.</p>\n<p>Your subject identifier is <code id=\"sub\">{}</code>.</p>\n\
             <p><a href=\"/\">Home</a> · <a href=\"/api/auth/logout\">Sign out</a></p>",
            escape(display_name(user)),
            escape(&user.sub),
        ),
    )
}

/// Renders the sign-in page, which signed-in visitors never see.
pub fn login_page() -> String {
    page(
        "Sign in",
        "<p>You are not signed in.</p>\n<p><a id=\"sign-in\" href=\"/api/auth/login?returnTo=%2Fdashboard\">Sign in</a></p>",
    )
}

/// The JSON `/api/me` returns.
pub fn me_json(user: &User) -> serde_json::Value {
    serde_json::json!({
        "sub": user.sub,
        "name": user.name,
        "email": user.email,
    })
}

fn display_name(user: &User) -> &str {
    user.name.as_deref().unwrap_or(&user.sub)
}

fn escape(text: &str) -> String {
    roq_auth::response::escape_html(text)
}

/// Reloads a page the browser restores from its back/forward cache.
/// Chromium keeps pages there despite `Cache-Control: no-store`, so without
/// this, Back after signing out would show the signed-in page again.
const RELOAD_FROM_BFCACHE: &str =
    "<script>addEventListener('pageshow', (event) => { if (event.persisted) location.reload(); });</script>";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>{RELOAD_FROM_BFCACHE}</head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n"
    )
}
