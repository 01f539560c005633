//! The Actix Web route macros work above and below the guard macros.

use actix_web::{get, post, web, App};
use roq_auth::actix::{require_auth, with_auth, Session};
use serde::Deserialize;

#[derive(Deserialize)]
struct NewReport {
    title: String,
}

#[get("/route-macro-above")]
#[require_auth(redirect_to = "/signin")]
async fn route_macro_above(session: Session) -> String {
    session.user().sub.clone()
}

#[with_auth(role = "editor")]
#[post("/route-macro-below/{id}")]
async fn route_macro_below(id: web::Path<u64>, body: web::Json<NewReport>) -> String {
    format!("{} {}", id.into_inner(), body.title)
}

#[get("/route-macro-above-with-auth")]
#[with_auth(scope = "reports:read")]
async fn with_auth_below_route_macro(session: Session) -> String {
    session.user().sub.clone()
}

fn main() {
    let _app = App::new()
        .service(route_macro_above)
        .service(route_macro_below)
        .service(with_auth_below_route_macro);
}
