//! Fixtures of the roq-auth benchmarks: the session they all read, the
//! reference implementations it is compared with (the cost floor, the
//! `cookie` crate's private jar, axum-login), the apps the guard is measured
//! in, and a stand-in OpenID provider for the callback.
//!
//! `benches/auth.rs` measures; `scripts/bench-ratios` and BENCHMARKS.md at
//! the workspace root explain what and how.

pub mod apps;
pub mod floor;
pub mod jar;
pub mod payload;
pub mod provider;
pub mod ratios;
pub mod signing;
