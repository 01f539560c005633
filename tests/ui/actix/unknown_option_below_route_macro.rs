use actix_web::post;
use roq_auth::actix::with_auth;

#[post("/api/reports")]
#[with_auth(scopes = "reports:write")]
async fn create_report() -> &'static str {
    "created"
}

fn main() {}
