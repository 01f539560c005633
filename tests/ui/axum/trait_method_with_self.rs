use roq_auth::axum::with_auth;

trait Api {
    #[with_auth]
    async fn me(&self) -> String;
}

fn main() {}
