// e2e.mjs -- the official openai SDK against quotad-gateway (proxy mode).
//
// Run by tests/integ/it_gateway.c, which starts quotad, the fake upstream
// and the gateway and sets:
//   GATEWAY_URL             http://127.0.0.1:PORT/v1 (the SDK's baseURL)
//   QUOTADCTL, QUOTAD_PORT  the admin CLI and quotad's port (setup, reads)
//   QUOTAD_CREDENTIAL_FILE  root credential for quotadctl
//   PRICES_FILE             the gateway's price table (expected costs)
// Prints "PASS name" / "FAIL name" per test (tests/t.h format) and exits
// non-zero when any failed. Every wait is bounded.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run through it_gateway)`);
  return v;
};
const GATEWAY_URL = env('GATEWAY_URL');
const QUOTADCTL = env('QUOTADCTL');
const QUOTAD_PORT = env('QUOTAD_PORT');
const PRICES = loadPrices(env('PRICES_FILE'));
const SDK_TIMEOUT_MS = 15000;
const ROTATE_GRACE_MS = 3000;
const GRACE_SLACK_MS = 600;
const ABORT_SETTLE_WAIT_MS = 5000;
const MINUTE_ROOM_MS = 20000;
const QUOTA_TRIES_MAX = 12;
const CONCURRENT_REQUESTS = 40;

// ---- helpers --------------------------------------------------------------
function loadPrices(path) {
  const out = new Map();
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [model, p, c, d] = line.split(/\s+/);
    out.set(model, { prompt: BigInt(p), completion: BigInt(c), dflt: BigInt(d) });
  }
  return out;
}

// The gateway's formula: ceil((p*P + c*C) / 1000) micro-units.
function cost(model, usage) {
  const pr = PRICES.get(model) ?? PRICES.get('*');
  const milli = BigInt(usage.prompt_tokens) * pr.prompt +
    BigInt(usage.completion_tokens ?? 0) * pr.completion;
  return Number((milli + 999n) / 1000n);
}

function ctl(...args) {
  const out = execFileSync(QUOTADCTL, ['--port', QUOTAD_PORT, '--json', ...args],
    { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop());
}

const wsGet = (id) => ctl('ws', 'get', String(id)).workspace;
const keyGet = (id) => ctl('key', 'get', String(id)).key;

function newWorkspace(balance) {
  const ws = ctl('ws', 'create', '--name', `e2e-${randomBytes(3).toString('hex')}`,
    '--max-keys', '100').workspace;
  if (balance) ctl('wallet', 'topup', String(ws.workspace_id), balance);
  return ws.workspace_id;
}

function newKey(ws, ...limits) {
  const r = ctl('key', 'create', '--ws', String(ws), '--name', 'e2e', ...limits);
  return { id: r.key.key_id, secret: r.secret };
}

const client = (secret) => new OpenAI({
  apiKey: secret, baseURL: GATEWAY_URL, maxRetries: 0, timeout: SDK_TIMEOUT_MS,
});

const ask = (secret, extra = {}) => client(secret).chat.completions.create({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'Say hello to the quota gateway.' }],
  max_tokens: 64,
  ...extra,
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolve to the thrown error (fail if nothing was thrown).
async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

function eq(a, b, what) {
  if (a !== b) throw new Error(`${what}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
}

// Per-minute windows: start a TPM test with enough of the minute left.
async function minuteRoom(ms) {
  const left = 60000 - (Date.now() % 60000);
  if (left < ms) await sleep(left + 200);
}

let failed = 0;
async function test(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}`);
    console.error(`  ${name}: ${e?.stack ?? e}`);
  }
}

// ---- tests ----------------------------------------------------------------
const WS = newWorkspace('10.00');

await test('sdk_completion_charges_exactly_the_priced_usage', async () => {
  const k = newKey(WS);
  const before = wsGet(WS).balance;
  const r = await ask(k.secret);
  check(r.choices[0].message.content.startsWith('tok'), 'upstream content');
  check(r.usage && r.usage.prompt_tokens > 0, 'usage present');
  eq(r.usage.completion_tokens, 20, 'fake completion tokens');
  const ws = wsGet(WS);
  eq(before - ws.balance, cost('gpt-4o', r.usage), 'wallet drop');
  eq(ws.reserved, 0, 'no hold left');
  const key = keyGet(k.id);
  eq(key.usage_tokens, r.usage.total_tokens, 'real tokens counted');
  eq(key.usage_spend, cost('gpt-4o', r.usage), 'key spend');
});

await test('sdk_stream_settles_from_the_last_usage_event', async () => {
  const k = newKey(WS);
  const before = wsGet(WS).balance;
  const stream = await client(k.secret).chat.completions.create({
    model: 'gpt-4o', stream: true,
    messages: [{ role: 'user', content: 'Stream, please.' }],
  });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  eq(text, 'tok0 tok1 tok2 tok3 tok4 ', 'streamed text');
  check(usage !== null, 'gateway asked the upstream for usage');
  const ws = wsGet(WS);
  eq(before - ws.balance, cost('gpt-4o', usage), 'wallet drop');
  eq(ws.reserved, 0, 'no hold left');
});

await test('sdk_embeddings_charge_prompt_tokens', async () => {
  const k = newKey(WS);
  const before = wsGet(WS).balance;
  const r = await client(k.secret).embeddings.create({
    model: 'text-embedding-3-small', input: 'quota',
  });
  check(r.data.length === 1, 'one embedding');
  eq(before - wsGet(WS).balance, cost('text-embedding-3-small', r.usage),
    'wallet drop');
});

await test('sdk_revoked_key_raises_authentication_error', async () => {
  const k = newKey(WS);
  await ask(k.secret);
  ctl('key', 'revoke', String(k.id));
  const e = await rejection(ask(k.secret));
  check(e instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${e}`);
  eq(e.status, 401, 'status');
  eq(e.code, 'revoked_api_key', 'code');
});

await test('sdk_unknown_key_raises_authentication_error', async () => {
  const e = await rejection(ask(`sk-${randomBytes(32).toString('hex')}`));
  check(e instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${e}`);
  eq(e.code, 'invalid_api_key', 'code');
});

await test('sdk_exhausted_quota_raises_rate_limit_error', async () => {
  const k = newKey(WS, '--quota', '0.001');
  let ok = 0;
  let err = null;
  for (let i = 0; i < QUOTA_TRIES_MAX && err === null; i++) {
    try {
      await ask(k.secret);
      ok++;
    } catch (e) {
      err = e;
    }
  }
  check(ok >= 1, 'some requests fit the quota');
  check(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${err}`);
  eq(err.status, 429, 'status');
  eq(err.code, 'quota_exceeded', 'code');
  eq(err.headers.get('x-should-retry'), 'false', 'SDK told not to retry');
  const key = keyGet(k.id);
  check(key.quota_remaining >= 0, 'quota never negative');
  eq(wsGet(WS).reserved, 0, 'no hold left');
});

await test('sdk_rotated_key_old_secret_works_only_during_grace', async () => {
  const k = newKey(WS);
  const r = ctl('key', 'rotate', String(k.id), '--grace-ms', String(ROTATE_GRACE_MS));
  const until = Date.now() + ROTATE_GRACE_MS;
  await ask(k.secret);        // old secret, inside the grace period
  await ask(r.secret);        // new secret
  await sleep(until - Date.now() + GRACE_SLACK_MS);
  const e = await rejection(ask(k.secret));
  check(e instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${e}`);
  eq(e.code, 'revoked_api_key', 'code');
  await ask(r.secret);        // the new one still works
});

await test('sdk_tpm_counts_real_tokens_and_sends_retry_after', async () => {
  await minuteRoom(MINUTE_ROOM_MS);
  const k = newKey(WS);
  const first = await ask(k.secret);
  const u = first.usage;
  // Counting only the prompt estimates (about 2 x prompt) would fit; the
  // real total of the first reply plus the second estimate does not.
  ctl('key', 'update', String(k.id), '--tpm',
    String(u.total_tokens + u.prompt_tokens - 1));
  const e = await rejection(ask(k.secret));
  check(e instanceof OpenAI.RateLimitError, `RateLimitError, got ${e}`);
  eq(e.code, 'rate_limit_exceeded', 'code');
  const after = Number(e.headers.get('retry-after'));
  check(after >= 1 && after <= 60, `Retry-After ${after}`);
});

await test('sdk_model_and_ip_denials_are_permission_errors', async () => {
  const m = newKey(WS, '--model', 'gpt-4o');
  const e1 = await rejection(ask(m.secret, { model: 'gpt-4o-mini' }));
  check(e1 instanceof OpenAI.PermissionDeniedError, `403, got ${e1}`);
  eq(e1.code, 'model_not_allowed', 'code');
  const ip = newKey(WS, '--ip', '10.0.0.0/8');
  const e2 = await rejection(ask(ip.secret));
  check(e2 instanceof OpenAI.PermissionDeniedError, `403, got ${e2}`);
  eq(e2.code, 'ip_not_allowed', 'code');
});

await test('sdk_empty_wallet_is_402_insufficient_credits', async () => {
  const ws = newWorkspace(null);
  const k = newKey(ws);
  const e = await rejection(ask(k.secret));
  check(e instanceof OpenAI.APIError, `APIError, got ${e}`);
  eq(e.status, 402, 'status');
  eq(e.code, 'insufficient_credits', 'code');
});

await test('upstream_500_voids_the_hold', async () => {
  const k = newKey(WS);
  const before = wsGet(WS).balance;
  const e = await rejection(ask(k.secret, { model: 'fail-500' }));
  check(e instanceof OpenAI.InternalServerError, `500, got ${e}`);
  const ws = wsGet(WS);
  eq(ws.balance, before, 'nothing charged');
  eq(ws.reserved, 0, 'no hold left');
});

await test('upstream_cut_mid_stream_voids_the_hold', async () => {
  const k = newKey(WS);
  const before = wsGet(WS).balance;
  const stream = await client(k.secret).chat.completions.create({
    model: 'cut-stream', stream: true, messages: [{ role: 'user', content: 'x' }],
  });
  const e = await rejection((async () => { for await (const _ of stream); })());
  check(e instanceof OpenAI.APIError, `APIError from the stream, got ${e}`);
  const ws = wsGet(WS);
  eq(ws.balance, before, 'nothing charged');
  eq(ws.reserved, 0, 'no hold left');
});

await test('client_abort_voids_the_hold', async () => {
  const k = newKey(WS);
  const before = wsGet(WS).balance;
  const ac = new AbortController();
  const stream = await client(k.secret).chat.completions.create({
    model: 'hang-stream', stream: true, messages: [{ role: 'user', content: 'x' }],
  }, { signal: ac.signal });
  check(wsGet(WS).reserved > 0, 'hold placed while streaming');
  try {
    for await (const _ of stream) ac.abort();   // stop after the first event
  } catch (e) {
    check(e instanceof OpenAI.APIUserAbortError, `abort error, got ${e}`);
  }
  let ws = wsGet(WS);
  for (const t0 = Date.now(); ws.reserved !== 0 && Date.now() - t0 < ABORT_SETTLE_WAIT_MS;) {
    await sleep(50);
    ws = wsGet(WS);
  }
  eq(ws.reserved, 0, 'hold released after the abort');
  eq(ws.balance, before, 'abort not charged');
});

await test('models_list_needs_a_valid_key', async () => {
  const k = newKey(WS);
  const page = await client(k.secret).models.list();
  check(page.data.length >= 1, 'models listed');
  const e = await rejection(client('sk-nope').models.list());
  check(e instanceof OpenAI.AuthenticationError, `401, got ${e}`);
});

await test('concurrent_requests_charge_exactly_their_sum', async () => {
  const keys = [newKey(WS), newKey(WS), newKey(WS), newKey(WS)];
  const before = wsGet(WS).balance;
  const replies = await Promise.all(Array.from({ length: CONCURRENT_REQUESTS },
    (_, i) => ask(keys[i % keys.length].secret, i % 2 ? { stream: false } : {})));
  const want = replies.reduce((sum, r) => sum + cost('gpt-4o', r.usage), 0);
  const ws = wsGet(WS);
  eq(before - ws.balance, want, 'wallet drop = sum of priced usages');
  eq(ws.reserved, 0, 'no hold left');
});

// Raw HTTP: what no SDK would send. Nothing may be held or charged.
async function raw(body, headers = {}) {
  const r = await fetch(`${GATEWAY_URL}/chat/completions`, {
    method: 'POST', body, signal: AbortSignal.timeout(SDK_TIMEOUT_MS),
    headers: { 'Content-Type': 'application/json', ...headers },
  });
  const text = await r.text();
  let code = null;
  try { code = JSON.parse(text).error?.code ?? null; } catch { /* HTML */ }
  return { status: r.status, code };
}

await test('hostile_requests_are_refused_and_hold_nothing', async () => {
  const k = newKey(WS);
  const auth = { Authorization: `Bearer ${k.secret}` };
  const before = wsGet(WS).balance;
  const cases = [
    ['not json', '{"model":', 400],
    ['repeated model', '{"model":"gpt-4o-mini","model":"gpt-4o","messages":[]}', 400],
    ['negative max_tokens', '{"model":"gpt-4o","max_tokens":-1}', 400],
    ['string max_tokens', '{"model":"gpt-4o","max_tokens":"9"}', 400],
    ['model not a string', '{"model":7}', 400],
    ['too deep', `{"model":"gpt-4o","x":${'['.repeat(100)}${']'.repeat(100)}}`, 400],
    ['body over the limit', `{"model":"gpt-4o","x":"${'a'.repeat(5 << 20)}"}`, 413],
  ];
  for (const [what, body, status] of cases) {
    const r = await raw(body, auth);
    eq(r.status, status, what);
  }
  eq((await raw('{"model":"gpt-4o"}', { Authorization: `Bearer ${'a'.repeat(300)}` })).code,
    'invalid_api_key', 'oversized bearer');
  eq((await raw('{"model":"gpt-4o"}', { Authorization: `Basic ${k.secret}` })).status,
    401, 'not a bearer');
  const ws = wsGet(WS);
  eq(ws.balance, before, 'nothing charged');
  eq(ws.reserved, 0, 'nothing held');
});

await test('no_hold_is_left_anywhere', async () => {
  eq(wsGet(WS).reserved, 0, 'reserved');
});

// Last: it stops the proxy gateway (it_gateway then reaps it and checks
// its exit status and sanitizer output).
await test('gateway_sigterm_voids_the_holds_in_flight', async () => {
  const k = newKey(WS);
  const before = wsGet(WS).balance;
  const stream = await client(k.secret).chat.completions.create({
    model: 'hang-stream', stream: true, messages: [{ role: 'user', content: 'x' }],
  });
  const it = stream[Symbol.asyncIterator]();
  await it.next();                       // the first event is through
  check(wsGet(WS).reserved > 0, 'hold placed');
  process.kill(Number(env('GATEWAY_PID')), 'SIGTERM');
  try {
    while (!(await it.next()).done);
  } catch { /* the connection closes under the stream */ }
  const ws = wsGet(WS);
  eq(ws.reserved, 0, 'hold voided at shutdown');
  eq(ws.balance, before, 'nothing charged');
});

process.exitCode = failed === 0 ? 0 : 1;
