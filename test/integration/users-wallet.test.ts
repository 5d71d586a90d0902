import { randomUUID } from 'node:crypto';
import { sign } from 'hono/jwt';
import { findViolations } from '../../db/invariants';
import type { Answer, Fan } from '../support/api-client';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
});
afterAll(async () => {
  await stack?.stop();
});

/** API.md's error shape: problem+json with type, title, status (= the HTTP status), detail and code. */
function expectProblem(res: Answer, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String), code });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const withToken = (accessToken: string): Fan => ({ userId: 'unknown', accessToken });

async function balanceOf(fan: Fan): Promise<number> {
  const res = await stack.api.call('GET', '/wallet', { fan });
  expect(res.status).toBe(200);
  return res.body.balance;
}

async function ledgerRows(fan: Fan): Promise<number> {
  const [row] = await stack.db.query('SELECT count(*)::int AS n FROM wallet_transactions WHERE user_id = $1', [fan.userId]);
  return row.n;
}

const charge = (fan: Fan, body: unknown, headers?: Record<string, string>) => stack.api.call('POST', '/wallet/charges', { fan, body, headers });

describe('signing up: POST /users', () => {
  it('creates a user with an empty wallet and answers 201 with an access token', async () => {
    const res = await stack.api.call('POST', '/users', { body: { name: 'Kim' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ userId: expect.any(String), name: 'Kim', accessToken: expect.any(String) });
    const wallet = await stack.api.call('GET', '/wallet', { fan: res.body });
    expect(wallet.status).toBe(200);
    expect(wallet.body).toEqual({ userId: res.body.userId, balance: 0 });
  });

  it.each([
    ['Korean', '김민수'],
    ['accents', 'Zoë Ångström-Núñez'],
    ['emoji', '🎸 Rock 🤘🏽 fan 👩‍👩‍👧'],
    ['quotes and backslashes', `O'Brien "The \\ Rock" \`x\``],
    ['SQL', "'; DROP TABLE users; --"],
    ['HTML', '<script>alert(1)</script>'],
    ['surrounding spaces', '  Kim  '],
    ['exactly 100 characters', 'a'.repeat(100)],
    ['a single character', 'K'],
  ])('stores a name with %s verbatim', async (_what, name) => {
    const res = await stack.api.call('POST', '/users', { body: { name } });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe(name);
    const [row] = await stack.db.query('SELECT name FROM users WHERE id = $1', [res.body.userId]);
    expect(row.name).toBe(name);
  });

  it('accepts a name of 100 characters outside the Basic Multilingual Plane (100 emoji)', async () => {
    // API.md counts characters, as the varchar(100) column does; each of these is one character (two UTF-16 units).
    const name = '🎸'.repeat(100);
    const res = await stack.api.call('POST', '/users', { body: { name } });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe(name);
  });

  it.each([
    ['an empty name', { name: '' }],
    ['a name of 101 characters', { name: 'a'.repeat(101) }],
    ['no name', {}],
    ['a number as the name', { name: 42 }],
    ['a null name', { name: null }],
    ['an array as the body', ['Kim']],
    ['a JSON string as the body', 'Kim'],
  ])('refuses %s with 400 VALIDATION_FAILED', async (_what, body) => {
    expectProblem(await stack.api.call('POST', '/users', { body }), 400, 'VALIDATION_FAILED');
  });

  it('refuses a name with a NUL character with 400, not a server error', async () => {
    // Postgres text cannot hold U+0000, so the name could never be stored verbatim.
    expectProblem(await stack.api.call('POST', '/users', { body: { name: 'Kim\u0000' } }), 400, 'VALIDATION_FAILED');
  });

  it('accepts JSON declared with a charset parameter', async () => {
    const res = await stack.api.call('POST', '/users', { rawBody: '{"name":"Kim"}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(res.status).toBe(201);
  });

  it('refuses broken JSON with 400 VALIDATION_FAILED', async () => {
    expectProblem(await stack.api.call('POST', '/users', { rawBody: '{"name": "Kim"' }), 400, 'VALIDATION_FAILED');
  });

  it('refuses a body that is not declared as JSON with 400 VALIDATION_FAILED', async () => {
    const res = await stack.api.call('POST', '/users', { rawBody: '{"name":"Kim"}', headers: { 'content-type': 'text/plain' } });
    expectProblem(res, 400, 'VALIDATION_FAILED');
  });

  it('refuses a body over 64 KiB with 413 problem+json', async () => {
    const res = await stack.api.call('POST', '/users', { rawBody: JSON.stringify({ name: 'x'.repeat(65 * 1024) }) });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status: 413, detail: expect.any(String), code: expect.any(String) });
  });
});

describe('authentication: the bearer access token', () => {
  it('is required: no Authorization header is 401 UNAUTHENTICATED', async () => {
    expectProblem(await stack.api.call('GET', '/wallet'), 401, 'UNAUTHENTICATED');
  });

  it.each([
    ['a garbage token', 'Bearer garbage'],
    ['a garbage three-part token', 'Bearer aaa.bbb.ccc'],
    ['another scheme', 'Basic a2ltOnNlY3JldA=='],
    ['an empty bearer', 'Bearer '],
  ])('refuses %s with 401 UNAUTHENTICATED', async (_what, authorization) => {
    expectProblem(await stack.api.call('GET', '/wallet', { headers: { authorization } }), 401, 'UNAUTHENTICATED');
  });

  it('refuses a token signed with another secret', async () => {
    const fan = await stack.api.newFan();
    const forged = await sign({ sub: fan.userId, iat: nowSeconds(), exp: nowSeconds() + 3600 }, 'another-secret-of-sufficient-length', 'HS256');
    expectProblem(await stack.api.call('GET', '/wallet', { fan: withToken(forged) }), 401, 'UNAUTHENTICATED');
  });

  it('refuses an expired token', async () => {
    const fan = await stack.api.newFan();
    const expired = await sign({ sub: fan.userId, iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }, stack.config.AUTH_SECRET, 'HS256');
    expectProblem(await stack.api.call('GET', '/wallet', { fan: withToken(expired) }), 401, 'UNAUTHENTICATED');
  });

  it('refuses a correctly signed token whose subject is not a user id', async () => {
    const token = await sign({ sub: "' OR 1=1 --", exp: nowSeconds() + 3600 }, stack.config.AUTH_SECRET, 'HS256');
    expectProblem(await stack.api.call('GET', '/wallet', { fan: withToken(token) }), 401, 'UNAUTHENTICATED');
  });

  it('guards every wallet endpoint', async () => {
    expectProblem(await stack.api.call('POST', '/wallet/charges', { body: { amount: 1000 } }), 401, 'UNAUTHENTICATED');
    expectProblem(await stack.api.call('GET', '/wallet/transactions'), 401, 'UNAUTHENTICATED');
  });
});

describe('charging the wallet: POST /wallet/charges', () => {
  let fan: Fan;
  beforeAll(async () => {
    fan = await stack.api.newFan('Charger');
    await stack.api.charge(fan, 5_000);
  });

  it.each([
    ['zero', { amount: 0 }],
    ['a negative amount', { amount: -1 }],
    ['a fraction', { amount: 1.5 }],
    ['a string', { amount: '100' }],
    ['more than 10,000,000', { amount: 10_000_001 }],
    ['no amount', {}],
    ['a null amount', { amount: null }],
  ])('refuses %s with 400 VALIDATION_FAILED and leaves the balance unchanged', async (_what, body) => {
    expectProblem(await charge(fan, body), 400, 'VALIDATION_FAILED');
    expect(await balanceOf(fan)).toBe(5_000);
  });

  it('refuses broken JSON with 400 and leaves the balance unchanged', async () => {
    expectProblem(await stack.api.call('POST', '/wallet/charges', { fan, rawBody: '{"amount": 100' }), 400, 'VALIDATION_FAILED');
    expect(await balanceOf(fan)).toBe(5_000);
  });

  it('refuses a body not declared as JSON with 400 and leaves the balance unchanged', async () => {
    const res = await stack.api.call('POST', '/wallet/charges', { fan, rawBody: '{"amount":100}', headers: { 'content-type': 'text/plain' } });
    expect(await balanceOf(fan)).toBe(5_000);
    expectProblem(res, 400, 'VALIDATION_FAILED');
  });

  it('answers 201 with the transaction, the amount and the new balance', async () => {
    const other = await stack.api.newFan();
    const res = await charge(other, { amount: 50_000 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ transactionId: expect.any(String), amount: 50_000, balance: 50_000 });
    expect(await balanceOf(other)).toBe(50_000);
    const second = await charge(other, { amount: 1 });
    expect(second.body).toMatchObject({ amount: 1, balance: 50_001 });
    expect(second.body.transactionId).not.toBe(res.body.transactionId);
  });

  it('accepts the largest charge, 10,000,000', async () => {
    const other = await stack.api.newFan();
    const res = await charge(other, { amount: 10_000_000 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ amount: 10_000_000, balance: 10_000_000 });
  });

  it('adds up 100 parallel charges exactly, one ledger row each, with the books balanced', async () => {
    const other = await stack.api.newFan('Rush');
    const answers = await Promise.all(Array.from({ length: 100 }, () => charge(other, { amount: 1_000 })));
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(201));
    expect(new Set(answers.map((a) => a.body.transactionId)).size).toBe(100);
    expect(await balanceOf(other)).toBe(100_000);
    expect(await ledgerRows(other)).toBe(100);
    expect(Math.max(...answers.map((a) => a.body.balance))).toBe(100_000);
    expect(await findViolations(stack.db)).toEqual([]);
  });
});

describe('the ledger: GET /wallet/transactions', () => {
  const ENTRIES = 120;
  let fan: Fan;
  beforeAll(async () => {
    fan = await stack.api.newFan('Ledger');
    // One after the other, so charge i (amount i) is the i-th oldest entry.
    for (let amount = 1; amount <= ENTRIES; amount++) await stack.api.charge(fan, amount);
  });

  const page = (query: string) => stack.api.call('GET', `/wallet/transactions${query}`, { fan });
  const amountsNewestFirst = (from: number, count: number) => Array.from({ length: count }, (_, i) => from - i);

  it('lists entries newest first, 50 by default, with a running balance', async () => {
    const res = await page('');
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(50);
    expect(res.body.items.map((t: { amount: number }) => t.amount)).toEqual(amountsNewestFirst(ENTRIES, 50));
    expect(res.body.items[0]).toMatchObject({
      transactionId: expect.any(String),
      type: 'CHARGE',
      amount: ENTRIES,
      balanceAfter: (ENTRIES * (ENTRIES + 1)) / 2,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
    });
    expect(res.body.nextCursor).toEqual(expect.any(String));
  });

  it('gives up to 100 entries a page', async () => {
    const res = await page('?limit=100');
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(100);
    expect(res.body.nextCursor).toEqual(expect.any(String));
  });

  it.each(['101', '0', '-1', '1.5', 'ten'])('refuses limit=%s with 400 VALIDATION_FAILED', async (limit) => {
    expectProblem(await page(`?limit=${limit}`), 400, 'VALIDATION_FAILED');
  });

  it('walks every entry exactly once through the cursor, and the last page has no nextCursor', async () => {
    const seen: Array<{ transactionId: string; amount: number }> = [];
    let cursor: string | undefined;
    let pages = 0;
    let last: Answer | undefined;
    do {
      last = await page(`?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(last.status).toBe(200);
      seen.push(...last.body.items);
      cursor = last.body.nextCursor;
      pages++;
    } while (cursor && pages < 100);
    expect(pages).toBe(Math.ceil(ENTRIES / 7));
    expect(seen.map((t) => t.amount)).toEqual(amountsNewestFirst(ENTRIES, ENTRIES));
    expect(new Set(seen.map((t) => t.transactionId)).size).toBe(ENTRIES);
    expect('nextCursor' in last.body).toBe(false);
  });

  it('has no nextCursor when everything fits on one page', async () => {
    const small = await stack.api.newFan();
    await stack.api.charge(small, 10);
    const res = await stack.api.call('GET', '/wallet/transactions', { fan: small });
    expect(res.body.items).toHaveLength(1);
    expect('nextCursor' in res.body).toBe(false);
  });

  it("shows only the caller's entries", async () => {
    const stranger = await stack.api.newFan();
    const res = await stack.api.call('GET', '/wallet/transactions', { fan: stranger });
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([]);
  });

  it.each([
    ['letters', 'abc'],
    ['a negative number', '-1'],
    ['a fraction', '1.5'],
    ['20 digits', '99999999999999999999'],
    ['19 digits beyond a 64-bit id', '9999999999999999999'],
    ['a base64 blob', 'eyJpZCI6MX0'],
  ])('refuses a malformed cursor (%s) with 400 VALIDATION_FAILED', async (_what, cursor) => {
    expectProblem(await page(`?cursor=${encodeURIComponent(cursor)}`), 400, 'VALIDATION_FAILED');
  });
});

describe('Idempotency-Key on POST /wallet/charges', () => {
  it('replays the first answer for the same key and body, and charges once', async () => {
    const fan = await stack.api.newFan();
    const key = randomUUID();
    const first = await charge(fan, { amount: 7_000 }, { 'idempotency-key': key });
    const again = await charge(fan, { amount: 7_000 }, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    expect({ status: again.status, body: again.body }).toEqual({ status: first.status, body: first.body });
    expect(await ledgerRows(fan)).toBe(1);
    expect(await balanceOf(fan)).toBe(7_000);
  });

  it('refuses the same key with another body with 422 IDEMPOTENCY_KEY_REUSED, changing nothing', async () => {
    const fan = await stack.api.newFan();
    const key = randomUUID();
    expect((await charge(fan, { amount: 7_000 }, { 'idempotency-key': key })).status).toBe(201);
    expectProblem(await charge(fan, { amount: 8_000 }, { 'idempotency-key': key }), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await ledgerRows(fan)).toBe(1);
    expect(await balanceOf(fan)).toBe(7_000);
  });

  it("scopes keys to the user: another user's identical key charges that user's wallet", async () => {
    const [kim, lee] = [await stack.api.newFan('Kim'), await stack.api.newFan('Lee')];
    const key = randomUUID();
    const kims = await charge(kim, { amount: 3_000 }, { 'idempotency-key': key });
    const lees = await charge(lee, { amount: 3_000 }, { 'idempotency-key': key });
    expect([kims.status, lees.status]).toEqual([201, 201]);
    expect(lees.body.transactionId).not.toBe(kims.body.transactionId);
    expect(await balanceOf(lee)).toBe(3_000);
    expect(await balanceOf(kim)).toBe(3_000);
    // And a different body under the same key from the other user is no reuse either.
    expect((await charge(lee, { amount: 4_000 }, { 'idempotency-key': randomUUID() })).status).toBe(201);
  });

  it('gives 20 parallel requests with one key one effect and 20 identical answers', async () => {
    const fan = await stack.api.newFan();
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 20 }, () => charge(fan, { amount: 2_500 }, { 'idempotency-key': key })));
    expect(answers[0].status).toBe(201);
    // Identical JSON answers (a replay may order an object's keys differently; JSON does not care).
    for (const answer of answers) expect({ status: answer.status, body: answer.body }).toEqual({ status: answers[0].status, body: answers[0].body });
    expect(new Set(answers.map((a) => a.body.transactionId)).size).toBe(1);
    expect(await ledgerRows(fan)).toBe(1);
    expect(await balanceOf(fan)).toBe(2_500);
  });

  it('accepts a key of 128 characters and refuses one of 129 with 400, charging nothing', async () => {
    const fan = await stack.api.newFan();
    expect((await charge(fan, { amount: 1_000 }, { 'idempotency-key': 'k'.repeat(128) })).status).toBe(201);
    expectProblem(await charge(fan, { amount: 1_000 }, { 'idempotency-key': 'k'.repeat(129) }), 400, 'VALIDATION_FAILED');
    expect(await balanceOf(fan)).toBe(1_000);
  });
});

describe('the service around the API', () => {
  it('answers an unknown route with 404 NOT_FOUND problem+json', async () => {
    expectProblem(await stack.api.call('GET', '/no-such-route'), 404, 'NOT_FOUND');
    expectProblem(await stack.api.call('POST', '/no/such/route', { body: {} }), 404, 'NOT_FOUND');
  });

  it('is alive: GET /healthz is 200', async () => {
    const res = await stack.api.call('GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('is ready when Postgres, Redis and Temporal answer: GET /readyz is 200 with each check', async () => {
    const res = await stack.api.call('GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', temporal: 'ok' } });
  });

  it('counts requests in Prometheus text at GET /metrics', async () => {
    await stack.api.call('GET', '/healthz');
    const res = await stack.api.call<string>('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.body).toContain('ovation_http_requests_total');
    expect(res.body).toMatch(/ovation_http_requests_total\{[^}]*route="\/healthz"[^}]*\} \d+/);
  });

  it('echoes a sane X-Request-Id', async () => {
    const res = await stack.api.call('GET', '/healthz', { headers: { 'x-request-id': 'client-42.retry:1' } });
    expect(res.headers.get('x-request-id')).toBe('client-42.retry:1');
  });

  it('generates an X-Request-Id when none is given, a new one each time', async () => {
    const [a, b] = [await stack.api.call('GET', '/healthz'), await stack.api.call('GET', '/healthz')];
    expect(a.headers.get('x-request-id')).toMatch(/^\S{8,}$/);
    expect(b.headers.get('x-request-id')).not.toBe(a.headers.get('x-request-id'));
  });

  it('replaces an X-Request-Id that is not sane instead of echoing it', async () => {
    const res = await stack.api.call('GET', '/healthz', { headers: { 'x-request-id': `<script>${'x'.repeat(200)}` } });
    expect(res.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
  });

  it('carries the request id on error answers too', async () => {
    const res = await stack.api.call('GET', '/wallet', { headers: { 'x-request-id': 'trace-401' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('trace-401');
  });
});
