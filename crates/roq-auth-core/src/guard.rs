//! The policies behind `#[require_auth]` and `#[with_auth]`, and how a
//! request is checked against them.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};

use crate::response::ResponseBuilder;
use crate::return_to::sanitize_return_to;
use crate::session::Session;
use crate::Auth;

/// What a guarded handler requires, and what a request that fails it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// A page (`#[require_auth]`).
    Page {
        /// Where a visitor is sent. Without `redirect_if_authenticated`,
        /// signed-out visitors go here (with `returnTo`) instead of the
        /// login route; with it, signed-in visitors go here, or to `/`.
        redirect_to: Option<&'static str>,
        /// Sends signed-in visitors away and serves signed-out ones, for
        /// pages such as a sign-in page.
        redirect_if_authenticated: bool,
    },
    /// An API (`#[with_auth]`): signed-out callers get 401 with
    /// `{"error":"unauthorized"}`.
    Api,
}

/// A type that names a [`Policy`]. The macros generate one per handler, so
/// the guard extractor can carry its policy in its type.
pub trait GuardPolicy {
    /// The policy the guard applies.
    const POLICY: Policy;
}

/// The decision of a guard.
#[derive(Debug)]
pub enum GuardOutcome {
    /// Let the request through, with the session when there is one.
    Allow(Option<Session>),
    /// Answer the request with this response (a redirect or a 401) instead
    /// of running the handler.
    Deny(Response<Bytes>),
}

impl Auth {
    /// Applies a guard's policy to a request.
    ///
    /// `request_target` is the path and query the visitor asked for, as
    /// seen before any router stripped a prefix; it becomes `returnTo` on
    /// the login redirect.
    pub fn guard(
        &self,
        policy: &Policy,
        headers: &HeaderMap,
        request_target: &str,
    ) -> GuardOutcome {
        let session = self.session(headers);
        match (policy, session) {
            (Policy::Api, Some(session)) => GuardOutcome::Allow(Some(session)),
            (Policy::Api, None) => GuardOutcome::Deny(
                ResponseBuilder::json(
                    StatusCode::UNAUTHORIZED,
                    &serde_json::json!({"error": "unauthorized"}),
                )
                .build(),
            ),
            (
                Policy::Page {
                    redirect_if_authenticated: true,
                    redirect_to,
                },
                Some(_),
            ) => GuardOutcome::Deny(ResponseBuilder::redirect(redirect_to.unwrap_or("/")).build()),
            (
                Policy::Page {
                    redirect_if_authenticated: true,
                    ..
                },
                None,
            ) => GuardOutcome::Allow(None),
            (Policy::Page { .. }, Some(session)) => GuardOutcome::Allow(Some(session)),
            (Policy::Page { redirect_to, .. }, None) => {
                let return_to = sanitize_return_to(Some(request_target));
                let target = match redirect_to {
                    Some(path) => path.to_string(),
                    None => format!("{}/login", self.config().mount_path),
                };
                GuardOutcome::Deny(
                    ResponseBuilder::redirect(&with_return_to(&target, &return_to)).build(),
                )
            }
        }
    }
}

/// Appends `returnTo` to a login path, which may already have a query.
fn with_return_to(target: &str, return_to: &str) -> String {
    let separator = if target.contains('?') { '&' } else { '?' };
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    format!("{target}{separator}returnTo={encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_encoded_into_login_target() {
        assert_eq!(
            with_return_to("/api/auth/login", "/reports?id=7&x=1"),
            "/api/auth/login?returnTo=%2Freports%3Fid%3D7%26x%3D1"
        );
        assert_eq!(
            with_return_to("/signin?a=1", "/"),
            "/signin?a=1&returnTo=%2F"
        );
    }
}
