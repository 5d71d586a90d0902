import { randomUUID } from 'node:crypto';
import { createApp } from '../../api/app';
import { createMetrics } from '../../api/metrics';
import { SNAPSHOT_MAX_AGE_MS } from '../../api/routes/catalog';
import { Snapshots } from '../../api/snapshot';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { WaitingRoom } from '../../queue/waiting-room';
import type { Fan } from '../support/api-client';
import { startStack, type Stack } from '../support/stack';
import { createOpenConcert, createUsers, GRACE_SECONDS, stores, type Stores } from './fixtures';

/**
 * The seat map and the schedules' available-seat counts served from snapshots at most 250 ms old,
 * built by PostgreSQL, with strong ETags: on the real PostgreSQL and Redis, with a clock the test
 * moves (no sleeping).
 */

let stack: Stack;
let s: Stores;
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  s = stores(stack.db);
});
afterAll(async () => {
  await stack?.stop();
});

const hold = async (concertId: string, scheduleId: string, seatNumber: number) => {
  const [userId] = await createUsers(s, 1, 'snapshot-holder');
  await s.holds.hold({
    reservationId: randomUUID(), userId, concertId, scheduleId, seatNumber,
    heldUntil: new Date(Date.now() + 600_000).toISOString(), graceSeconds: GRACE_SECONDS, journeyId: `journey-${randomUUID()}`,
  });
};

describe('the bodies PostgreSQL builds', () => {
  it('are the JSON the row-by-row reads give, for every filter, cursor and page size', async () => {
    const { concertId, scheduleIds } = await createOpenConcert(s, 12, 4_500, 2);
    await hold(concertId, scheduleIds[0], 3);
    await hold(concertId, scheduleIds[0], 7);
    for (const q of [
      { limit: 1000, after: 0 }, { limit: 5, after: 0 }, { limit: 5, after: 5 }, { limit: 5, after: 10 }, { limit: 12, after: 0 },
      { limit: 11, after: 0 }, { limit: 3, after: 0, status: 'HELD' as const }, { limit: 1, after: 0, status: 'HELD' as const },
      { limit: 10, after: 0, status: 'SOLD' as const }, { limit: 4, after: 2, status: 'AVAILABLE' as const },
    ]) {
      const query = { ...q, graceSeconds: GRACE_SECONDS };
      const page = await s.catalog.seats(scheduleIds[0], query);
      const body = await s.catalog.seatPageJson(scheduleIds[0], query);
      expect({ q, body: JSON.parse(body) }).toEqual({ q, body: JSON.parse(JSON.stringify({ scheduleId: scheduleIds[0], ...page })) });
    }
    const schedules = JSON.parse(await s.catalog.openSchedulesJson(concertId, GRACE_SECONDS));
    expect(schedules).toEqual({ items: await s.catalog.openSchedules(concertId, GRACE_SECONDS) });
    expect(schedules.items.map((i: { availableSeats: number }) => i.availableSeats)).toEqual([10, 12]);
    expect(JSON.parse(await s.catalog.openSchedulesJson(randomUUID(), GRACE_SECONDS))).toEqual({ items: [] });
  });
});

describe('a snapshot', () => {
  it('shows a committed hold once it is more than 250 ms old, and not before', async () => {
    const { concertId, scheduleIds } = await createOpenConcert(s, 5, 1_000);
    const clock = { now: 1_000_000 };
    const pages = new Snapshots((id: string) => s.catalog.seatPageJson(id, { limit: 1000, after: 0, graceSeconds: GRACE_SECONDS }), {
      maxAgeMs: SNAPSHOT_MAX_AGE_MS,
      maxKeys: 10,
      now: () => clock.now,
    });
    const seat2 = async () => JSON.parse((await pages.get(scheduleIds[0])).body).items[1].status;
    expect(await seat2()).toBe('AVAILABLE');
    const before = await pages.get(scheduleIds[0]);

    await hold(concertId, scheduleIds[0], 2);
    clock.now += SNAPSHOT_MAX_AGE_MS; // still inside the bound: the snapshot is served as it was
    expect(await seat2()).toBe('AVAILABLE');
    expect((await pages.get(scheduleIds[0])).etag).toBe(before.etag);
    clock.now += 1; // past the bound: the next read sees the hold
    expect(await seat2()).toBe('HELD');
    expect((await pages.get(scheduleIds[0])).etag).not.toBe(before.etag);
  });

  it('is read once for any number of concurrent readers (single flight)', async () => {
    let reads = 0;
    let finish!: (body: string) => void;
    const pages = new Snapshots(() => {
      reads++;
      return new Promise<string>((resolve) => (finish = resolve));
    }, { maxAgeMs: SNAPSHOT_MAX_AGE_MS, maxKeys: 10, now: () => 5_000 });
    const readers = Array.from({ length: 100 }, () => pages.get('k'));
    finish('{"items":[]}');
    const served = await Promise.all(readers);
    expect(reads).toBe(1);
    expect(new Set(served.map((x) => x.etag)).size).toBe(1);
  });
});

describe('the seat map and schedules over HTTP', () => {
  let base: (path: string, init?: RequestInit) => Promise<Response>;
  let fan: Fan;
  let queueToken: string;
  let concertId: string;
  let scheduleId: string;
  const clock = { now: Date.now() };
  let seatsHeld = 0;

  beforeAll(async () => {
    const config = loadConfig({ ...process.env });
    const app = createApp({ config, db: stack.db, redis: stack.redis, temporal: stack.temporal, logger: createLogger('silent', 'test'), metrics: createMetrics(), clock: () => clock.now });
    base = async (path, init) => app.request(path, init);
    ({ concertId, scheduleIds: [scheduleId] } = await createOpenConcert(s, 8, 2_000));
    fan = await stack.api.newFan('snapshot-reader');
    const room = new WaitingRoom(stack.redis);
    queueToken = (await room.join(concertId, fan.userId)).token;
    await room.admit(concertId, { tickId: randomUUID(), maxBatch: 1, maxActive: 10, activeTtlMs: 600_000, admitPerSecond: 1, paused: false });
  });

  const get = (path: string, ifNoneMatch?: string) =>
    base(path, { headers: { authorization: `Bearer ${fan.accessToken}`, 'x-queue-token': queueToken, ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {}) } });

  for (const [label, path] of [['the seat map', () => `/schedules/${scheduleId}/seats`], ['the schedules', () => `/concerts/${concertId}/schedules`]] as const) {
    it(`answers ${label} with a strong ETag, 304 on If-None-Match while current, 200 once it changed`, async () => {
      const first = await get(path());
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toMatch(/^application\/json/);
      const etag = first.headers.get('etag')!;
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      const body = await first.json();

      const notModified = await get(path(), etag);
      expect(notModified.status).toBe(304);
      expect(notModified.headers.get('etag')).toBe(etag);
      expect(await notModified.text()).toBe('');
      expect((await get(path(), `"other", W/${etag}`)).status).toBe(304); // weak comparison, lists
      expect((await get(path(), '"other"')).status).toBe(200);

      await hold(concertId, scheduleId, ++seatsHeld);
      clock.now += SNAPSHOT_MAX_AGE_MS + 1;
      const changed = await get(path(), etag);
      expect(changed.status).toBe(200);
      expect(changed.headers.get('etag')).not.toBe(etag);
      expect(await changed.json()).not.toEqual(body);
    });
  }
});
