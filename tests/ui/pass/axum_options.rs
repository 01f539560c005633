//! Every option of both macros, on Axum handlers.

use axum::routing::get;
use axum::Router;
use roq_auth::axum::{require_auth, with_auth, User};

fn is_alice(user: &User) -> bool {
    user.sub == "alice"
}

#[require_auth]
async fn plain_page() {}

#[require_auth(redirect_to = "/signin?from=page#form")]
async fn page_with_target() {}

#[require_auth(redirect_if_authenticated)]
async fn signed_out_only() {}

#[require_auth(redirect_to = "/dashboard", redirect_if_authenticated)]
async fn signed_out_only_with_target() {}

#[require_auth(role = "admin", scope = "reports:read", check = is_alice, redirect_to = "/signin")]
async fn page_with_every_requirement() {}

#[with_auth]
async fn plain_api() {}

#[with_auth(role = "Domain Admins")]
async fn api_with_role() {}

#[with_auth(scope = "https://api.example.com/reports.read")]
async fn api_with_scope() {}

fn app() -> Router {
    Router::new()
        .route("/page", get(plain_page))
        .route("/page-with-target", get(page_with_target))
        .route("/signed-out", get(signed_out_only))
        .route("/signed-out-with-target", get(signed_out_only_with_target))
        .route("/every", get(page_with_every_requirement))
        .route("/api", get(plain_api))
        .route("/api/role", get(api_with_role))
        .route("/api/scope", get(api_with_scope))
}

fn main() {
    let _app: Router = app();
}
