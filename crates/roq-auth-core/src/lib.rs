//! The framework-agnostic core of roq-auth: configuration, sealed cookies
//! and the OpenID Connect relying-party flow, over the `http` crate's
//! request and response types.
//!
//! Applications use it through an adapter (`roq-auth-axum`) or the `roq-auth`
//! facade; adapters call [`Auth::handle`] from their route handlers and
//! [`Auth::guard`] from their extractors.
//!
//! # Security
//!
//! - Sessions are sealed with XChaCha20-Poly1305 under a key derived from
//!   `ROQ_SECRET` with HKDF-SHA256, bound to the cookie name, with the
//!   expiry inside the seal.
//! - Sign-in uses the authorization code flow with PKCE (S256), `state` and
//!   `nonce`. The ID token's signature, issuer, audience, `azp`, times and
//!   nonce are verified before a session is created.
//! - Cookies are HttpOnly and SameSite=Lax, and Secure when `ROQ_BASE_URL`
//!   is https.
#![forbid(unsafe_code)]

mod auth;
pub mod config;
pub mod guard;
mod logout;
mod oidc;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod response;
pub mod return_to;
pub mod revocation;
pub mod seal;
pub mod session;
mod session_cache;
mod session_cookie;
mod tokens;

pub use auth::{
    Auth, AuthBuilder, AuthRoute, LoadedSession, ProviderError, SessionUnavailable, SignInDenied,
};
pub use config::{ClaimFilter, Clock, Config, ConfigBuilder, ConfigError, Secret, SystemClock};
pub use guard::{GuardOutcome, GuardPolicy, Policy};
pub use logout::MAX_BACKCHANNEL_BODY;
pub use revocation::{MemoryRevocationStore, RevocationError, RevocationKey, RevocationStore};
pub use session::{Session, User};
pub use session_cookie::SessionTooLarge;
pub use tokens::{AccessToken, AccessTokenError, AccessTokenOutcome};
