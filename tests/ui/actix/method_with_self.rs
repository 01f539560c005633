use roq_auth::actix::with_auth;

struct Api;

impl Api {
    #[with_auth]
    async fn me(&self) -> String {
        String::new()
    }
}

fn main() {}
