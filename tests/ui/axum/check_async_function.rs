use roq_auth::axum::{with_auth, User};

async fn is_staff(user: &User) -> bool {
    user.sub.starts_with("staff-")
}

#[with_auth(check = is_staff)]
async fn staff_api() -> &'static str {
    "staff"
}

fn main() {}
