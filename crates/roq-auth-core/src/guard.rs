//! The policies behind `#[require_auth]` and `#[with_auth]`, and how a
//! request is checked against them.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use serde_json::Value;

use crate::response::{error_page, ResponseBuilder};
use crate::return_to::sanitize_return_to;
use crate::session::{Session, User};
use crate::Auth;

/// Whether a guarded handler serves pages or an API, which decides the
/// response to a request that the guard rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// A page (`#[require_auth]`): signed-out visitors are redirected, and
    /// signed-in visitors without permission get a `403 Forbidden` page.
    Page,
    /// An API (`#[with_auth]`): signed-out callers get `401 Unauthorized`
    /// and callers without permission get `403 Forbidden`, both with a JSON
    /// error body.
    Api,
}

/// The requirements of a guarded handler, and the responses to requests
/// that fail them.
///
/// The macros build one in a `const` from their options:
///
/// ```
/// use roq_auth_core::Policy;
///
/// // #[require_auth(redirect_to = "/signin", role = "admin")]
/// const ADMIN_PAGE: Policy = Policy::page().redirect_to("/signin").role("admin");
///
/// // #[with_auth(scope = "reports:read")]
/// const REPORTS_API: Policy = Policy::api().scope("reports:read");
/// # let _ = (ADMIN_PAGE, REPORTS_API);
/// ```
///
/// A signed-in user must meet every requirement that is set (`role`,
/// `scope` and `check`), or the request gets `403 Forbidden`.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Policy {
    /// Page or API.
    pub kind: PolicyKind,
    /// Pages only. Without `redirect_if_authenticated`, signed-out visitors
    /// go here (with `returnTo`) instead of the login route. With it,
    /// signed-in visitors go here instead of `/`.
    pub redirect_to: Option<&'static str>,
    /// Pages only: sends signed-in visitors away and serves signed-out
    /// ones, for pages such as a sign-in page. The requirements below do
    /// not apply then, because the handler never receives a session.
    pub redirect_if_authenticated: bool,
    /// A role the user must have, in the claim named by
    /// [`ConfigBuilder::roles_claim`](crate::ConfigBuilder::roles_claim).
    pub role: Option<&'static str>,
    /// A scope the provider must have granted at sign-in.
    pub scope: Option<&'static str>,
    /// A rule of the application's own that the user must pass.
    pub check: Option<fn(&User) -> bool>,
}

impl Policy {
    /// Returns the policy of `#[require_auth]` without options: signed-out
    /// visitors are redirected to the login route.
    pub const fn page() -> Policy {
        Policy::new(PolicyKind::Page)
    }

    /// Returns the policy of `#[with_auth]` without options: signed-out
    /// callers get `401 Unauthorized`.
    pub const fn api() -> Policy {
        Policy::new(PolicyKind::Api)
    }

    const fn new(kind: PolicyKind) -> Policy {
        Policy {
            kind,
            redirect_to: None,
            redirect_if_authenticated: false,
            role: None,
            scope: None,
            check: None,
        }
    }

    /// Sets [`redirect_to`](Self#structfield.redirect_to).
    ///
    /// `path` must start with a single `/` and contain no `\`, whitespace,
    /// control or non-ASCII characters. The macros check that at compile
    /// time, and [`Auth::guard`] ignores a path that fails it.
    #[must_use]
    pub const fn redirect_to(mut self, path: &'static str) -> Policy {
        self.redirect_to = Some(path);
        self
    }

    /// Sets [`redirect_if_authenticated`](Self#structfield.redirect_if_authenticated).
    #[must_use]
    pub const fn redirect_if_authenticated(mut self) -> Policy {
        self.redirect_if_authenticated = true;
        self
    }

    /// Requires the role `role`.
    #[must_use]
    pub const fn role(mut self, role: &'static str) -> Policy {
        self.role = Some(role);
        self
    }

    /// Requires the granted scope `scope`.
    #[must_use]
    pub const fn scope(mut self, scope: &'static str) -> Policy {
        self.scope = Some(scope);
        self
    }

    /// Requires that `check` returns `true` for the signed-in user.
    #[must_use]
    pub const fn check(mut self, check: fn(&User) -> bool) -> Policy {
        self.check = Some(check);
        self
    }
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
    /// Respond with this response (a redirect, a 401 or a 403) instead of
    /// running the handler.
    Deny(Response<Bytes>),
}

/// The first requirement of a policy that a signed-in user fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unmet {
    Role,
    Scope,
    Check,
}

impl Unmet {
    fn name(self) -> &'static str {
        match self {
            Unmet::Role => "role",
            Unmet::Scope => "scope",
            Unmet::Check => "check",
        }
    }
}

impl Auth {
    /// Applies a guard's policy to a request.
    ///
    /// `request_target` is the path and query the visitor asked for, as
    /// seen before any router stripped a prefix. It becomes `returnTo` on
    /// the login redirect.
    ///
    /// | Request | Page | API |
    /// | --- | --- | --- |
    /// | signed out | `303` to the login route or `redirect_to`, with `returnTo` | `401`, `{"error":"unauthorized"}` |
    /// | signed in, fails `role`, `scope` or `check` | `403`, an HTML page | `403`, `{"error":"forbidden"}` |
    /// | signed in, meets every requirement | allowed | allowed |
    ///
    /// With `redirect_if_authenticated`, a page instead allows signed-out
    /// visitors and sends signed-in ones to `redirect_to`, or `/`. Every
    /// response this returns carries `Cache-Control: private, no-store`.
    ///
    /// When the revocation store cannot be read, the request is denied with
    /// 503 (see [`SessionUnavailable`](crate::SessionUnavailable)).
    pub async fn guard(
        &self,
        policy: &Policy,
        headers: &HeaderMap,
        request_target: &str,
    ) -> GuardOutcome {
        match self.session(headers).await {
            Ok(session) => self.decide(policy, session, request_target),
            Err(err) => {
                tracing::error!(error = %err, "cannot read the session");
                GuardOutcome::Deny(err.response(policy.kind == PolicyKind::Api))
            }
        }
    }

    /// Applies a guard's policy to a session the caller already read, for
    /// adapters that load the session once per request with
    /// [`Auth::load_session`]. Otherwise the same as [`Auth::guard`].
    pub fn decide(
        &self,
        policy: &Policy,
        session: Option<Session>,
        request_target: &str,
    ) -> GuardOutcome {
        if policy.kind == PolicyKind::Page && policy.redirect_if_authenticated {
            return match session {
                Some(_) => {
                    let target = redirect_target(policy).unwrap_or("/");
                    GuardOutcome::Deny(ResponseBuilder::redirect(target).build())
                }
                None => GuardOutcome::Allow(None),
            };
        }

        let Some(session) = session else {
            return GuardOutcome::Deny(self.signed_out_response(policy, request_target));
        };

        match self.unmet_requirement(policy, &session) {
            None => GuardOutcome::Allow(Some(session)),
            Some(unmet) => {
                // The user's id is left out: a denial is routine, and the
                // id is personal data that a request log does not need.
                tracing::info!(
                    requirement = unmet.name(),
                    "denied a signed-in request: a requirement of the route is not met"
                );
                GuardOutcome::Deny(forbidden_response(policy.kind))
            }
        }
    }

    /// Returns the first requirement of `policy` that the session fails, in
    /// the order role, scope, check. The application's `check` runs last,
    /// and only for users who passed the others.
    fn unmet_requirement(&self, policy: &Policy, session: &Session) -> Option<Unmet> {
        if let Some(role) = policy.role {
            if !has_role(session.user(), self.config().roles_claim(), role) {
                return Some(Unmet::Role);
            }
        }

        if let Some(scope) = policy.scope {
            if !session.has_scope(scope) {
                return Some(Unmet::Scope);
            }
        }

        if let Some(check) = policy.check {
            if !check(session.user()) {
                return Some(Unmet::Check);
            }
        }

        None
    }

    fn signed_out_response(&self, policy: &Policy, request_target: &str) -> Response<Bytes> {
        match policy.kind {
            PolicyKind::Api => ResponseBuilder::json(
                StatusCode::UNAUTHORIZED,
                &serde_json::json!({"error": "unauthorized"}),
            )
            .build(),
            PolicyKind::Page => {
                let return_to = sanitize_return_to(Some(request_target));
                let target = match redirect_target(policy) {
                    Some(path) => path.to_owned(),
                    None => format!("{}/login", self.config().mount_path()),
                };
                ResponseBuilder::redirect(&with_return_to(&target, &return_to)).build()
            }
        }
    }
}

/// Returns the policy's `redirect_to` if it is a same-origin path.
///
/// The macros reject any other path at compile time, but a `Policy` can be
/// built by hand, and an open redirect is a phishing tool. So an unsafe path
/// is logged and ignored here, and the default target is used instead.
fn redirect_target(policy: &Policy) -> Option<&'static str> {
    let path = policy.redirect_to?;

    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && path.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    if !safe {
        tracing::error!(
            redirect_to = path,
            "ignored a policy's redirect_to: it is not a same-origin path such as \"/signin\""
        );
        return None;
    }

    Some(path)
}

/// Returns whether the roles claim `claim` of `user` contains `role`. The
/// claim may be one role as a string, or an array of strings. A claim of
/// any other type contains no role.
fn has_role(user: &User, claim: &str, role: &str) -> bool {
    let granted = match claim {
        "sub" => return user.sub == role,
        "name" => return user.name.as_deref() == Some(role),
        "email" => return user.email.as_deref() == Some(role),
        // Borrowed, so that a long list of roles is not copied per request.
        _ => user.claims.get(claim),
    };
    match granted {
        Some(Value::String(granted)) => granted == role,
        Some(Value::Array(granted)) => granted.iter().any(|value| value.as_str() == Some(role)),
        _ => false,
    }
}

/// Returns the `403 Forbidden` response of a page or an API.
///
/// The response does not name the requirement that failed, so that it
/// reveals nothing about the rules beyond "not allowed".
fn forbidden_response(kind: PolicyKind) -> Response<Bytes> {
    match kind {
        PolicyKind::Api => ResponseBuilder::json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({"error": "forbidden"}),
        )
        .build(),
        PolicyKind::Page => error_page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You are signed in, but your account does not have permission to view this page.",
            None,
        )
        .build(),
    }
}

/// Appends `returnTo` to a login path, which may already have a query or a
/// fragment.
fn with_return_to(target: &str, return_to: &str) -> String {
    let (path_and_query, fragment) = match target.split_once('#') {
        Some((path_and_query, fragment)) => (path_and_query, Some(fragment)),
        None => (target, None),
    };

    let separator = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    let mut location = format!("{path_and_query}{separator}returnTo={encoded}");

    if let Some(fragment) = fragment {
        location.push('#');
        location.push_str(fragment);
    }
    location
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(claims: Value) -> User {
        let mut claims = claims.as_object().expect("claims are an object").clone();
        claims.insert("sub".to_owned(), json!("alice"));
        serde_json::from_value(Value::Object(claims)).expect("claims make a user")
    }

    fn is_alice(user: &User) -> bool {
        user.sub == "alice"
    }

    const BUILT: Policy = Policy::page()
        .redirect_to("/signin")
        .role("admin")
        .scope("reports:read")
        .check(is_alice);

    #[test]
    fn constructors_set_kind_only() {
        for (policy, kind) in [
            (Policy::page(), PolicyKind::Page),
            (Policy::api(), PolicyKind::Api),
        ] {
            assert_eq!(policy.kind, kind);
            assert_eq!(policy.redirect_to, None);
            assert!(!policy.redirect_if_authenticated);
            assert_eq!(policy.role, None);
            assert_eq!(policy.scope, None);
            assert!(policy.check.is_none());
        }
    }

    #[test]
    fn builder_sets_each_field_in_const() {
        assert_eq!(BUILT.kind, PolicyKind::Page);
        assert_eq!(BUILT.redirect_to, Some("/signin"));
        assert_eq!(BUILT.role, Some("admin"));
        assert_eq!(BUILT.scope, Some("reports:read"));
        let check = BUILT.check.expect("check is set");
        assert!(check(&user(json!({}))));
        assert!(
            Policy::page()
                .redirect_if_authenticated()
                .redirect_if_authenticated
        );
    }

    #[test]
    fn role_claim_as_array_or_string() {
        let array = user(json!({"roles": ["editor", "admin"]}));
        assert!(has_role(&array, "roles", "admin"));
        assert!(has_role(&array, "roles", "editor"));
        assert!(!has_role(&array, "roles", "owner"));

        let string = user(json!({"roles": "admin"}));
        assert!(has_role(&string, "roles", "admin"));
        assert!(!has_role(&string, "roles", "adm"));
    }

    #[test]
    fn role_is_compared_exactly() {
        let user = user(json!({"roles": ["Admin", "admin "]}));
        assert!(!has_role(&user, "roles", "admin"));
    }

    #[test]
    fn role_claim_of_other_types_holds_no_role() {
        for claim in [
            json!(null),
            json!(1),
            json!({"admin": true}),
            json!([["admin"]]),
        ] {
            let user = user(json!({ "roles": claim }));
            assert!(!has_role(&user, "roles", "admin"), "claim {claim}");
        }
        assert!(!has_role(&user(json!({})), "roles", "admin"));
    }

    #[test]
    fn role_claim_name_is_configurable() {
        let user = user(json!({"roles": ["admin"], "groups": ["staff"]}));
        assert!(has_role(&user, "groups", "staff"));
        assert!(!has_role(&user, "groups", "admin"));
    }

    #[test]
    fn unsafe_redirect_to_is_ignored() {
        for path in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/a b",
            "signin",
            "",
        ] {
            let policy = Policy::page().redirect_to(leak(path));
            assert_eq!(redirect_target(&policy), None, "path {path:?}");
        }
        for path in ["/", "/signin?from=nav", "/a/b#top"] {
            let policy = Policy::page().redirect_to(leak(path));
            assert_eq!(redirect_target(&policy), Some(path), "path {path:?}");
        }
    }

    fn leak(text: &str) -> &'static str {
        Box::leak(text.to_owned().into_boxed_str())
    }

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

    #[test]
    fn return_to_goes_before_fragment() {
        assert_eq!(
            with_return_to("/signin#form", "/a"),
            "/signin?returnTo=%2Fa#form"
        );
        assert_eq!(
            with_return_to("/signin?x=1#form", "/a"),
            "/signin?x=1&returnTo=%2Fa#form"
        );
    }

    #[test]
    fn forbidden_api_is_json() {
        let response = forbidden_response(PolicyKind::Api);

        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "private, no-store");
        assert_eq!(response.body().as_ref(), br#"{"error":"forbidden"}"#);
    }

    #[test]
    fn forbidden_page_is_html() {
        let response = forbidden_response(PolicyKind::Page);

        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers()["cache-control"], "private, no-store");
        let body = std::str::from_utf8(response.body()).expect("the page is UTF-8");
        assert!(body.contains("<title>Forbidden</title>"), "{body}");
        assert!(body.contains("does not have permission"), "{body}");
    }
}
