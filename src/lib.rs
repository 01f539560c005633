//! OpenID Connect sign-in, sealed-cookie sessions and route protection for
//! Axum, in a few lines.
//!
//! Enable the adapter for your framework and use it through its module:
//!
//! ```toml
//! [dependencies]
//! roq-auth = { version = "0.1", features = ["axum"] }
//! ```
//!
//! ```ignore
//! use roq_auth::axum::{require_auth, with_auth, Session};
//! ```
//!
//! The framework-independent types ([`Auth`], [`Config`]) are at the root.
//! See the README for a complete walk-through.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use roq_auth_core::{
    config, guard, response, return_to, seal, session, Auth, AuthRoute, Config, ConfigBuilder,
    ConfigError, GuardOutcome, GuardPolicy, Policy, Secret, User,
};

/// The Axum adapter: the auth routes, the [`AuthLayer`](axum::AuthLayer),
/// the `Session` extractor and the `#[require_auth]` and `#[with_auth]`
/// macros.
#[cfg(feature = "axum")]
pub mod axum {
    pub use roq_auth_axum::*;
}
