//! A guarded Actix Web handler that is generic over the application data.

use std::marker::PhantomData;

use actix_web::{web, App};
use roq_auth::actix::{require_auth, with_auth, Session};

/// State that is generic over a storage back end.
#[derive(Default)]
struct Store<B> {
    backend: PhantomData<B>,
}

#[derive(Default)]
struct MemoryBackend;

#[with_auth]
async fn generic_api<B: 'static>(_store: web::Data<Store<B>>) -> &'static str {
    "generic"
}

#[require_auth(role = "admin")]
async fn generic_page<B: 'static>(session: Session, _store: web::Data<Store<B>>) -> String {
    session.user().sub.clone()
}

/// Registers the routes for any back end, as a library would.
fn routes<B: Default + 'static>(config: &mut web::ServiceConfig) {
    config
        .app_data(web::Data::new(Store::<B>::default()))
        .route("/api/generic", web::get().to(generic_api::<B>))
        .route("/generic", web::get().to(generic_page::<B>));
}

fn main() {
    let _app = App::new().configure(routes::<MemoryBackend>);
}
