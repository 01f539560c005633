#!/usr/bin/env bash
# Smoke test of the local OpenID provider in this folder, driven by curl.
# It starts server.js on a free port of 127.0.0.1 and signs in as "alice"
# through the dev login and consent forms. Then it redeems the code with
# client_secret_basic and PKCE, and checks the ID token, userinfo, refresh,
# revocation, RP-initiated logout, the back-channel logout token and shutdown.
# It stops every process it started.
# Usage: bash tests/provider/smoke.sh   (exits non-zero on the first failure)
set -euo pipefail

cd "$(dirname "$0")"

if [[ ! -d node_modules/oidc-provider ]]; then
  npm ci --no-audit --no-fund >&2
fi

WORK_DIR="$(mktemp -d)"
PROVIDER_PID=""
RECEIVER_PID=""

# Stops the processes this script started: SIGTERM first, SIGKILL after 2 s.
stop_process() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || return 0
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == "Z" ]] && break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  exec 3>&- 2>/dev/null || true
  [[ -n "$PROVIDER_PID" ]] && stop_process "$PROVIDER_PID"
  [[ -n "$RECEIVER_PID" ]] && stop_process "$RECEIVER_PID"
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT

fail() {
  echo "smoke: FAIL: $*" >&2
  if [[ -s "$WORK_DIR/provider.err" ]]; then
    echo "--- provider stderr (last 20 lines) ---" >&2
    tail -n 20 "$WORK_DIR/provider.err" >&2
  fi
  exit 1
}

step() {
  echo "smoke: $*" >&2
}

# Waits up to 10 s for the first line of FILE and prints it.
wait_for_line() {
  local file="$1"
  for _ in $(seq 1 100); do
    if [[ -s "$file" ]] && [[ "$(head -c 1 "$file")" == "{" ]] && grep -q $'\n' "$file"; then
      head -n 1 "$file"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# Prints the value of KEY from the JSON object in $1 (a path a.b is allowed).
json_get() {
  JSON_TEXT="$1" node -e '
    let value = JSON.parse(process.env.JSON_TEXT);
    for (const key of process.argv[1].split(".")) value = value?.[key];
    if (value === undefined) process.exit(3);
    process.stdout.write(typeof value === "string" ? value : JSON.stringify(value));
  ' "$2"
}

# Sends one request with the cookie jar. Sets STATUS, LOCATION and BODY_FILE.
# Redirects are never followed, so no request leaves the provider.
request() {
  local headers="$WORK_DIR/headers"
  BODY_FILE="$WORK_DIR/body"
  STATUS="$(curl -sS -o "$BODY_FILE" -D "$headers" -w '%{http_code}' \
    -b "$WORK_DIR/cookies" -c "$WORK_DIR/cookies" "$@")"
  LOCATION="$(grep -i '^location:' "$headers" | head -n 1 | cut -d' ' -f2- | tr -d '\r' || true)"
  if [[ "$LOCATION" == /* ]]; then
    LOCATION="$BASE_URL$LOCATION"
  fi
}

expect_status() {
  [[ "$STATUS" == "$1" ]] || fail "$2: expected HTTP $1, got $STATUS: $(head -c 400 "$BODY_FILE")"
}

query_param() {
  URL_TEXT="$1" node -e '
    const value = new URL(process.env.URL_TEXT).searchParams.get(process.argv[1]);
    if (value === null) process.exit(3);
    process.stdout.write(value);
  ' "$2"
}

# --- back-channel logout receiver: a plain HTTP server the test starts ------
node -e '
  const http = require("node:http");
  const fs = require("node:fs");
  const out = process.argv[1];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      fs.writeFileSync(out, JSON.stringify({ method: req.method, url: req.url, type: req.headers["content-type"], body }));
      res.writeHead(200).end();
    });
  });
  server.listen(0, "127.0.0.1", () => console.log(server.address().port));
' "$WORK_DIR/backchannel.json" >"$WORK_DIR/receiver.out" &
RECEIVER_PID=$!
for _ in $(seq 1 50); do [[ -s "$WORK_DIR/receiver.out" ]] && break; sleep 0.1; done
RECEIVER_PORT="$(head -n 1 "$WORK_DIR/receiver.out")"
[[ "$RECEIVER_PORT" =~ ^[0-9]+$ ]] || fail "back-channel receiver did not start"

# --- start the provider -----------------------------------------------------
CLIENT_ID="roq-test-client"
CLIENT_SECRET="roq-test-secret"
REDIRECT_URI="http://127.0.0.1:3000/api/auth/callback"
POST_LOGOUT_URI="http://127.0.0.1:3000/"
BACKCHANNEL_URI="http://127.0.0.1:$RECEIVER_PORT/backchannel-logout"

export PROVIDER_PORT=0
export PROVIDER_HOST=127.0.0.1
export PROVIDER_ACCESS_TOKEN_TTL=120
export PROVIDER_CLIENTS="[{\"client_id\":\"$CLIENT_ID\",\"client_secret\":\"$CLIENT_SECRET\",\"redirect_uris\":[\"$REDIRECT_URI\"],\"post_logout_redirect_uris\":[\"$POST_LOGOUT_URI\"],\"backchannel_logout_uri\":\"$BACKCHANNEL_URI\"}]"

node server.js >"$WORK_DIR/provider.out" 2>"$WORK_DIR/provider.err" &
PROVIDER_PID=$!

LISTENING_LINE="$(wait_for_line "$WORK_DIR/provider.out")" || fail "provider printed no listening line within 10 s"
[[ "$(json_get "$LISTENING_LINE" event)" == "listening" ]] || fail "unexpected first stdout line: $LISTENING_LINE"
ISSUER="$(json_get "$LISTENING_LINE" issuer)"
PORT="$(json_get "$LISTENING_LINE" port)"
BASE_URL="http://127.0.0.1:$PORT"
[[ "$ISSUER" == "$BASE_URL" ]] || fail "issuer $ISSUER does not match http://127.0.0.1:$PORT"
step "provider listening, issuer $ISSUER"

# --- discovery --------------------------------------------------------------
request "$BASE_URL/.well-known/openid-configuration"
expect_status 200 "discovery"
DISCOVERY="$(cat "$BODY_FILE")"
[[ "$(json_get "$DISCOVERY" issuer)" == "$ISSUER" ]] || fail "discovery issuer differs from $ISSUER"
[[ "$(json_get "$DISCOVERY" code_challenge_methods_supported)" == '["S256"]' ]] || fail "discovery: code_challenge_methods_supported is not [\"S256\"]"
[[ "$(json_get "$DISCOVERY" backchannel_logout_supported)" == "true" ]] || fail "discovery: backchannel_logout_supported is not true"
AUTH_ENDPOINT="$(json_get "$DISCOVERY" authorization_endpoint)"
TOKEN_ENDPOINT="$(json_get "$DISCOVERY" token_endpoint)"
USERINFO_ENDPOINT="$(json_get "$DISCOVERY" userinfo_endpoint)"
REVOCATION_ENDPOINT="$(json_get "$DISCOVERY" revocation_endpoint)"
END_SESSION_ENDPOINT="$(json_get "$DISCOVERY" end_session_endpoint)"
JWKS_URI="$(json_get "$DISCOVERY" jwks_uri)"
step "discovery ok"

# --- PKCE is required even for this confidential client ----------------------
request -G "$AUTH_ENDPOINT" \
  --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode "response_type=code" \
  --data-urlencode "scope=openid" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "state=no-pkce"
expect_status 303 "authorization request without code_challenge"
[[ "$(query_param "$LOCATION" error)" == "invalid_request" ]] || fail "request without PKCE was not rejected: $LOCATION"
step "authorization request without PKCE is rejected"

# --- authorization request ---------------------------------------------------
eval "$(node -e '
  const crypto = require("node:crypto");
  const verifier = crypto.randomBytes(32).toString("base64url");
  const challenge = crypto.createHash("sha256").update(verifier).digest("base64url");
  console.log(`CODE_VERIFIER=${verifier}`);
  console.log(`CODE_CHALLENGE=${challenge}`);
  console.log(`STATE=${crypto.randomBytes(16).toString("base64url")}`);
  console.log(`NONCE=${crypto.randomBytes(16).toString("base64url")}`);
')"

request -G "$AUTH_ENDPOINT" \
  --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode "response_type=code" \
  --data-urlencode "scope=openid profile email offline_access" \
  --data-urlencode "prompt=consent" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "state=$STATE" \
  --data-urlencode "nonce=$NONCE" \
  --data-urlencode "code_challenge=$CODE_CHALLENGE" \
  --data-urlencode "code_challenge_method=S256"
expect_status 303 "authorization request"
[[ "$LOCATION" == "$BASE_URL/interaction/"* ]] || fail "authorization request did not redirect to the login interaction: $LOCATION"
LOGIN_URL="$LOCATION"

request "$LOGIN_URL"
expect_status 200 "login form"
grep -q 'name="login"' "$BODY_FILE" || fail "login form has no login field"

request "$LOGIN_URL" --data-urlencode "prompt=login" --data-urlencode "login=alice" --data-urlencode "password=anything"
expect_status 303 "login form submit"
[[ "$LOCATION" == "$BASE_URL/auth/"* ]] || fail "login submit did not redirect to /auth/<uid>: $LOCATION"
request "$LOCATION"
expect_status 303 "resume after login"
[[ "$LOCATION" == "$BASE_URL/interaction/"* ]] || fail "resume after login did not redirect to the consent interaction: $LOCATION"
CONSENT_URL="$LOCATION"
[[ "$CONSENT_URL" != "$LOGIN_URL" ]] || fail "consent interaction reuses the login interaction uid"
grep -q $'\t_session\t' "$WORK_DIR/cookies" || fail "provider set no _session cookie after login"
step "login as alice ok"

request "$CONSENT_URL"
expect_status 200 "consent form"
grep -q 'name="prompt" value="consent"' "$BODY_FILE" || fail "consent form has no prompt=consent field"

request "$CONSENT_URL" --data-urlencode "prompt=consent"
expect_status 303 "consent form submit"
request "$LOCATION"
expect_status 303 "resume after consent"
[[ "$LOCATION" == "$REDIRECT_URI?"* ]] || fail "resume after consent did not redirect to the client: $LOCATION"
CALLBACK_URL="$LOCATION"
[[ "$(query_param "$CALLBACK_URL" state)" == "$STATE" ]] || fail "callback state differs from the request"
[[ "$(query_param "$CALLBACK_URL" iss)" == "$ISSUER" ]] || fail "callback iss parameter differs from $ISSUER"
CODE="$(query_param "$CALLBACK_URL" code)" || fail "callback has no code: $CALLBACK_URL"
step "consent ok, callback carries code, state and iss"

# --- token endpoint -----------------------------------------------------------
request "$TOKEN_ENDPOINT" -u "$CLIENT_ID:$CLIENT_SECRET" \
  --data-urlencode "grant_type=authorization_code" \
  --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "code_verifier=$CODE_VERIFIER"
expect_status 200 "code exchange"
TOKENS="$(cat "$BODY_FILE")"
ID_TOKEN="$(json_get "$TOKENS" id_token)" || fail "token response has no id_token"
ACCESS_TOKEN="$(json_get "$TOKENS" access_token)" || fail "token response has no access_token"
REFRESH_TOKEN="$(json_get "$TOKENS" refresh_token)" || fail "token response has no refresh_token although offline_access was granted"
[[ "$(json_get "$TOKENS" token_type)" == "Bearer" ]] || fail "token_type is not Bearer"
[[ "$(json_get "$TOKENS" expires_in)" == "120" ]] || fail "expires_in is not the PROVIDER_ACCESS_TOKEN_TTL of 120 s"
step "code exchange ok"


# --- ID token: signature against the JWKS, then claims ------------------------
request "$JWKS_URI"
expect_status 200 "jwks"
JWKS="$(cat "$BODY_FILE")"

ID_TOKEN="$ID_TOKEN" JWKS="$JWKS" ISSUER="$ISSUER" CLIENT_ID="$CLIENT_ID" NONCE="$NONCE" node -e '
  const crypto = require("node:crypto");
  const [headerPart, payloadPart, signaturePart] = process.env.ID_TOKEN.split(".");
  const header = JSON.parse(Buffer.from(headerPart, "base64url"));
  const claims = JSON.parse(Buffer.from(payloadPart, "base64url"));
  const problems = [];
  const expect = (label, actual, expected) => {
    if (actual !== expected) problems.push(`${label}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  };

  expect("header alg", header.alg, "RS256");
  const jwk = JSON.parse(process.env.JWKS).keys.find((key) => key.kid === header.kid);
  if (!jwk) {
    problems.push(`no JWKS key with kid ${header.kid}`);
  } else {
    const valid = crypto.verify("RSA-SHA256", Buffer.from(`${headerPart}.${payloadPart}`),
      crypto.createPublicKey({ key: jwk, format: "jwk" }), Buffer.from(signaturePart, "base64url"));
    if (!valid) problems.push("signature does not verify against the JWKS");
  }

  expect("iss", claims.iss, process.env.ISSUER);
  expect("aud", claims.aud, process.env.CLIENT_ID);
  expect("nonce", claims.nonce, process.env.NONCE);
  expect("sub", claims.sub, "alice");
  expect("name", claims.name, "Alice Example");
  expect("email", claims.email, "alice@example.test");
  expect("email_verified", claims.email_verified, true);
  if (typeof claims.sid !== "string") problems.push("sid is missing");
  const now = Math.floor(Date.now() / 1000);
  if (!(claims.exp > now && claims.iat <= now + 5)) problems.push(`iat/exp out of range: ${claims.iat}/${claims.exp}`);

  if (problems.length) {
    console.error(problems.join("\n"));
    process.exit(1);
  }
' || fail "ID token check failed (see above)"
step "ID token ok: signature, iss, aud, nonce, sub, name, email, email_verified, sid"

# --- userinfo, refresh, revocation --------------------------------------------
request "$USERINFO_ENDPOINT" -H "Authorization: Bearer $ACCESS_TOKEN"
expect_status 200 "userinfo"
USERINFO="$(cat "$BODY_FILE")"
[[ "$(json_get "$USERINFO" sub)" == "alice" ]] || fail "userinfo sub is not alice"
[[ "$(json_get "$USERINFO" email)" == "alice@example.test" ]] || fail "userinfo email is not alice@example.test"
step "userinfo ok"

request "$TOKEN_ENDPOINT" -u "$CLIENT_ID:$CLIENT_SECRET" \
  --data-urlencode "grant_type=refresh_token" \
  --data-urlencode "refresh_token=$REFRESH_TOKEN"
expect_status 200 "refresh"
REFRESHED="$(cat "$BODY_FILE")"
json_get "$REFRESHED" access_token >/dev/null || fail "refresh response has no access_token"
json_get "$REFRESHED" id_token >/dev/null || fail "refresh response has no id_token"
step "refresh ok"

request "$REVOCATION_ENDPOINT" -u "$CLIENT_ID:$CLIENT_SECRET" \
  --data-urlencode "token=$(json_get "$REFRESHED" access_token)" \
  --data-urlencode "token_type_hint=access_token"
expect_status 200 "revocation"
request "$USERINFO_ENDPOINT" -H "Authorization: Bearer $(json_get "$REFRESHED" access_token)"
expect_status 401 "userinfo with a revoked access token"
step "revocation ok"

# --- RP-initiated logout with the confirm form, then back-channel logout ------
request -G "$END_SESSION_ENDPOINT" \
  --data-urlencode "id_token_hint=$ID_TOKEN" \
  --data-urlencode "post_logout_redirect_uri=$POST_LOGOUT_URI" \
  --data-urlencode "state=logout-state"
expect_status 200 "end_session"
XSRF="$(sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' "$BODY_FILE" | head -n 1)"
[[ -n "$XSRF" ]] || fail "logout confirm form has no xsrf field"
CONFIRM_ACTION="$(sed -n 's/.*id="op.logoutForm" method="post" action="\([^"]*\)".*/\1/p' "$BODY_FILE" | head -n 1)"
[[ "$CONFIRM_ACTION" == "$BASE_URL/session/end/confirm" ]] || fail "logout form posts to $CONFIRM_ACTION, expected $BASE_URL/session/end/confirm"

request "$CONFIRM_ACTION" --data-urlencode "xsrf=$XSRF" --data-urlencode "logout=yes"
expect_status 303 "logout confirm"
[[ "$LOCATION" == "${POST_LOGOUT_URI}?state=logout-state" ]] || fail "logout confirm redirected to $LOCATION, expected ${POST_LOGOUT_URI}?state=logout-state"
step "RP-initiated logout ok"

for _ in $(seq 1 50); do [[ -s "$WORK_DIR/backchannel.json" ]] && break; sleep 0.1; done
[[ -s "$WORK_DIR/backchannel.json" ]] || fail "back-channel receiver got no logout token within 5 s"
BACKCHANNEL="$(cat "$WORK_DIR/backchannel.json")" ISSUER="$ISSUER" CLIENT_ID="$CLIENT_ID" ID_TOKEN="$ID_TOKEN" node -e '
  const received = JSON.parse(process.env.BACKCHANNEL);
  const problems = [];
  if (received.method !== "POST") problems.push(`method ${received.method}`);
  if (received.url !== "/backchannel-logout") problems.push(`path ${received.url}`);
  if (!String(received.type).startsWith("application/x-www-form-urlencoded")) problems.push(`content-type ${received.type}`);
  const logoutToken = new URLSearchParams(received.body).get("logout_token");
  if (!logoutToken) {
    problems.push("no logout_token in the body");
  } else {
    const claims = JSON.parse(Buffer.from(logoutToken.split(".")[1], "base64url"));
    const idClaims = JSON.parse(Buffer.from(process.env.ID_TOKEN.split(".")[1], "base64url"));
    if (claims.iss !== process.env.ISSUER) problems.push(`iss ${claims.iss}`);
    if (claims.aud !== process.env.CLIENT_ID) problems.push(`aud ${claims.aud}`);
    if (claims.sub !== "alice") problems.push(`sub ${claims.sub}`);
    if (claims.sid !== idClaims.sid) problems.push("sid differs from the ID token sid");
    if (!claims.events?.["http://schemas.openid.net/event/backchannel-logout"]) problems.push("events claim missing");
    if ("nonce" in claims) problems.push("logout token carries a nonce");
  }
  if (problems.length) {
    console.error(problems.join("\n"));
    process.exit(1);
  }
' || fail "back-channel logout token check failed (see above)"
step "back-channel logout token ok"

# --- code replay (last, because it revokes every token issued from the code) --
request "$TOKEN_ENDPOINT" -u "$CLIENT_ID:$CLIENT_SECRET" \
  --data-urlencode "grant_type=authorization_code" \
  --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "code_verifier=$CODE_VERIFIER"
expect_status 400 "code replay"
[[ "$(json_get "$(cat "$BODY_FILE")" error)" == "invalid_grant" ]] || fail "code replay did not fail with invalid_grant"
step "code replay is rejected"

# --- only one stdout line, prompt shutdown with an idle connection open --------
[[ "$(wc -l <"$WORK_DIR/provider.out")" == "1" ]] || fail "provider wrote more than one line to stdout: $(cat "$WORK_DIR/provider.out")"

# A child that has exited stays a zombie until `wait`, so `kill -0` cannot
# tell whether it stopped. Read its state from /proc instead.
process_running() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != "Z" ]]
}

exec 3<>"/dev/tcp/127.0.0.1/$PORT"
kill -TERM "$PROVIDER_PID"
for _ in $(seq 1 20); do
  process_running "$PROVIDER_PID" || break
  sleep 0.1
done
if process_running "$PROVIDER_PID"; then
  fail "provider still running 2 s after SIGTERM with an idle connection open"
fi
if (exec 4<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  fail "port $PORT still accepts connections after the provider exited"
fi
wait "$PROVIDER_PID" 2>/dev/null || true
PROVIDER_PID=""
exec 3>&-
step "SIGTERM with an idle connection open: stopped within 2 s"

echo "smoke: all provider checks passed" >&2
