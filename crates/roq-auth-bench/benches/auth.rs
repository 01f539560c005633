//! roq-auth against the cost floor and its peers. Each group measures one
//! comparison in one run, so that its ratio is valid on a noisy machine.
//! BENCHMARKS.md at the workspace root lists what each side does and
//! carries; `scripts/bench-ratios` prints the ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use roq_auth::{AuthRoute, Policy};
use roq_auth_bench::apps;
use roq_auth_bench::floor::Floor;
use roq_auth_bench::jar::PrivateJar;
use roq_auth_bench::payload::{self, FullSession};
use roq_auth_bench::provider::{self, StandInProvider};
use roq_auth_bench::signing::SigningKey;

/// The policy of `#[with_auth]` without options, as on the demo's `/api/me`.
const API: Policy = Policy::api();

/// Returns a second cookie of the size of a sealed ID token, named as
/// roq-auth names the cookie that keeps the tokens out of the session
/// cookie. Browsers send it on every request, and the guard must skip it
/// without decrypting it.
fn tokens_cookie(id_token: &str) -> String {
    let floor = Floor::new();
    format!("roq_session_tokens={}", floor.seal(&id_token))
}

/// How many active sessions fill the session cache: more than its 16 MiB
/// capacity at its estimate of about 2.2 KB per session of this size.
const ACTIVE_SESSIONS: usize = 10_000;

/// Returns a sign-in whose session cache is full of active sessions. Each
/// is read by two requests, as a signed-in user's session is, so the cache
/// keeps it in its main queue.
fn auth_with_active_sessions() -> roq_auth::Auth {
    let auth = apps::auth();
    for _ in 0..ACTIVE_SESSIONS {
        let headers = headers_with(&apps::session_cookie(&auth));
        for _ in 0..2 {
            let loaded = auth
                .load_session_now(&headers)
                .expect("the benchmark app uses the memory revocation store");
            assert!(loaded.session.is_some());
        }
    }
    auth
}

fn headers_with(cookie: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(cookie).expect("cookies are ASCII"),
    );
    headers
}

/// Reading a session: the floor, the private jar, and roq-auth's guard on
/// a session cookie it has not seen before.
fn unseal(c: &mut Criterion) {
    let key = SigningKey::generate();
    let session = FullSession::new(&key, payload::now());
    let json = session.to_json();

    let floor = Floor::new();
    let floor_sealed = floor.seal(&session);
    assert_eq!(
        floor.unseal::<FullSession>(&floor_sealed),
        Some(session.clone())
    );

    let jar = PrivateJar::new();
    let jar_header = jar.cookie_header(&json);
    assert_eq!(jar.read::<FullSession>(&jar_header), Some(session.clone()));

    let auth = apps::auth();
    let tokens = tokens_cookie(&session.id_token);
    eprintln!(
        "payload: {} bytes of JSON with a {}-character ID token; floor value {} characters; \
         private jar header {} characters; roq-auth session cookie {} characters plus a \
         {}-character tokens cookie",
        json.len(),
        session.id_token.len(),
        floor_sealed.len(),
        jar_header.len(),
        apps::session_cookie(&auth).len(),
        tokens.len(),
    );

    let mut group = c.benchmark_group("unseal");
    group.bench_function("floor", |b| {
        b.iter(|| floor.unseal::<FullSession>(black_box(&floor_sealed)))
    });
    group.bench_function("private_jar", |b| {
        b.iter(|| jar.read::<FullSession>(black_box(&jar_header)))
    });
    // Every iteration reads a cookie sealed in advance and never read
    // before: a cache miss and an insert. The cache is the one the other
    // iterations fill with such one-time sessions, so once it is full each
    // insert also evicts the oldest of them, whose memory has long left the
    // CPU cache: the worst case.
    group.bench_function("roq_first_sight", |b| {
        b.iter_custom(|iters| first_sight(&auth, &tokens, iters))
    });
    // The same on a cache full of active sessions, as on a long-running
    // server with signed-in users. The cache keeps those and evicts the
    // one-time sessions of earlier iterations while they are recent.
    let active = auth_with_active_sessions();
    group.bench_function("roq_first_sight_active_cache", |b| {
        b.iter_custom(|iters| first_sight(&active, &tokens, iters))
    });
    // The same with an empty cache at the start of each sample, so that
    // few inserts evict: what eviction adds to a first sight.
    group.bench_function("roq_first_sight_no_eviction", |b| {
        b.iter_custom(|iters| first_sight(&apps::auth(), &tokens, iters))
    });
    group.finish();
}

/// Times `iters` guarded reads of session cookies never seen before, each
/// with `tokens` as a second cookie. The cookies are sealed in batches of
/// 32 outside the timed part, so each is in the CPU cache when read, as a
/// request just received is.
fn first_sight(auth: &roq_auth::Auth, tokens: &str, iters: u64) -> Duration {
    const BATCH: u64 = 32;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        left -= batch;
        let requests: Vec<HeaderMap> = (0..batch)
            .map(|_| headers_with(&format!("{}; {tokens}", apps::session_cookie(auth))))
            .collect();
        let start = Instant::now();
        // As the adapters do: the session is read once, then the policy
        // decides on it.
        for headers in &requests {
            let loaded = auth
                .load_session_now(headers)
                .expect("the benchmark app uses the memory revocation store");
            assert!(loaded.session.is_some());
            black_box(auth.decide(&API, loaded.session, apps::ME_PATH));
        }
        total += start.elapsed();
    }
    total
}

/// Writing a session: the floor's seal of the full session, and roq-auth
/// sealing its session into a `Cookie` header value.
fn seal(c: &mut Criterion) {
    let key = SigningKey::generate();
    let session = FullSession::new(&key, payload::now());
    let floor = Floor::new();
    let auth = apps::auth();

    let mut group = c.benchmark_group("seal");
    group.bench_function("floor", |b| b.iter(|| floor.seal(black_box(&session))));
    group.bench_function("roq", |b| {
        b.iter_batched(
            payload::user,
            |user| auth.test_session_cookie(user, &payload::SCOPES),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A guarded request whose session was seen before, in process, against
/// the same handler unguarded and against axum-login.
fn guard(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let auth = apps::auth();
    let cookie = apps::session_cookie(&auth);

    let unguarded = apps::axum_unguarded();
    let guarded = apps::axum_guarded(auth.clone());
    let (login_app, login_cookie) = runtime.block_on(apps::axum_login());
    runtime.block_on(async {
        assert_eq!(apps::call_me(&unguarded, None).await, 200);
        assert_eq!(apps::call_me(&guarded, Some(&cookie)).await, 200);
        assert_eq!(apps::call_me(&guarded, None).await, 401);
        assert_eq!(apps::call_me(&login_app, Some(&login_cookie)).await, 200);
        assert_eq!(apps::call_me(&login_app, None).await, 401);
    });

    let mut group = c.benchmark_group("guard");
    let mut axum_case = |name: &str, app: &axum::Router, cookie: Option<&str>| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(apps::call_me(app, cookie).await);
                    }
                    start.elapsed()
                })
            })
        });
    };
    axum_case("axum_unguarded", &unguarded, Some(&cookie));
    axum_case("axum_roq", &guarded, Some(&cookie));
    axum_case("axum_login", &login_app, Some(&login_cookie));

    let headers = headers_with(&cookie);
    group.bench_function("roq_session_hit", |b| {
        b.iter(|| auth.load_session_now(black_box(&headers)).unwrap().session)
    });

    actix_cases(&mut group, &auth, &cookie);
    group.finish();
}

fn actix_cases(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    auth: &roq_auth::Auth,
    cookie: &str,
) {
    use actix_web::{test, web, App};

    let system = actix_web::rt::System::new();
    let unguarded = system.block_on(test::init_service(
        App::new().route(apps::ME_PATH, web::get().to(apps::actix::unguarded_me)),
    ));
    let guarded = system.block_on(test::init_service(
        App::new()
            .wrap(roq_auth::actix::AuthMiddleware::new(auth.clone()))
            .route(apps::ME_PATH, web::get().to(apps::actix::me)),
    ));
    let request = || {
        test::TestRequest::get()
            .uri(apps::ME_PATH)
            .insert_header((actix_web::http::header::COOKIE, cookie))
            .to_request()
    };
    system.block_on(async {
        assert_eq!(
            test::call_service(&unguarded, request()).await.status(),
            200
        );
        assert_eq!(test::call_service(&guarded, request()).await.status(), 200);
    });

    group.bench_function("actix_unguarded", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(test::call_service(&unguarded, request()).await);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("actix_roq", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(test::call_service(&guarded, request()).await);
                }
                start.elapsed()
            })
        })
    });
}

/// The callback with the provider's responses ready, against one RS256
/// verification of the same ID token.
fn callback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let provider = StandInProvider::start(&runtime);
    let auth = roq_auth::Auth::new(apps::config(provider.issuer()));
    let request = runtime.block_on(provider.prepare_callback(&auth));
    let response = runtime.block_on(auth.handle(AuthRoute::Callback, &request, &[]));
    assert_eq!(
        response.status(),
        303,
        "the callback must sign in: {:?}",
        String::from_utf8_lossy(response.body())
    );

    let id_token = provider.id_token();
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(provider.key().jwks()).expect("a valid key set");
    let decoding_key = DecodingKey::from_jwk(&jwks.keys[0]).expect("a usable key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[provider.issuer()]);
    validation.set_audience(&[payload::CLIENT_ID]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");

    let mut group = c.benchmark_group("callback");
    group.bench_function("rs256_verify", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                black_box(&id_token),
                &decoding_key,
                &validation,
            )
            .expect("a valid token")
        })
    });
    // The provider runs on this thread's runtime, so the token request
    // wakes no other thread; see `provider`.
    group.bench_function("roq_callback", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let response = auth.handle(AuthRoute::Callback, &request, &[]).await;
                    assert_eq!(response.status(), 303);
                    black_box(response);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("token_round_trip", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(provider::token_round_trip(&http, provider.issuer()).await);
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, unseal, seal, guard, callback);
criterion_main!(benches);
