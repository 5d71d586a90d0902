import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../../api/app';
import { createMetrics } from '../../api/metrics';
import { SNAPSHOT_MAX_AGE_MS } from '../../api/routes/catalog';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { queueKeys } from '../../queue/keys';
import { WaitingRoom } from '../../queue/waiting-room';
import type { Fan } from '../support/api-client';
import { startStack, type Stack } from '../support/stack';
import { createOpenConcert, stores } from '../integration/fixtures';

/**
 * The seat map's queue-token check is remembered as long as the map itself may be old (250 ms): a fan
 * re-reading it costs no Redis round trip, a token that ended is refused at most that much later, and
 * the window's end is checked on every read. On the real PostgreSQL and Redis, with a clock the test
 * moves (no sleeping).
 */

let stack: Stack;
let room: WaitingRoom;
const clock = { now: Date.now() };
let request: (path: string, fan: Fan, queueToken: string) => Promise<Response>;
let server: ServerType;
let base: string;

beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  room = new WaitingRoom(stack.redis);
  const app = createApp({
    config: loadConfig({ ...process.env }),
    db: stack.db,
    redis: stack.redis,
    temporal: stack.temporal,
    logger: createLogger('silent', 'test'),
    metrics: createMetrics(),
    clock: () => clock.now,
  });
  request = (path, fan, queueToken) => Promise.resolve(app.request(path, { headers: { authorization: `Bearer ${fan.accessToken}`, 'x-queue-token': queueToken } }));
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port));
  });
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await stack?.stop();
});

/** An admitted fan of a new concert, its window ending `windowMs` after the test's clock. */
async function admitted(windowMs = 600_000) {
  const { concertId, scheduleIds } = await createOpenConcert(stores(stack.db), 5, 1_000);
  const fan = await stack.api.newFan('map-reader');
  const { token } = await room.join(concertId, fan.userId, clock.now);
  await room.admit(concertId, { tickId: randomUUID(), maxBatch: 1, maxActive: 10, activeTtlMs: windowMs, admitPerSecond: 1, paused: false }, clock.now);
  return { concertId, path: `/schedules/${scheduleIds[0]}/seats`, fan, token };
}

const answer = async (res: Response) => `${res.status}${res.status >= 400 ? ` ${((await res.json()) as { code: string }).code}` : ''}`;

describe('the seat map’s queue-token check', () => {
  it('serves a token that ended for at most 250 ms (as old as the map), then refuses it', async () => {
    const { path, fan, token } = await admitted();
    expect(await answer(await request(path, fan, token))).toBe('200');
    expect(await room.endSession(token, fan.userId, 'COMPLETED')).toBe('COMPLETED');

    clock.now += SNAPSHOT_MAX_AGE_MS;
    expect(await answer(await request(path, fan, token))).toBe('200');
    clock.now += 1;
    expect(await answer(await request(path, fan, token))).toBe('403 QUEUE_TOKEN_NOT_ACTIVE');
  });

  it('refuses at the window’s end even when the token was read a moment before', async () => {
    const { path, fan, token } = await admitted(100);
    expect(await answer(await request(path, fan, token))).toBe('200');
    clock.now += 100;
    expect(await answer(await request(path, fan, token))).toBe('403 QUEUE_TOKEN_NOT_ACTIVE');
  });

  it('remembers only the token’s own user: another user with it is refused, then the owner still reads', async () => {
    const { concertId, path, fan, token } = await admitted();
    const other = await stack.api.newFan('other-reader');
    expect(await answer(await request(path, fan, token))).toBe('200');
    expect(await answer(await request(path, other, token))).toBe('403 FORBIDDEN');
    expect(await answer(await request(path, fan, token))).toBe('200');
    // A re-read inside the bound makes no Redis round trip: the fan's last request stays the first read's.
    const seenAt = await stack.redis.hget(queueKeys(concertId).session(fan.userId), 'seenAt');
    clock.now += 10;
    expect(await answer(await request(path, fan, token))).toBe('200');
    expect(await stack.redis.hget(queueKeys(concertId).session(fan.userId), 'seenAt')).toBe(seenAt);
    clock.now += SNAPSHOT_MAX_AGE_MS;
    expect(await answer(await request(path, fan, token))).toBe('200');
    expect(await stack.redis.hget(queueKeys(concertId).session(fan.userId), 'seenAt')).toBe(String(clock.now));
  });

  it('over Node’s server: 200 and 304 carry the ETag, Cache-Control and the request id; 200 its content type', async () => {
    const { path, fan, token } = await admitted();
    const headers = { authorization: `Bearer ${fan.accessToken}`, 'x-queue-token': token, 'x-request-id': 'map-read-1' };
    const first = await fetch(base + path, { headers });
    expect(first.status).toBe(200);
    expect(((await first.json()) as { items: unknown[] }).items).toHaveLength(5);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect([first.headers.get('content-type'), first.headers.get('cache-control'), first.headers.get('x-request-id')]).toEqual([
      'application/json', 'private, no-cache', 'map-read-1',
    ]);
    const again = await fetch(base + path, { headers: { ...headers, 'if-none-match': etag, 'x-request-id': 'map-read-2' } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect([again.headers.get('etag'), again.headers.get('cache-control'), again.headers.get('x-request-id')]).toEqual([etag, 'private, no-cache', 'map-read-2']);
    // A refusal over the same server keeps its problem+json and request id.
    const refused = await fetch(base + path, { headers: { ...headers, 'x-queue-token': 'nonsense', 'x-request-id': 'map-read-3' } });
    expect([refused.status, refused.headers.get('content-type'), refused.headers.get('x-request-id')]).toEqual([401, 'application/problem+json', 'map-read-3']);
  });
});
