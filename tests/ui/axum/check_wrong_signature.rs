use roq_auth::axum::{with_auth, Session};

fn is_admin(session: &Session) -> bool {
    session.user().sub == "admin"
}

#[with_auth(check = is_admin)]
async fn admin_api() -> &'static str {
    "admin"
}

fn main() {}
