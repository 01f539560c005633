//! A guarded Axum handler that is generic over the application state.

use std::marker::PhantomData;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use roq_auth::axum::{require_auth, with_auth, Session};

/// State that is generic over a storage back end.
#[derive(Clone, Default)]
struct Store<B> {
    backend: PhantomData<B>,
}

#[derive(Clone, Default)]
struct MemoryBackend;

#[with_auth]
async fn generic_api<B>(State(_store): State<Store<B>>) -> &'static str
where
    B: Clone + Send + Sync + 'static,
{
    "generic"
}

#[require_auth(role = "admin")]
async fn generic_page<B: Clone + Send + Sync + 'static>(
    session: Session,
    State(_store): State<Store<B>>,
) -> String {
    session.user().sub.clone()
}

/// Builds the routes for any back end, as a library would.
fn routes<B: Clone + Default + Send + Sync + 'static>() -> Router {
    Router::new()
        .route("/api/generic", get(generic_api::<B>))
        .route("/generic", get(generic_page::<B>))
        .with_state(Store::<B>::default())
}

fn main() {
    let _app: Router = routes::<MemoryBackend>();
}
