use roq_auth::axum::{require_auth, with_auth};

// Each option has its own mistake, and the function another one. All are
// reported in one build.
#[require_auth(
    redirectTo = "/signin",
    redirect_to = "//evil.example",
    role = admin,
    redirect_if_authenticated,
    scope = "a b",
)]
#[with_auth]
fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
