//! A development-only OpenID Connect provider for the roq-auth demos.
//!
//! **Never use it in production.** Its login form accepts any user name and checks no
//! password. It exists so that `cargo run --example demo` works on a machine with no
//! identity provider installed: the demo starts it in-process when no real provider is
//! configured.
//!
//! The provider serves one confidential client over plain HTTP on 127.0.0.1 and supports the
//! authorization code flow with PKCE (S256 only), `client_secret_basic` and
//! `client_secret_post`, ES256 ID tokens, userinfo and RP-initiated logout. The signing key
//! is generated at every start and all state is kept in memory, so nothing survives a restart.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use roq_auth_devprovider::{DevProvider, DevProviderConfig};
//!
//! let provider = DevProvider::start(DevProviderConfig {
//!     client_id: "demo".into(),
//!     client_secret: "demo-secret".into(),
//!     redirect_uris: vec!["http://127.0.0.1:3000/auth/callback".into()],
//!     post_logout_redirect_uris: vec!["http://127.0.0.1:3000/".into()],
//! })
//! .await?;
//! println!("issuer: {}", provider.issuer());
//! // ... run the app against provider.issuer() ...
//! provider.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod authorize;
mod html;
mod identity;
mod keys;
mod logout;
mod params;
mod store;
mod token;

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use crate::keys::SigningKey;
use crate::store::Store;

/// Maximum time [`DevProvider::shutdown`] waits for open connections before it aborts the server.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The single client registered at a [`DevProvider`]. For development only.
#[derive(Clone)]
pub struct DevProviderConfig {
    /// The client's `client_id`. Must not be empty.
    pub client_id: String,
    /// The client's secret for `client_secret_basic` or `client_secret_post`. Must not be empty.
    pub client_secret: String,
    /// Redirect URIs accepted at the authorization endpoint, compared by exact string match.
    /// At least one is required, and each must be an absolute URL without a fragment.
    pub redirect_uris: Vec<String>,
    /// URIs accepted as `post_logout_redirect_uri` at the end-session endpoint, compared by
    /// exact string match. May be empty, in which case logout always shows a signed-out page.
    pub post_logout_redirect_uris: Vec<String>,
}

impl fmt::Debug for DevProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevProviderConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .finish()
    }
}

/// A running development-only OpenID Connect provider on 127.0.0.1.
///
/// Call [`DevProvider::shutdown`] to stop it and wait for the server task. Dropping the value
/// also stops the server, but without waiting.
pub struct DevProvider {
    issuer: String,
    port: u16,
    shutdown_tx: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl fmt::Debug for DevProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevProvider")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl DevProvider {
    /// Binds 127.0.0.1 on a free port, generates a signing key and spawns the provider on the
    /// current tokio runtime. For development only.
    ///
    /// # Errors
    ///
    /// Returns [`std::io::ErrorKind::InvalidInput`] when `config` is invalid (see the field
    /// docs of [`DevProviderConfig`]), and other I/O errors when binding or key generation fails.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime.
    pub async fn start(config: DevProviderConfig) -> std::io::Result<DevProvider> {
        Self::start_on_port(config, 0).await
    }

    /// Starts like [`DevProvider::start`], but binds 127.0.0.1 on `port`. Port 0 picks a free one.
    /// For development only.
    ///
    /// # Errors
    ///
    /// As [`DevProvider::start`]. A port already in use returns
    /// [`std::io::ErrorKind::AddrInUse`].
    pub async fn start_on_port(
        config: DevProviderConfig,
        port: u16,
    ) -> std::io::Result<DevProvider> {
        validate_config(&config)?;
        let key = SigningKey::generate()?;

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let port = listener.local_addr()?.port();
        let issuer = format!("http://127.0.0.1:{port}");

        let state = Arc::new(ProviderState {
            config,
            issuer: issuer.clone(),
            key,
            store: Mutex::new(Store::default()),
        });
        let app = router(state);

        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // A dropped sender also resolves the receiver, so dropping the DevProvider stops
            // the server.
            let stop = async {
                let _ = shutdown_rx.await;
            };
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %err, "development OpenID provider stopped with an error");
            }
        });

        tracing::info!(issuer = %issuer, "development OpenID provider listening");
        Ok(DevProvider {
            issuer,
            port,
            shutdown_tx,
            task,
        })
    }

    /// Returns the issuer identifier, `http://127.0.0.1:PORT` with no trailing slash.
    /// Discovery is at `{issuer}/.well-known/openid-configuration`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Returns the TCP port the provider listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting connections and waits up to 5 seconds for open ones to finish, then
    /// aborts the server task.
    pub async fn shutdown(self) {
        let DevProvider {
            issuer,
            shutdown_tx,
            mut task,
            ..
        } = self;
        let _ = shutdown_tx.send(());
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, &mut task).await {
            Ok(_) => tracing::info!(issuer = %issuer, "development OpenID provider stopped"),
            Err(_) => {
                task.abort();
                tracing::warn!(
                    issuer = %issuer,
                    "development OpenID provider aborted after the shutdown timeout"
                );
            }
        }
    }
}

/// State shared by all request handlers.
pub(crate) struct ProviderState {
    pub(crate) config: DevProviderConfig,
    pub(crate) issuer: String,
    pub(crate) key: SigningKey,
    store: Mutex<Store>,
}

impl ProviderState {
    /// Locks the store. A handler that panicked while holding the lock leaves whole entries
    /// behind, so a poisoned lock is still safe to use.
    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

fn router(state: Arc<ProviderState>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/token", post(token::token))
        .route("/userinfo", get(token::userinfo).post(token::userinfo))
        .route("/logout", get(logout::logout_get).post(logout::logout_post))
        .with_state(state)
}

/// Handles `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0).
async fn discovery(State(provider): State<Arc<ProviderState>>) -> Response {
    let metadata = json!({
        "issuer": provider.issuer,
        "authorization_endpoint": provider.endpoint("/authorize"),
        "token_endpoint": provider.endpoint("/token"),
        "jwks_uri": provider.endpoint("/jwks"),
        "userinfo_endpoint": provider.endpoint("/userinfo"),
        "end_session_endpoint": provider.endpoint("/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": authorize::SUPPORTED_SCOPES,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "name", "email", "email_verified",
        ],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    Json(metadata).into_response()
}

/// Handles `GET /jwks`.
async fn jwks(State(provider): State<Arc<ProviderState>>) -> Response {
    let mut response = Json(provider.key.jwks()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}

/// Checks the config before binding, so a typo fails at start and not at the first login.
fn validate_config(config: &DevProviderConfig) -> std::io::Result<()> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);

    if config.client_id.is_empty() {
        return Err(invalid(
            "DevProviderConfig.client_id must not be empty".into(),
        ));
    }
    if config.client_secret.is_empty() {
        return Err(invalid(
            "DevProviderConfig.client_secret must not be empty".into(),
        ));
    }
    if config.redirect_uris.is_empty() {
        return Err(invalid(
            "DevProviderConfig.redirect_uris must contain at least one URI".into(),
        ));
    }
    let uris = [
        ("redirect_uris", &config.redirect_uris),
        (
            "post_logout_redirect_uris",
            &config.post_logout_redirect_uris,
        ),
    ];
    for (field, list) in uris {
        for uri in list {
            match Url::parse(uri) {
                Ok(url) if url.fragment().is_some() => {
                    return Err(invalid(format!(
                        "DevProviderConfig.{field} entry \"{uri}\" must not contain a fragment"
                    )));
                }
                Ok(_) => {}
                Err(err) => {
                    return Err(invalid(format!(
                        "DevProviderConfig.{field} entry \"{uri}\" is not an absolute URL: {err}"
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DevProviderConfig {
        DevProviderConfig {
            client_id: "client".into(),
            client_secret: "do-not-print-me".into(),
            redirect_uris: vec!["http://127.0.0.1:1/cb".into()],
            post_logout_redirect_uris: vec![],
        }
    }

    #[test]
    fn valid_config_is_accepted() {
        assert!(validate_config(&config()).is_ok());
    }

    #[test]
    fn config_without_redirect_uri_is_rejected() {
        let mut config = config();
        config.redirect_uris.clear();
        let err = validate_config(&config).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn config_with_relative_or_fragment_uri_is_rejected() {
        let mut relative = config();
        relative.redirect_uris = vec!["/cb".into()];
        assert!(validate_config(&relative).is_err());

        let mut fragment = config();
        fragment.post_logout_redirect_uris = vec!["http://127.0.0.1:1/#done".into()];
        assert!(validate_config(&fragment).is_err());
    }

    #[test]
    fn config_debug_hides_secret() {
        let printed = format!("{:?}", config());
        assert!(!printed.contains("do-not-print-me"));
        assert!(printed.contains("<redacted>"));
    }
}
