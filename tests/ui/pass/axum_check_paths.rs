//! Each way of naming a `check` function, and of naming the macro and its
//! options.

use axum::routing::get;
use axum::Router;
use roq_auth::axum::{with_auth, User};

mod rules {
    use roq_auth::axum::User;

    pub fn is_staff(user: &User) -> bool {
        user.email
            .as_deref()
            .is_some_and(|email| email.ends_with("@example.com"))
    }

    pub struct Rules;

    impl Rules {
        pub fn is_verified(user: &User) -> bool {
            user.claim("email_verified") == Some(serde_json::Value::Bool(true))
        }
    }

    pub trait Rule {
        fn allows(user: &User) -> bool;
    }

    impl Rule for Rules {
        fn allows(user: &User) -> bool {
            !user.sub.is_empty()
        }
    }
}

use rules::{Rule, Rules};

fn is_alice(user: &User) -> bool {
    user.sub == "alice"
}

#[with_auth(check = rules::is_staff)]
async fn check_in_module() {}

#[with_auth(check = crate::rules::Rules::is_verified)]
async fn check_associated_function() {}

#[with_auth(check = <Rules as Rule>::allows,)]
async fn check_trait_function() {}

#[with_auth(r#role = "admin")]
async fn raw_option_name() {}

#[roq_auth::axum::with_auth(check = self::is_alice)]
async fn full_macro_path() {}

fn app() -> Router {
    Router::new()
        .route("/api/module", get(check_in_module))
        .route("/api/associated", get(check_associated_function))
        .route("/api/trait", get(check_trait_function))
        .route("/api/raw", get(raw_option_name))
        .route("/api/full-path", get(full_macro_path))
}

fn main() {
    let _app: Router = app();
}
