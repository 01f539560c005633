//! `ForgedProvider`: a test double of an OpenID provider that can send what
//! a real provider never sends (forged or broken ID tokens, a wrong `state`
//! or `iss`, bad key sets, garbage, redirects and slow responses), so that the
//! conformance suite can check that the relying party rejects each one.
//!
//! It runs inside the test process on 127.0.0.1 and has no login form: its
//! authorization endpoint redirects straight back to the app's callback with
//! a code. Each test sets its responses through a [`Script`], whose default is
//! an honest provider, and every request it receives is recorded. The real
//! `oidc-provider` (`support::OidcProvider`) stays the reference for the
//! honest path.
//!
//! It also serves a userinfo endpoint, and builds back-channel logout tokens
//! ([`ForgedProvider::logout_token`]) that a test changes and posts to the
//! app itself, because the provider has no sessions to end.
//!
//! Its RSA keys are generated once per test binary with `aws-lc-rs`, so no
//! private key is committed to the repository.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey};
use rand::RngCore as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use url::Url;

/// The path of the issuer on the provider's origin. Its capital letter lets
/// a test send an issuer that differs only in case.
pub const ISSUER_PATH: &str = "/Tenant";

/// The `sub` of the honest ID token.
pub const SUBJECT: &str = "forged-user";

/// Seconds the honest ID token is valid for.
const ID_TOKEN_LIFETIME_SECS: u64 = 300;

/// One of the provider's endpoints, by the path a request was sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/.well-known/openid-configuration` under the issuer.
    Discovery,
    /// The authorization endpoint.
    Authorize,
    /// The token endpoint.
    Token,
    /// The `jwks_uri`.
    Jwks,
    /// The userinfo endpoint.
    Userinfo,
    /// Any other path, such as the target of a scripted redirect.
    Other,
}

/// A request the provider received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The endpoint the path belongs to.
    pub endpoint: Endpoint,
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters, decoded.
    pub query: Vec<(String, String)>,
    /// The headers, with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The fields of an `application/x-www-form-urlencoded` body, decoded.
    pub form: Vec<(String, String)>,
}

impl RecordedRequest {
    /// Returns the first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// Returns the first query parameter named `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        find(&self.query, name)
    }

    /// Returns the first form field named `name`.
    pub fn form_value(&self, name: &str) -> Option<&str> {
        find(&self.form, name)
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A complete HTTP response that replaces what an endpoint would send.
#[derive(Clone, Debug)]
pub struct CannedReply {
    /// The status code.
    pub status: u16,
    /// Headers to send, such as `content-type` or `location`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl CannedReply {
    /// Builds a reply with the given status, `Content-Type` and body.
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> CannedReply {
        CannedReply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Builds a JSON reply.
    pub fn json(status: u16, body: Value) -> CannedReply {
        CannedReply::new(status, "application/json", body.to_string())
    }

    /// Builds a redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> CannedReply {
        CannedReply {
            status,
            headers: vec![("location".into(), location.into())],
            body: String::new(),
        }
    }
}

/// What to put in one parameter of the redirect back to the app.
#[derive(Clone, Debug, Default)]
pub enum Param {
    /// The value an honest provider sends.
    #[default]
    Genuine,
    /// No parameter at all.
    Omit,
    /// This value instead.
    Replace(String),
}

/// The provider's keys. Only the keys a [`JwksScript`] lists are published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyName {
    /// The key published and used by default.
    Primary,
    /// The key a test rotates to.
    Rotated,
    /// A key that is never published unless a test lists it.
    Unlisted,
}

/// How a token is signed.
#[derive(Clone, Debug)]
pub enum Signer {
    /// RS256 with one of the provider's RSA keys.
    Key(KeyName),
    /// HS256 with these bytes as the HMAC key, such as the client secret or
    /// the public key in PEM form.
    Hmac(Vec<u8>),
    /// No signature: the header's `alg` is this text and the signature part
    /// is empty.
    Unsigned(String),
}

/// The `kid` in the ID token's header.
#[derive(Clone, Debug, Default)]
pub enum Kid {
    /// The signing key's `kid`; for HMAC and unsigned tokens, the primary
    /// key's `kid`, as an attacker would name it.
    #[default]
    OfSigner,
    /// No `kid`.
    Omit,
    /// This value instead.
    Replace(String),
}

/// The discovery document.
#[derive(Clone, Debug)]
pub struct DiscoveryScript {
    /// The `issuer` member, when it should differ from the real issuer.
    pub issuer: Option<String>,
    /// `response_types_supported`.
    pub response_types_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub iss_parameter_supported: bool,
    /// `token_endpoint`, when it should point elsewhere.
    pub token_endpoint: Option<String>,
    /// `jwks_uri`, when it should point elsewhere.
    pub jwks_uri: Option<String>,
    /// A reply that replaces the document.
    pub reply: Option<CannedReply>,
    /// How long to wait before responding.
    pub delay: Duration,
}

/// The redirect from the authorization endpoint back to the app.
#[derive(Clone, Debug, Default)]
pub struct AuthorizeScript {
    /// The `state` parameter.
    pub state: Param,
    /// The RFC 9207 `iss` parameter.
    pub iss: Param,
    /// Sends `error` and `error_description` instead of a code.
    pub error: Option<(String, String)>,
}

/// The token endpoint.
#[derive(Clone, Debug)]
pub struct TokenScript {
    /// A reply that replaces the token response.
    pub reply: Option<CannedReply>,
    /// `token_type`.
    pub token_type: String,
    /// `expires_in`, or `None` to leave it out.
    pub expires_in: Option<u64>,
    /// Whether the response has an `id_token`.
    pub include_id_token: bool,
    /// How long to wait before responding.
    pub delay: Duration,
}

/// The ID token in the token response.
#[derive(Clone, Debug)]
pub struct IdTokenScript {
    /// Claims to add or overwrite.
    pub set_claims: Map<String, Value>,
    /// Claims to leave out.
    pub remove_claims: Vec<String>,
    /// How the token is signed.
    pub signer: Signer,
    /// The header's `kid`.
    pub kid: Kid,
    /// Whether to flip bytes in the middle of the signature.
    pub flip_signature: bool,
    /// The header's `typ`, or `None` to leave it out.
    pub typ: Option<String>,
}

impl IdTokenScript {
    /// Sets the claim `name` to `value`.
    pub fn set(&mut self, name: &str, value: Value) {
        self.set_claims.insert(name.to_owned(), value);
    }

    /// Leaves the claim `name` out.
    pub fn remove(&mut self, name: &str) {
        self.remove_claims.push(name.to_owned());
    }
}

/// The userinfo endpoint. By default it returns the `sub`, `name` and
/// `email` of the ID token issued with the access token it is called with.
#[derive(Clone, Debug, Default)]
pub struct UserinfoScript {
    /// Claims to add or overwrite, such as another `sub`.
    pub set_claims: Map<String, Value>,
    /// A reply that replaces the response to a valid access token.
    pub reply: Option<CannedReply>,
}

impl UserinfoScript {
    /// Sets the claim `name` to `value`.
    pub fn set(&mut self, name: &str, value: Value) {
        self.set_claims.insert(name.to_owned(), value);
    }
}

/// The key set at the `jwks_uri`.
#[derive(Clone, Debug)]
pub struct JwksScript {
    /// The keys published, in order.
    pub keys: Vec<KeyName>,
    /// Whether to publish the keys without `kid`.
    pub omit_kid: bool,
    /// A reply that replaces the key set.
    pub reply: Option<CannedReply>,
    /// How long to wait before responding.
    pub delay: Duration,
}

/// Everything a test can make the provider do. The default is an honest
/// provider that signs in [`SUBJECT`].
#[derive(Clone, Debug)]
pub struct Script {
    /// The discovery document.
    pub discovery: DiscoveryScript,
    /// The redirect back to the app.
    pub authorize: AuthorizeScript,
    /// The token response.
    pub token: TokenScript,
    /// The ID token.
    pub id_token: IdTokenScript,
    /// The key set.
    pub jwks: JwksScript,
    /// The userinfo endpoint.
    pub userinfo: UserinfoScript,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            discovery: DiscoveryScript {
                issuer: None,
                response_types_supported: vec!["code".into()],
                iss_parameter_supported: true,
                token_endpoint: None,
                jwks_uri: None,
                reply: None,
                delay: Duration::ZERO,
            },
            authorize: AuthorizeScript::default(),
            token: TokenScript {
                reply: None,
                token_type: "Bearer".into(),
                expires_in: Some(300),
                include_id_token: true,
                delay: Duration::ZERO,
            },
            id_token: IdTokenScript {
                set_claims: Map::new(),
                remove_claims: Vec::new(),
                signer: Signer::Key(KeyName::Primary),
                kid: Kid::OfSigner,
                flip_signature: false,
                typ: Some("JWT".into()),
            },
            jwks: JwksScript {
                keys: vec![KeyName::Primary],
                omit_kid: false,
                reply: None,
                delay: Duration::ZERO,
            },
            userinfo: UserinfoScript::default(),
        }
    }
}

/// An RSA key of the provider.
pub struct TestKey {
    /// Its `kid`.
    pub kid: String,
    /// The public key as an SPKI PEM document, as an attacker would find it.
    pub public_key_pem: String,
    encoding_key: EncodingKey,
    jwk: Jwk,
}

impl TestKey {
    fn generate(kid: &str) -> TestKey {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation works");
        let pkcs8: Pkcs8V1Der<'static> = pair.as_der().expect("the key encodes as PKCS#8");
        let encoding_key = EncodingKey::from_rsa_der(&pkcs1_from_pkcs8(pkcs8.as_ref()));

        let mut jwk = Jwk::from_encoding_key(&encoding_key, Algorithm::RS256)
            .expect("the public JWK derives from the key");
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);

        let spki: PublicKeyX509Der<'static> = pair
            .public_key()
            .as_der()
            .expect("the public key encodes as SPKI");
        let base64 = STANDARD.encode(spki.as_ref());
        let lines: Vec<&str> = base64
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
            .collect();
        let public_key_pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        );

        TestKey {
            kid: kid.to_owned(),
            public_key_pem,
            encoding_key,
            jwk,
        }
    }
}

/// Returns one of the provider's keys. All forged providers in a test
/// binary share them, because generating RSA keys is slow.
pub fn test_key(name: KeyName) -> &'static TestKey {
    static KEYS: OnceLock<[TestKey; 3]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [
            TestKey::generate("forged-primary"),
            TestKey::generate("forged-rotated"),
            TestKey::generate("forged-unlisted"),
        ]
    });
    match name {
        KeyName::Primary => &keys[0],
        KeyName::Rotated => &keys[1],
        KeyName::Unlisted => &keys[2],
    }
}

/// Returns the tag, the content and the rest after one DER element.
fn der_element(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let first = input[1];
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        let length = input[2..2 + count]
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
        (length, 2 + count)
    };
    (
        tag,
        &input[header..header + length],
        &input[header + length..],
    )
}

/// Extracts the PKCS#1 `RSAPrivateKey` from a PKCS#8 `PrivateKeyInfo`
/// (RFC 5208: a SEQUENCE of version, algorithm and an OCTET STRING holding
/// the key), because `jsonwebtoken` without its PEM feature reads PKCS#1
/// only.
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    let (_, info, _) = der_element(pkcs8);
    let (_, _, after_version) = der_element(info);
    let (_, _, after_algorithm) = der_element(after_version);
    let (tag, key, _) = der_element(after_algorithm);
    assert_eq!(tag, 0x04, "PKCS#8 holds the key in an OCTET STRING");
    key.to_vec()
}

/// A code the authorization endpoint issued, with what the token endpoint
/// checks it against.
struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    used: bool,
}

struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    script: Mutex<Script>,
    grants: Mutex<HashMap<String, Grant>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// The claims of the ID token issued with each access token, which the
    /// userinfo endpoint returns.
    access_tokens: Mutex<HashMap<String, Map<String, Value>>>,
    /// Every ID token the token endpoint returned, in order.
    id_tokens: Mutex<Vec<String>>,
}

/// The misbehaving provider, served on 127.0.0.1 until dropped.
pub struct ForgedProvider {
    /// The issuer, such as `http://127.0.0.1:40123/Tenant`.
    pub issuer: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ForgedProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ForgedProvider {
    /// Starts the provider with one registered client.
    pub async fn start(client_id: &str, client_secret: &str) -> ForgedProvider {
        // Generate the keys before serving, so that no request waits on it.
        test_key(KeyName::Primary);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0 works");
        let address = listener.local_addr().expect("the listener has an address");
        let issuer = format!("http://{address}{ISSUER_PATH}");
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            script: Mutex::new(Script::default()),
            grants: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            access_tokens: Mutex::new(HashMap::new()),
            id_tokens: Mutex::new(Vec::new()),
        });

        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the forged provider serves");
        });
        ForgedProvider {
            issuer,
            shared,
            server,
        }
    }

    /// Changes what the provider sends from now on.
    pub fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.shared.script.lock().expect("lock"));
    }

    /// Returns a URL on the provider: the issuer followed by `suffix`.
    pub fn url(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.issuer)
    }

    /// Returns every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// Returns the number of requests so far: a mark for
    /// [`ForgedProvider::requests_since`].
    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().expect("lock").len()
    }

    /// Returns the requests received after the first `mark`.
    pub fn requests_since(&self, mark: usize) -> Vec<RecordedRequest> {
        let requests = self.shared.requests.lock().expect("lock");
        requests.get(mark..).unwrap_or_default().to_vec()
    }

    /// Returns the endpoints of the requests received after the first
    /// `mark`.
    pub fn endpoints_since(&self, mark: usize) -> Vec<Endpoint> {
        self.requests_since(mark)
            .iter()
            .map(|request| request.endpoint)
            .collect()
    }

    /// Counts the requests that reached `endpoint` so far.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.endpoints_since(0)
            .into_iter()
            .filter(|seen| *seen == endpoint)
            .count()
    }

    /// Returns the last request to `endpoint`.
    pub fn last(&self, endpoint: Endpoint) -> Option<RecordedRequest> {
        self.requests()
            .into_iter()
            .rev()
            .find(|request| request.endpoint == endpoint)
    }

    /// Returns every ID token the token endpoint returned, oldest first.
    pub fn issued_id_tokens(&self) -> Vec<String> {
        self.shared.id_tokens.lock().expect("lock").clone()
    }

    /// Returns the logout token an honest provider sends when the user
    /// `sub` ends the provider session `sid`: signed with the primary key,
    /// typed `logout+jwt`, issued now and valid for two minutes. Leave `sub`
    /// or `sid` out with `None`.
    pub fn logout_token(&self, sub: Option<&str>, sid: Option<&str>) -> LogoutToken {
        let now = unix_now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.shared.issuer));
        claims.insert("aud".into(), json!(self.shared.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + LOGOUT_TOKEN_LIFETIME_SECS));
        claims.insert("jti".into(), json!(random_hex(16)));
        claims.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        if let Some(sub) = sub {
            claims.insert("sub".into(), json!(sub));
        }
        if let Some(sid) = sid {
            claims.insert("sid".into(), json!(sid));
        }

        let mut header = Map::new();
        header.insert("typ".into(), json!("logout+jwt"));
        header.insert("kid".into(), json!(test_key(KeyName::Primary).kid));
        LogoutToken {
            header,
            claims,
            signer: Signer::Key(KeyName::Primary),
        }
    }
}

/// The member of a logout token's `events` claim that marks it as one
/// (OpenID Connect Back-Channel Logout 1.0, section 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Seconds an honest logout token is valid for.
const LOGOUT_TOKEN_LIFETIME_SECS: u64 = 120;

/// A back-channel logout token before it is signed. Change its parts, then
/// call [`LogoutToken::sign`].
#[derive(Clone, Debug)]
pub struct LogoutToken {
    /// The JOSE header without `alg`, which [`LogoutToken::sign`] sets from
    /// the signer.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
    /// How the token is signed.
    pub signer: Signer,
}

impl LogoutToken {
    /// Sets the claim `name` to `value`.
    pub fn set(&mut self, name: &str, value: Value) {
        self.claims.insert(name.to_owned(), value);
    }

    /// Leaves the claim `name` out.
    pub fn remove(&mut self, name: &str) {
        self.claims.remove(name);
    }

    /// Signs the token and returns its compact serialization.
    pub fn sign(&self) -> String {
        sign_jwt(&self.header, &self.claims, &self.signer)
    }
}

/// Signs `claims` as a compact JWT. The header is `header` with `alg` set
/// from `signer`. A [`Signer::Unsigned`] token gets that signer's `alg` text
/// and an empty signature.
pub fn sign_jwt(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    signer: &Signer,
) -> String {
    let mut header = header.clone();
    let alg = match signer {
        Signer::Key(_) => "RS256".to_owned(),
        Signer::Hmac(_) => "HS256".to_owned(),
        Signer::Unsigned(alg) => alg.clone(),
    };
    header.insert("alg".into(), json!(alg));

    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    let signature = match signer {
        Signer::Key(name) => jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &test_key(*name).encoding_key,
            Algorithm::RS256,
        )
        .expect("RS256 signing works"),
        Signer::Hmac(secret) => jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .expect("HS256 signing works"),
        Signer::Unsigned(_) => String::new(),
    };
    format!("{signing_input}.{signature}")
}

impl Shared {
    fn endpoint_of(&self, path: &str) -> Endpoint {
        match path.strip_prefix(ISSUER_PATH) {
            Some("/.well-known/openid-configuration") => Endpoint::Discovery,
            Some("/authorize") => Endpoint::Authorize,
            Some("/token") => Endpoint::Token,
            Some("/jwks") => Endpoint::Jwks,
            Some("/userinfo") => Endpoint::Userinfo,
            _ => Endpoint::Other,
        }
    }

    fn script(&self) -> Script {
        self.script.lock().expect("lock").clone()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = shared.endpoint_of(uri.path());
    let query = decode_pairs(uri.query().unwrap_or("").as_bytes());
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form {
        decode_pairs(&body)
    } else {
        Vec::new()
    };
    let request = RecordedRequest {
        endpoint,
        method: method.to_string(),
        path: uri.path().to_owned(),
        query,
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        form,
    };
    shared.requests.lock().expect("lock").push(request.clone());

    let script = shared.script();
    match endpoint {
        Endpoint::Discovery => discovery(&shared, &script.discovery).await,
        Endpoint::Authorize => authorize(&shared, &script.authorize, &request),
        Endpoint::Token => token(&shared, &script, &request).await,
        Endpoint::Jwks => jwks(&script.jwks).await,
        Endpoint::Userinfo => userinfo(&shared, &script.userinfo, &request),
        Endpoint::Other => StatusCode::NOT_FOUND.into_response(),
    }
}

fn decode_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn canned(reply: &CannedReply) -> Response {
    let mut response = reply.body.clone().into_response();
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("a valid status code");
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    for (name, value) in &reply.headers {
        headers.append(
            header::HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            HeaderValue::from_str(value).expect("a valid header value"),
        );
    }
    response
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn discovery(shared: &Shared, script: &DiscoveryScript) -> Response {
    tokio::time::sleep(script.delay).await;
    if let Some(reply) = &script.reply {
        return canned(reply);
    }
    let issuer = &shared.issuer;
    json_response(
        StatusCode::OK,
        json!({
            "issuer": script.issuer.as_deref().unwrap_or(issuer),
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": script.token_endpoint.clone().unwrap_or(format!("{issuer}/token")),
            "jwks_uri": script.jwks_uri.clone().unwrap_or(format!("{issuer}/jwks")),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "response_types_supported": script.response_types_supported,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email"],
            "authorization_response_iss_parameter_supported": script.iss_parameter_supported,
        }),
    )
}

fn authorize(shared: &Shared, script: &AuthorizeScript, request: &RecordedRequest) -> Response {
    let Some(redirect_uri) = request.query_value("redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is missing").into_response();
    };
    let Ok(mut callback) = Url::parse(redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is not a URL").into_response();
    };

    let code = random_hex(16);
    shared.grants.lock().expect("lock").insert(
        code.clone(),
        Grant {
            redirect_uri: redirect_uri.to_owned(),
            nonce: request.query_value("nonce").map(str::to_owned),
            code_challenge: request.query_value("code_challenge").map(str::to_owned),
            used: false,
        },
    );

    {
        let mut pairs = callback.query_pairs_mut();
        match &script.error {
            Some((error, description)) => {
                pairs.append_pair("error", error);
                pairs.append_pair("error_description", description);
            }
            None => {
                pairs.append_pair("code", &code);
            }
        }
        let genuine_state = request.query_value("state");
        match (&script.state, genuine_state) {
            (Param::Genuine, Some(state)) => {
                pairs.append_pair("state", state);
            }
            (Param::Replace(state), _) => {
                pairs.append_pair("state", state);
            }
            _ => {}
        }
        match &script.iss {
            Param::Genuine => {
                pairs.append_pair("iss", &shared.issuer);
            }
            Param::Replace(iss) => {
                pairs.append_pair("iss", iss);
            }
            Param::Omit => {}
        }
    }

    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, callback.to_string())],
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    json_response(status, json!({ "error": error }))
}

async fn token(shared: &Shared, script: &Script, request: &RecordedRequest) -> Response {
    tokio::time::sleep(script.token.delay).await;
    if let Some(reply) = &script.token.reply {
        return canned(reply);
    }

    if request.form_value("grant_type") != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if !client_authenticated(shared, request.header("authorization")) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }

    let code = request.form_value("code").unwrap_or_default();
    let nonce = {
        let mut grants = shared.grants.lock().expect("lock");
        let Some(grant) = grants.get_mut(code).filter(|grant| !grant.used) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        };
        grant.used = true;
        let verifier = request.form_value("code_verifier").unwrap_or_default();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if request.form_value("redirect_uri") != Some(grant.redirect_uri.as_str())
            || grant.code_challenge.as_deref() != Some(challenge.as_str())
        {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
        grant.nonce.clone()
    };

    let access_token = random_hex(16);
    let claims = id_token_claims(shared, &script.id_token, nonce.as_deref());
    shared
        .access_tokens
        .lock()
        .expect("lock")
        .insert(access_token.clone(), claims.clone());
    let mut body = json!({
        "access_token": access_token,
        "token_type": script.token.token_type,
    });
    if let Some(expires_in) = script.token.expires_in {
        body["expires_in"] = json!(expires_in);
    }
    if script.token.include_id_token {
        let id_token = id_token(&script.id_token, &claims);
        shared
            .id_tokens
            .lock()
            .expect("lock")
            .push(id_token.clone());
        body["id_token"] = json!(id_token);
    }
    json_response(StatusCode::OK, body)
}

/// Returns the claims of the ID token issued with the bearer token, changed
/// by the script, or 401 for a token this provider did not issue.
fn userinfo(shared: &Shared, script: &UserinfoScript, request: &RecordedRequest) -> Response {
    let bearer = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "));
    let issued = bearer.and_then(|token| {
        shared
            .access_tokens
            .lock()
            .expect("lock")
            .get(token)
            .cloned()
    });
    let Some(id_token_claims) = issued else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    if let Some(reply) = &script.reply {
        return canned(reply);
    }

    let mut claims = Map::new();
    for name in ["sub", "name", "email"] {
        if let Some(value) = id_token_claims.get(name) {
            claims.insert(name.to_owned(), value.clone());
        }
    }
    for (name, value) in &script.set_claims {
        claims.insert(name.clone(), value.clone());
    }
    json_response(StatusCode::OK, Value::Object(claims))
}

/// Checks HTTP Basic client authentication as RFC 6749, section 2.3.1,
/// defines it: the client id and secret are form-urlencoded, then joined
/// with `:` and base64-encoded.
fn client_authenticated(shared: &Shared, authorization: Option<&str>) -> bool {
    let Some(encoded) = authorization.and_then(|value| value.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return false;
    };
    form_decode(id) == shared.client_id && form_decode(secret) == shared.client_secret
}

fn form_decode(text: &str) -> String {
    decode_pairs(format!("value={text}").as_bytes())
        .into_iter()
        .next()
        .map(|(_, value)| value)
        .unwrap_or_default()
}

/// Builds the claims of the ID token the script describes.
fn id_token_claims(
    shared: &Shared,
    script: &IdTokenScript,
    nonce: Option<&str>,
) -> Map<String, Value> {
    let now = unix_now();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(shared.issuer));
    claims.insert("sub".into(), json!(SUBJECT));
    claims.insert("aud".into(), json!(shared.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + ID_TOKEN_LIFETIME_SECS));
    claims.insert("name".into(), json!("Forged User"));
    claims.insert("email".into(), json!("forged-user@example.test"));
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    for (name, value) in &script.set_claims {
        claims.insert(name.clone(), value.clone());
    }
    for name in &script.remove_claims {
        claims.remove(name);
    }
    claims
}

/// Signs `claims` as the ID token the script describes.
fn id_token(script: &IdTokenScript, claims: &Map<String, Value>) -> String {
    let signer_kid = match &script.signer {
        Signer::Key(name) => test_key(*name).kid.clone(),
        Signer::Hmac(_) | Signer::Unsigned(_) => test_key(KeyName::Primary).kid.clone(),
    };
    let mut header = Map::new();
    if let Some(typ) = &script.typ {
        header.insert("typ".into(), json!(typ));
    }
    match &script.kid {
        Kid::OfSigner => {
            header.insert("kid".into(), json!(signer_kid));
        }
        Kid::Replace(kid) => {
            header.insert("kid".into(), json!(kid));
        }
        Kid::Omit => {}
    }

    let token = sign_jwt(&header, claims, &script.signer);
    if !script.flip_signature {
        return token;
    }
    let (signing_input, signature) = token
        .rsplit_once('.')
        .expect("a compact JWT has a signature part");
    format!("{signing_input}.{}", flip_middle_bytes(signature))
}

/// Inverts four bytes in the middle of a base64url signature.
fn flip_middle_bytes(signature: &str) -> String {
    let mut bytes = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("the signature is base64url");
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 4] {
        *byte = !*byte;
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn jwks(script: &JwksScript) -> Response {
    tokio::time::sleep(script.delay).await;
    if let Some(reply) = &script.reply {
        return canned(reply);
    }
    let keys = script
        .keys
        .iter()
        .map(|name| {
            let mut jwk = test_key(*name).jwk.clone();
            if script.omit_kid {
                jwk.common.key_id = None;
            }
            jwk
        })
        .collect();
    json_response(
        StatusCode::OK,
        serde_json::to_value(JwkSet { keys }).expect("a key set serializes"),
    )
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buffer);
    buffer.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Returns the current time in seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}
