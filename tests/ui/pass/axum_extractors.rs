//! The macros keep every kind of Axum handler signature working.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use roq_auth::axum::{require_auth, with_auth, Session};
use serde::Deserialize;

#[derive(Clone, Default)]
struct AppState {
    greeting: String,
}

#[derive(Deserialize)]
struct Filter {
    page: Option<u32>,
}

#[derive(Deserialize)]
struct NewReport {
    title: String,
}

#[require_auth]
async fn with_state(State(state): State<AppState>, session: Session) -> Html<String> {
    Html(format!("{}, {}", state.greeting, session.user().sub))
}

#[require_auth(redirect_to = "/signin")]
async fn with_path(Path((team, id)): Path<(String, u64)>) -> String {
    format!("{team}/{id}")
}

#[with_auth]
async fn with_query(
    Query(filter): Query<Filter>,
    Query(all): Query<HashMap<String, String>>,
) -> String {
    format!("{:?} {}", filter.page, all.len())
}

#[with_auth(scope = "reports:write")]
async fn with_json_body_last(
    State(state): State<AppState>,
    session: Session,
    Json(report): Json<NewReport>,
) -> (StatusCode, Json<serde_json::Value>) {
    let body = serde_json::json!({
        "title": report.title,
        "by": session.user().sub,
        "greeting": state.greeting,
    });
    (StatusCode::CREATED, Json(body))
}

#[with_auth]
async fn returns_result(Path(id): Path<u64>) -> Result<Json<u64>, (StatusCode, String)> {
    if id == 0 {
        return Err((StatusCode::NOT_FOUND, "no report 0".to_owned()));
    }
    Ok(Json(id))
}

#[require_auth(role = "admin")]
async fn returns_impl_into_response(session: Option<Session>) -> impl IntoResponse {
    match session {
        Some(session) => (StatusCode::OK, session.user().sub.clone()).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
async fn no_parameters() -> Html<&'static str> {
    Html("<a href=\"/api/auth/login\">Sign in</a>")
}

#[require_auth]
pub(crate) async fn restricted_visibility() -> &'static str {
    "visible in the crate"
}

fn app() -> Router {
    Router::new()
        .route("/", get(with_state))
        .route("/teams/{team}/{id}", get(with_path))
        .route("/search", get(with_query))
        .route("/reports", post(with_json_body_last))
        .route("/reports/{id}", get(returns_result))
        .route("/admin", get(returns_impl_into_response))
        .route("/login", get(no_parameters))
        .route("/crate", get(restricted_visibility))
        .with_state(AppState::default())
}

fn main() {
    let _app: Router = app();
}
