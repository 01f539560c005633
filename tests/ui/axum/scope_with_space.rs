use roq_auth::axum::with_auth;

#[with_auth(scope = "reports:read reports:write")]
async fn reports() -> &'static str {
    "reports"
}

fn main() {}
