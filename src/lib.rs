//! OpenID Connect sign-in, sealed-cookie sessions and route protection for
//! Axum and Actix Web, in a few lines.
//!
//! Enable the adapter for your framework (feature `axum` or `actix`) and use
//! it through the module of the same name:
//!
//! ```toml
//! [dependencies]
//! roq-auth = { version = "0.1", features = ["axum"] }
//! ```
//!
//! ```ignore
//! use roq_auth::axum::{require_auth, with_auth, Session};
//! // or, with the `actix` feature:
//! use roq_auth::actix::{require_auth, with_auth, Session};
//! ```
//!
//! The framework-independent types ([`Auth`], [`Config`]) are at the root.
//! See the README for a complete walk-through.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use roq_auth_core::{
    config, guard, response, return_to, revocation, seal, session, AccessToken, AccessTokenError,
    AccessTokenOutcome, Auth, AuthBuilder, AuthRoute, ClaimFilter, Clock, Config, ConfigBuilder,
    ConfigError, GuardOutcome, GuardPolicy, LoadedSession, MemoryRevocationStore, Policy,
    ProviderError, RevocationError, RevocationKey, RevocationStore, Secret, SessionTooLarge,
    SessionUnavailable, SignInDenied, SystemClock, User,
};

/// The revocation store in Redis, shared by several instances of an app.
#[cfg(feature = "redis")]
pub use roq_auth_core::redis_store::RedisRevocationStore;

/// The Axum adapter: the auth routes, the [`AuthLayer`](axum::AuthLayer),
/// the `Session` extractor and the `#[require_auth]` and `#[with_auth]`
/// macros.
#[cfg(feature = "axum")]
pub mod axum {
    pub use roq_auth_axum::*;
}

/// The Actix Web adapter: the auth routes, the
/// [`AuthMiddleware`](actix::AuthMiddleware), the `Session` extractor and
/// the `#[require_auth]` and `#[with_auth]` macros.
#[cfg(feature = "actix")]
pub mod actix {
    pub use roq_auth_actix::*;
}
