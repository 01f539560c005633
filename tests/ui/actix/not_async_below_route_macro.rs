use actix_web::get;
use roq_auth::actix::require_auth;

#[get("/dashboard")]
#[require_auth]
fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
