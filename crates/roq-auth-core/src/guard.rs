//! The policies behind `#[require_auth]` and `#[with_auth]`.

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
