// Local OpenID provider for roq-auth's integration tests, built on panva's
// oidc-provider 9.13.3. It listens on 127.0.0.1 only, keeps all state in
// memory, and prints one JSON line to stdout once it accepts connections.
// Every other message goes to stderr. README.md beside this file lists the
// environment variables and walks through a login.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

// oidc-provider prints its "you SHOULD change" notices with console.info,
// which writes to stdout. Tests parse stdout, so send console.info and
// console.log to stderr before the library is loaded.
console.info = console.error;
console.log = console.error;

const { default: Provider } = await import('oidc-provider');

const BIND_ADDRESS = '127.0.0.1';

const DEFAULT_CLIENTS = [
  {
    client_id: 'roq-test-client',
    client_secret: 'roq-test-secret',
    redirect_uris: ['http://127.0.0.1:3000/api/auth/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1:3000/'],
  },
];

const CLIENT_FIELDS = new Set([
  'client_id',
  'client_secret',
  'redirect_uris',
  'post_logout_redirect_uris',
  'backchannel_logout_uri',
  'backchannel_logout_session_required',
]);

// Events that oidc-provider emits when a request fails. Each one is logged to
// stderr so that a failing test shows why the provider rejected a request.
const ERROR_EVENTS = [
  'authorization.error',
  'grant.error',
  'userinfo.error',
  'revocation.error',
  'introspection.error',
  'end_session.error',
  'end_session_confirm.error',
  'end_session_success.error',
  'discovery.error',
  'jwks.error',
];

class ConfigError extends Error {}

function logLine(message) {
  process.stderr.write(`test-provider: ${message}\n`);
}

function readPort() {
  const raw = process.env.PROVIDER_PORT ?? '0';
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) {
    throw new ConfigError(`PROVIDER_PORT must be an integer from 0 to 65535 (0 picks a free port), got ${JSON.stringify(raw)}`);
  }
  return port;
}

function readHost() {
  const host = process.env.PROVIDER_HOST ?? '127.0.0.1';
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    throw new ConfigError(`PROVIDER_HOST must be a bare host name such as 127.0.0.1 or localhost (no scheme, port or path), got ${JSON.stringify(host)}`);
  }
  return host;
}

function readPositiveSeconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const seconds = Number(raw);
  if (!/^\d+$/.test(raw) || seconds < 1) {
    throw new ConfigError(`${name} must be a whole number of seconds of at least 1, got ${JSON.stringify(raw)}`);
  }
  return seconds;
}

function requireStringArray(value, label, { allowEmpty }) {
  const valid = Array.isArray(value)
    && (allowEmpty || value.length > 0)
    && value.every((item) => typeof item === 'string' && item.length > 0);
  if (!valid) {
    const size = allowEmpty ? 'an' : 'a non-empty';
    throw new ConfigError(`${label} must be ${size} array of URL strings`);
  }
}

// Turns one entry of PROVIDER_CLIENTS into oidc-provider client metadata.
// A client with a secret authenticates with client_secret_basic. A client
// without one is a public client (token_endpoint_auth_method "none").
function toClientMetadata(entry, index) {
  const label = `PROVIDER_CLIENTS[${index}]`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new ConfigError(`${label} must be a JSON object`);
  }

  for (const key of Object.keys(entry)) {
    if (!CLIENT_FIELDS.has(key)) {
      throw new ConfigError(`${label} has unsupported field ${JSON.stringify(key)}. Supported fields: ${[...CLIENT_FIELDS].join(', ')}`);
    }
  }
  if (typeof entry.client_id !== 'string' || entry.client_id === '') {
    throw new ConfigError(`${label}.client_id must be a non-empty string`);
  }
  if (entry.client_secret !== undefined && (typeof entry.client_secret !== 'string' || entry.client_secret === '')) {
    throw new ConfigError(`${label}.client_secret must be a non-empty string when present`);
  }
  requireStringArray(entry.redirect_uris, `${label}.redirect_uris`, { allowEmpty: false });
  requireStringArray(entry.post_logout_redirect_uris ?? [], `${label}.post_logout_redirect_uris`, { allowEmpty: true });

  const metadata = {
    client_id: entry.client_id,
    redirect_uris: entry.redirect_uris,
    post_logout_redirect_uris: entry.post_logout_redirect_uris ?? [],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: entry.client_secret === undefined ? 'none' : 'client_secret_basic',
  };
  if (entry.client_secret !== undefined) {
    metadata.client_secret = entry.client_secret;
  }
  if (entry.backchannel_logout_uri !== undefined) {
    metadata.backchannel_logout_uri = entry.backchannel_logout_uri;
    metadata.backchannel_logout_session_required = entry.backchannel_logout_session_required ?? true;
  } else if (entry.backchannel_logout_session_required !== undefined) {
    throw new ConfigError(`${label}.backchannel_logout_session_required requires backchannel_logout_uri`);
  }
  return metadata;
}

function readClients() {
  const raw = process.env.PROVIDER_CLIENTS;
  if (raw === undefined || raw.trim() === '') {
    return DEFAULT_CLIENTS.map(toClientMetadata);
  }

  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(`PROVIDER_CLIENTS is not valid JSON: ${error.message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new ConfigError('PROVIDER_CLIENTS must be a non-empty JSON array of client objects');
  }
  return parsed.map(toClientMetadata);
}

// Reads a private JWKS from the file named by PROVIDER_JWKS. Without it, one
// RS256 key is generated per start, so tokens from an earlier run never verify.
// oidc-provider's own fallback is a fixed development keystore that ships in
// the package (several key types), which is why it is not used here.
function readSigningKeys() {
  const path = process.env.PROVIDER_JWKS;
  if (path === undefined || path === '') {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    return {
      keys: [{ ...jwk, alg: 'RS256', use: 'sig', kid: randomBytes(8).toString('hex') }],
    };
  }

  let jwks;
  try {
    jwks = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`PROVIDER_JWKS: cannot read a JSON file at ${path}: ${error.message}`);
  }
  const valid = jwks !== null
    && typeof jwks === 'object'
    && Array.isArray(jwks.keys)
    && jwks.keys.length > 0
    && jwks.keys.every((key) => key !== null && typeof key === 'object' && typeof key.d === 'string');
  if (!valid) {
    throw new ConfigError(`PROVIDER_JWKS: ${path} must hold a JWKS ({"keys":[...]}) of private keys, each with a "d" member`);
  }
  return jwks;
}

// Derives the display name from the login typed into the dev login form:
// split on ".", "_", "-" and spaces, capitalise each part, and add the
// family name "Example". "alice" gives "Alice Example" and "mary-jane.doe"
// gives "Mary Jane Doe Example".
function profileFor(login) {
  const givenName = login
    .split(/[._\-\s]+/)
    .filter((part) => part !== '')
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join(' ') || login;
  return {
    name: `${givenName} Example`,
    given_name: givenName,
    family_name: 'Example',
    preferred_username: login,
  };
}

// Every login name is a valid account whose `sub` is that name.
// oidc-provider rejects consent with "accountId mismatch" unless the returned
// accountId equals the id it asked for.
async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        ...profileFor(id),
        email: `${id}@example.test`,
        email_verified: true,
      };
    },
  };
}

// Sends back-channel logout tokens. oidc-provider 9.13.3 passes a dispatcher
// that closes connections to special-use addresses (loopback included), so
// every POST to an app on 127.0.0.1 fails with "fetch failed". For
// http://127.0.0.1 URLs only, this drops that dispatcher. Other URLs keep it.
function fetchAllowingLoopback(url, options) {
  const target = new URL(url);
  if (target.protocol === 'http:' && target.hostname === BIND_ADDRESS) {
    const { dispatcher: _ssrfDispatcher, ...loopbackOptions } = options;
    return globalThis.fetch(url, loopbackOptions);
  }
  return globalThis.fetch(url, options);
}

function buildConfiguration({ clients, jwks, accessTokenTtl }) {
  return {
    clients,
    jwks,
    findAccount,
    fetch: fetchAllowingLoopback,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // Puts every claim of a requested scope into the ID token as well as
    // userinfo. By default oidc-provider keeps profile and email claims
    // out of the ID token when an access token is issued alongside it.
    conformIdTokenClaims: false,
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      acr: null,
      auth_time: null,
      iss: null,
      sid: null,
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // S256 is the only method oidc-provider accepts. Its default requires
    // PKCE only from public clients, but here every client must send it.
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
    },
    // A refresh token is issued when the client may use the refresh_token
    // grant (every client here) and offline_access was granted. oidc-provider
    // drops offline_access from requests that lack prompt=consent.
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 3600,
      Interaction: 600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
  };
}

function describeError(error) {
  const detail = error.error_detail ? `: ${error.error_detail}` : '';
  const code = error.error ?? error.name;
  const description = error.error_description ?? error.message;
  return `${code} (${description})${detail}`;
}

function logProviderEvents(provider) {
  for (const event of ERROR_EVENTS) {
    provider.on(event, (ctx, error) => {
      const clientId = ctx.oidc?.client?.clientId ?? '-';
      logLine(`${event} client=${clientId} ${describeError(error)}`);
    });
  }
  // One line per token issued at the token endpoint, so that tests can count
  // refresh_token grants. It names the grant type only, never a token.
  provider.on('grant.success', (ctx) => {
    const clientId = ctx.oidc?.client?.clientId ?? '-';
    logLine(`grant.success client=${clientId} grant_type=${ctx.oidc.params.grant_type}`);
  });
  // With PROVIDER_LOG_ISSUED_VALUES=1, also one line per token response
  // with the tokens issued and the PKCE verifier received, so that a test
  // can check that the app never logs them. Only tests set it.
  if (process.env.PROVIDER_LOG_ISSUED_VALUES === '1') {
    provider.on('grant.success', (ctx) => {
      const issued = {
        access_token: ctx.body?.access_token ?? null,
        refresh_token: ctx.body?.refresh_token ?? null,
        id_token: ctx.body?.id_token ?? null,
        code_verifier: ctx.oidc.params.code_verifier ?? null,
      };
      logLine(`issued ${JSON.stringify(issued)}`);
    });
  }
  provider.on('server_error', (ctx, error) => {
    logLine(`server_error on ${ctx.method} ${ctx.path}: ${error.stack ?? error}`);
  });
  provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
    logLine(`backchannel logout sent to client=${client.clientId} sub=${accountId} sid=${sid}`);
  });
  provider.on('backchannel.error', (_ctx, error, client, accountId, sid) => {
    logLine(`backchannel logout failed for client=${client.clientId} sub=${accountId} sid=${sid}: ${error.message}${error.cause ? ` (cause: ${error.cause.message ?? error.cause})` : ''}`);
  });
}

// Closes the listener and every open socket, then exits at once, because
// server.close() alone waits until keep-alive connections go away.
function installShutdown(server, sockets) {
  let stopping = false;
  const stop = (signal) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logLine(`received ${signal}, closing ${sockets.size} open connection(s) and exiting`);
    server.close();
    for (const socket of sockets) {
      socket.destroy();
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, BIND_ADDRESS, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

async function main() {
  let settings;
  try {
    settings = {
      port: readPort(),
      host: readHost(),
      clients: readClients(),
      jwks: readSigningKeys(),
      accessTokenTtl: readPositiveSeconds('PROVIDER_ACCESS_TOKEN_TTL', 3600),
    };
  } catch (error) {
    if (error instanceof ConfigError) {
      logLine(`invalid configuration: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }

  // The issuer contains the port, and with PROVIDER_PORT=0 the port is known
  // only after binding. So the server binds first and gets its request
  // handler once the provider exists.
  const server = createServer();
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  installShutdown(server, sockets);

  let port;
  try {
    port = await listen(server, settings.port);
  } catch (error) {
    logLine(`failed to listen on ${BIND_ADDRESS}:${settings.port}: ${error.message}`);
    process.exit(1);
  }

  const issuer = `http://${settings.host}:${port}`;
  let provider;
  try {
    provider = new Provider(issuer, buildConfiguration(settings));
    // oidc-provider checks static client metadata only on first use. Check it
    // now so that a bad PROVIDER_CLIENTS entry fails before the listening line.
    for (const client of settings.clients) {
      await provider.Client.validate(client);
    }
  } catch (error) {
    logLine(`invalid configuration: ${error.error_description ?? error.message}`);
    process.exit(2);
  }
  logProviderEvents(provider);
  server.on('request', provider.callback());

  const clientIds = settings.clients.map((client) => client.client_id).join(', ');
  logLine(`listening on ${BIND_ADDRESS}:${port} as issuer ${issuer}, clients: ${clientIds}, access token TTL ${settings.accessTokenTtl}s`);
  process.stdout.write(`${JSON.stringify({ event: 'listening', issuer, port })}\n`);
}

await main();
