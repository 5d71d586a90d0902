import { Hono } from 'hono';
import { sign } from 'hono/jwt';
import { issueAccessToken, requireUser, verifiedSubject } from '../../api/auth';
import type { AppEnv } from '../../api/deps';
import { Lru } from '../../lib/lru';

const SECRET = 'a-test-secret-of-some-length';
const USER = '6eeaa225-0582-4a67-ace6-7dabc577586f';
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('access token verification', () => {
  it('accepts a token it issued and returns its subject', async () => {
    expect(verifiedSubject(await issueAccessToken(USER, SECRET, 60), SECRET)).toBe(USER);
  });

  it('refuses an expired token, another secret, a tampered payload and an unsigned one', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(verifiedSubject(await issueAccessToken(USER, SECRET, 60, now - 120), SECRET)).toBeNull();
    expect(verifiedSubject(await issueAccessToken(USER, 'another-secret-entirely', 60), SECRET)).toBeNull();
    const [header, , signature] = (await issueAccessToken(USER, SECRET, 60)).split('.');
    const forged = b64({ sub: '00000000-0000-4000-8000-000000000000', exp: now + 60 });
    expect(verifiedSubject(`${header}.${forged}.${signature}`, SECRET)).toBeNull();
    expect(verifiedSubject(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: USER, exp: now + 60 })}.`, SECRET)).toBeNull();
  });

  it('refuses a validly signed token without an expiry, with another algorithm, or with a subject that is not a user id', async () => {
    expect(verifiedSubject(await sign({ sub: USER }, SECRET, 'HS256'), SECRET)).toBeNull();
    expect(verifiedSubject(await sign({ sub: USER, exp: Date.now() / 1000 + 60 }, SECRET, 'HS512'), SECRET)).toBeNull();
    expect(verifiedSubject(await sign({ sub: 'admin', exp: Date.now() / 1000 + 60 }, SECRET, 'HS256'), SECRET)).toBeNull();
  });
});

describe('the bearer middleware', () => {
  const appAt = (clock: { now: number }) => {
    const app = new Hono<AppEnv>();
    app.onError((err, c) => c.json({ code: (err as { code?: string }).code }, 401));
    app.get('/me', requireUser(SECRET, () => clock.now), (c) => c.json({ userId: c.get('userId') }));
    return app;
  };
  const me = (app: Hono<AppEnv>, token: string) => app.request('/me', { headers: { authorization: `Bearer ${token}` } });

  it('still refuses a remembered token once it has expired', async () => {
    const clock = { now: Date.now() };
    const app = appAt(clock);
    const token = await issueAccessToken(USER, SECRET, 60, Math.floor(clock.now / 1000));
    expect(await (await me(app, token)).json()).toEqual({ userId: USER });
    expect(await (await me(app, token)).json()).toEqual({ userId: USER });
    clock.now += 61_000;
    const refused = await me(app, token);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ code: 'UNAUTHENTICATED' });
  });

  it('refuses a token signed with another secret even after the real one was remembered', async () => {
    const app = appAt({ now: Date.now() });
    expect((await me(app, await issueAccessToken(USER, SECRET, 60))).status).toBe(200);
    expect((await me(app, await issueAccessToken(USER, 'another-secret-entirely', 60))).status).toBe(401);
  });
});

describe('the LRU', () => {
  it('forgets the least recently used entry when full', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1); // a is now the most recently used
    lru.set('c', 3);
    expect([lru.get('a'), lru.get('b'), lru.get('c'), lru.size]).toEqual([1, undefined, 3, 2]);
  });
});
