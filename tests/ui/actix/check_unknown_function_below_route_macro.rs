use actix_web::get;
use roq_auth::actix::{with_auth, User};

fn is_staff(user: &User) -> bool {
    user.sub.starts_with("staff-")
}

#[get("/api/staff")]
#[with_auth(check = rules::is_staff)]
async fn staff_api() -> &'static str {
    "staff"
}

fn main() {
    let _ = is_staff;
}
