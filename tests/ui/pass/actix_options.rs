//! Every option of both macros, on Actix Web handlers.

use actix_web::{get, web, App};
use roq_auth::actix::{require_auth, with_auth, User};

mod rules {
    use roq_auth::actix::User;

    pub fn is_staff(user: &User) -> bool {
        user.email
            .as_deref()
            .is_some_and(|email| email.ends_with("@example.com"))
    }
}

fn is_alice(user: &User) -> bool {
    user.sub == "alice"
}

#[require_auth]
async fn plain_page() -> &'static str {
    "page"
}

#[require_auth(redirect_to = "/signin")]
async fn page_with_target() -> &'static str {
    "page"
}

#[require_auth(redirect_if_authenticated)]
async fn signed_out_only() -> &'static str {
    "signed out"
}

#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
async fn signed_out_only_with_target() -> &'static str {
    "signed out"
}

#[get("/every")]
#[require_auth(role = "admin", scope = "reports:read", check = is_alice)]
async fn page_with_every_requirement() -> &'static str {
    "every"
}

#[with_auth]
async fn plain_api() -> &'static str {
    "api"
}

#[with_auth(role = "admin", scope = "reports:read", check = rules::is_staff)]
#[get("/api/every")]
async fn api_with_every_requirement() -> &'static str {
    "every"
}

fn main() {
    let _app = App::new()
        .route("/page", web::get().to(plain_page))
        .route("/page-with-target", web::get().to(page_with_target))
        .route("/signed-out", web::get().to(signed_out_only))
        .route(
            "/signed-out-with-target",
            web::get().to(signed_out_only_with_target),
        )
        .route("/api", web::get().to(plain_api))
        .service(page_with_every_requirement)
        .service(api_with_every_requirement);
}
