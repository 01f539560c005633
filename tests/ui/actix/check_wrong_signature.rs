use actix_web::get;
use roq_auth::actix::{require_auth, Session};

fn is_admin(session: &Session) -> bool {
    session.user().sub == "admin"
}

#[get("/admin")]
#[require_auth(check = is_admin)]
async fn admin_page() -> &'static str {
    "admin"
}

fn main() {}
