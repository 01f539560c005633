use roq_auth::axum::with_auth;

#[with_auth(permission = "reports")]
async fn reports() -> &'static str {
    "reports"
}

fn main() {}
