use roq_auth::axum::{require_auth, User};

fn is_staff(user: &User) -> bool {
    user.email
        .as_deref()
        .is_some_and(|email| email.ends_with("@example.com"))
}

#[require_auth(check = "is_staff")]
async fn staff_page() -> &'static str {
    "staff"
}

fn main() {
    let _ = is_staff;
}
