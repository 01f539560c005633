use actix_web::get;
use roq_auth::actix::require_auth;

#[require_auth(redirect_to = "https://login.example.com/")]
#[get("/dashboard")]
async fn dashboard() -> &'static str {
    "dashboard"
}

fn main() {}
