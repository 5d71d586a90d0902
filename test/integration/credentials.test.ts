import { randomUUID } from 'node:crypto';
import { sign } from 'hono/jwt';
import { createApp } from '../../api/app';
import { createMetrics } from '../../api/metrics';
import { createLogger } from '../../lib/logger';
import type { Answer, Fan } from '../support/api-client';
import { startStack, type Stack } from '../support/stack';
import { createOpenConcert, stores } from './fixtures';

/**
 * Abuse of credentials: forged, expired or borrowed access tokens, queue tokens used by someone else,
 * operator keys that are almost right, and what an error answer may reveal.
 */

let stack: Stack;
let concertId: string;
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  ({ concertId } = await createOpenConcert(stores(stack.db), 5, 1_000));
});
afterAll(async () => {
  await stack?.stop();
});

function expectProblem(res: Answer, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const bearing = (accessToken: string): Fan => ({ userId: 'forged', accessToken });

describe('access tokens', () => {
  let fan: Fan;
  let queueToken: string;
  beforeAll(async () => {
    fan = await stack.api.newFan('holder');
    queueToken = await stack.api.join(fan, concertId);
  });

  /** Every kind of user endpoint: reads, money, the queue. */
  const guarded = () => [
    ['GET', '/wallet', {}],
    ['POST', '/wallet/charges', { body: { amount: 1_000 } }],
    ['GET', '/reservations', {}],
    ['POST', `/concerts/${concertId}/queue-tokens`, {}],
    ['GET', '/queue-tokens/current', { queueToken }],
    ['DELETE', '/queue-tokens/current', { queueToken }],
  ] as const;

  const forgeries: Array<[string, () => Promise<string>]> = [
    ['expired a second ago', () => sign({ sub: fan.userId, iat: nowSeconds() - 3600, exp: nowSeconds() - 1 }, stack.config.AUTH_SECRET, 'HS256')],
    ['expiring this very second', () => sign({ sub: fan.userId, iat: nowSeconds() - 3600, exp: nowSeconds() }, stack.config.AUTH_SECRET, 'HS256')],
    ['signed with another secret', () => sign({ sub: fan.userId, exp: nowSeconds() + 3600 }, 'another-secret-of-sufficient-length', 'HS256')],
    ['of alg none, unsigned', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: fan.userId, exp: nowSeconds() + 3600 })}.`],
    ['of alg none with a real signature pasted on', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: fan.userId, exp: nowSeconds() + 3600 })}.${fan.accessToken.split('.')[2]}`],
    ['without a subject', () => sign({ exp: nowSeconds() + 3600 }, stack.config.AUTH_SECRET, 'HS256')],
    ['without an expiry', () => sign({ sub: fan.userId }, stack.config.AUTH_SECRET, 'HS256')],
    ['not valid before next hour', () => sign({ sub: fan.userId, nbf: nowSeconds() + 3600, exp: nowSeconds() + 7200 }, stack.config.AUTH_SECRET, 'HS256')],
    ['signed with HS512', () => sign({ sub: fan.userId, exp: nowSeconds() + 3600 }, stack.config.AUTH_SECRET, 'HS512')],
    ['with its subject swapped for another user, signature kept', async () => {
      const [header, , signature] = fan.accessToken.split('.');
      return `${header}.${b64({ sub: '00000000-0000-4000-8000-000000000000', exp: nowSeconds() + 3600 })}.${signature}`;
    }],
  ];

  it.each(forgeries)('a token %s is 401 UNAUTHENTICATED on every user endpoint', async (_what, forge) => {
    const forged = bearing(await forge());
    for (const [method, path, opts] of guarded()) {
      expectProblem(await stack.api.call(method, path, { fan: forged, ...opts }), 401, 'UNAUTHENTICATED');
    }
  });

  it('honours the expiry of a token the API issued: valid until exp, 401 UNAUTHENTICATED from then on', async () => {
    expect((await stack.api.call('GET', '/wallet', { fan })).status).toBe(200);
    const { exp } = JSON.parse(Buffer.from(fan.accessToken.split('.')[1], 'base64url').toString()) as { exp: number };
    expect(exp - nowSeconds()).toBeGreaterThan(stack.config.ACCESS_TOKEN_TTL_SECONDS - 60);
    // The clock moves to the token's expiry: the very same token stops working.
    const clock = jest.spyOn(Date, 'now').mockReturnValue(exp * 1000);
    try {
      expectProblem(await stack.api.call('GET', '/wallet', { fan }), 401, 'UNAUTHENTICATED');
      expectProblem(await stack.api.call('GET', '/queue-tokens/current', { fan, queueToken }), 401, 'UNAUTHENTICATED');
    } finally {
      clock.mockRestore();
    }
    expect((await stack.api.call('GET', '/wallet', { fan })).status).toBe(200);
  });

  it('takes the user from the token only: a user id in a body or query names nobody', async () => {
    const victim = await stack.api.newFan('victim');
    const res = await stack.api.call('POST', `/wallet/charges?userId=${victim.userId}`, { fan, body: { amount: 500, userId: victim.userId } });
    expect(res.status).toBe(201);
    expect((await stack.api.call('GET', '/wallet', { fan: victim })).body.balance).toBe(0);
    const joined = await stack.api.call('POST', `/concerts/${concertId}/queue-tokens?userId=${victim.userId}`, { fan, body: { userId: victim.userId } });
    expect(joined.body.token).toBe(queueToken);
  });
});

describe('queue tokens are bound to their user and concert', () => {
  it('someone else’s token is 403 FORBIDDEN, and cannot be used to take its holder out of the queue', async () => {
    const [holder, thief] = [await stack.api.newFan('holder'), await stack.api.newFan('thief')];
    const token = await stack.api.join(holder, concertId);
    await stack.api.join(thief, concertId);
    expectProblem(await stack.api.call('GET', '/queue-tokens/current', { fan: thief, queueToken: token }), 403, 'FORBIDDEN');
    expectProblem(await stack.api.call('DELETE', '/queue-tokens/current', { fan: thief, queueToken: token }), 403, 'FORBIDDEN');
    expect((await stack.api.tokenStatus(holder, token)).body.status).toBe('WAITING');
  });

  it('a token whose concert part is rewritten names no token: 401 QUEUE_TOKEN_INVALID', async () => {
    const fan = await stack.api.newFan('rewriter');
    const token = await stack.api.join(fan, concertId);
    const other = await createOpenConcert(stores(stack.db), 5, 1_000);
    const rewritten = `${other.concertId}.${token.split('.')[1]}`;
    expectProblem(await stack.api.call('GET', '/queue-tokens/current', { fan, queueToken: rewritten }), 401, 'QUEUE_TOKEN_INVALID');
    expectProblem(await stack.api.call('GET', `/concerts/${other.concertId}/schedules`, { fan, queueToken: rewritten }), 401, 'QUEUE_TOKEN_INVALID');
  });
});

describe('operator endpoints', () => {
  const key = () => stack.config.ADMIN_API_KEY;
  const operations = (title: string) =>
    [
      ['POST', '/admin/concerts', { body: { title, schedules: [{ startsAt: '2030-01-01T20:00:00Z', seatCount: 1, price: 1 }] } }],
      ['GET', `/admin/concerts/${concertId}/queue`, {}],
      ['PUT', `/admin/concerts/${concertId}/queue`, { body: { paused: true } }],
    ] as const;

  it.each([
    ['no key', undefined],
    ['an empty key', ''],
    ['the key with its last character changed', () => key().slice(0, -1) + (key().endsWith('x') ? 'y' : 'x')],
    ['a prefix of the key', () => key().slice(0, -1)],
    ['the key and more', () => `${key()}x`],
    ['the key in upper case', () => key().toUpperCase()],
  ])('refuse %s with 401 UNAUTHENTICATED, before any work', async (_what, value) => {
    const headers: Record<string, string> = {};
    const given = typeof value === 'function' ? value() : value;
    if (given !== undefined) headers['x-admin-key'] = given;
    // A title of this case's own: other suites create concerts in the same database meanwhile.
    const title = `Never created ${randomUUID()}`;
    for (const [method, path, opts] of operations(title)) {
      const res = await stack.api.call(method, path, { ...opts, headers });
      expectProblem(res, 401, 'UNAUTHENTICATED');
      expect(JSON.stringify(res.body)).not.toContain(key());
    }
    expect(await stack.db.query('SELECT id FROM concerts WHERE title = $1', [title])).toEqual([]);
  });

  it('take the key only from X-Admin-Key, never from a bearer token or the query', async () => {
    expectProblem(await stack.api.call('GET', `/admin/concerts/${concertId}/queue`, { headers: { authorization: `Bearer ${key()}` } }), 401, 'UNAUTHENTICATED');
    expectProblem(await stack.api.call('GET', `/admin/concerts/${concertId}/queue?x-admin-key=${encodeURIComponent(key())}`), 401, 'UNAUTHENTICATED');
  });
});

describe('error answers', () => {
  it('an unexpected failure is 500 INTERNAL with a generic detail: no message, stack or secret of the failure', async () => {
    const leaky = new Error(`connect to postgres://ovation:${stack.config.AUTH_SECRET}@db failed`);
    const failingDb = new Proxy(stack.db, { get: (target, prop) => (prop === 'transaction' || prop === 'query' || prop === 'getRepository' ? () => { throw leaky; } : Reflect.get(target, prop)) });
    const app = createApp({ ...stack, db: failingDb, logger: createLogger('silent', 'test'), metrics: createMetrics() });
    const res = await app.request('/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Kim' }) });
    const body = await res.json();
    expect(res.status).toBe(500);
    expect(body).toMatchObject({ status: 500, code: 'INTERNAL', detail: 'an unexpected error occurred' });
    const text = JSON.stringify(body);
    for (const leak of [stack.config.AUTH_SECRET, 'postgres://', 'at ', '.ts:']) expect(text).not.toContain(leak);
  });
});
