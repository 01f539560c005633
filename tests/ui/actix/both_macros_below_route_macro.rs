use actix_web::get;
use roq_auth::actix::{require_auth, with_auth};

#[get("/api/me")]
#[with_auth]
#[require_auth]
async fn me() -> &'static str {
    "me"
}

fn main() {}
