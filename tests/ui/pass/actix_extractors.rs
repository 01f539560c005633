//! The macros keep every kind of Actix Web handler signature working.

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, Responder};
use roq_auth::actix::{require_auth, with_auth, Session};
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
async fn with_data(state: web::Data<AppState>, session: Session) -> web::Html {
    web::Html::new(format!("{}, {}", state.greeting, session.user().sub))
}

#[require_auth(redirect_to = "/signin")]
async fn with_path(path: web::Path<(String, u64)>) -> String {
    let (team, id) = path.into_inner();
    format!("{team}/{id}")
}

#[with_auth]
async fn with_query(filter: web::Query<Filter>) -> String {
    format!("{:?}", filter.page)
}

#[with_auth(scope = "reports:write")]
async fn with_json_body(
    state: web::Data<AppState>,
    session: Session,
    report: web::Json<NewReport>,
) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({
        "title": report.title,
        "by": session.user().sub,
        "greeting": state.greeting,
    }))
}

#[with_auth]
async fn returns_result(id: web::Path<u64>) -> Result<web::Json<u64>, actix_web::Error> {
    let id = id.into_inner();
    if id == 0 {
        return Err(actix_web::error::ErrorNotFound("no report 0"));
    }
    Ok(web::Json(id))
}

#[require_auth(role = "admin")]
async fn returns_impl_responder(session: Session) -> impl Responder {
    (session.user().sub.clone(), StatusCode::OK)
}

#[require_auth(redirect_if_authenticated, redirect_to = "/dashboard")]
async fn no_parameters() -> web::Html {
    web::Html::new("<a href=\"/api/auth/login\">Sign in</a>")
}

fn main() {
    let _app = App::new()
        .app_data(web::Data::new(AppState::default()))
        .route("/", web::get().to(with_data))
        .route("/teams/{team}/{id}", web::get().to(with_path))
        .route("/search", web::get().to(with_query))
        .route("/reports", web::post().to(with_json_body))
        .route("/reports/{id}", web::get().to(returns_result))
        .route("/admin", web::get().to(returns_impl_responder))
        .route("/login", web::get().to(no_parameters));
}
