import { randomUUID } from 'node:crypto';
import type { Redis } from '../../lib/redis';
import { newQueueSeed, preQueueOrder, preQueueScore } from '../../queue/fair-start';
import { queueKeys } from '../../queue/keys';
import { SeatGate } from '../../queue/seat-gate';
import { WaitingRoom } from '../../queue/waiting-room';
import { createJourneyActivities } from '../../activities/journey';
import { dropConcertKeys, openRedis } from './fixtures';

// The slot function of ioredis's own cluster client (the package ships no types).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const calculateSlot = require('cluster-key-slot') as (key: string) => number;

/**
 * Issue 21 (leavers, a fair start) and issue 24 (every key of a script in KEYS, in one slot), on the
 * real Redis test database. Concert ids are fresh per test.
 */

let redis: Redis;
const concertsUsed: string[] = [];
const POSITION_TTL_MS = 300_000;
const room = () => new WaitingRoom(redis, POSITION_TTL_MS);

const newConcert = () => {
  const id = randomUUID();
  concertsUsed.push(id);
  return id;
};
const tick = (tickId: string, maxBatch: number, maxActive = 100) => ({ tickId, maxBatch, maxActive, activeTtlMs: 600_000, admitPerSecond: 10, paused: false });

beforeAll(async () => {
  redis = await openRedis();
});

afterAll(async () => {
  if (!redis) return;
  for (const concertId of concertsUsed) await dropConcertKeys(redis, concertId);
  await redis.quit();
});

describe('every key a queue script touches is declared and in the concert’s slot', () => {
  it('join, poll, claim, leave, admit and session end send only keys of the concert’s hash slot', async () => {
    const concertId = newConcert();
    // Every script call as the server receives it: EVALSHA/EVAL sha numkeys key… arg….
    const client = await openRedis();
    const sent: Array<{ script: boolean; keys: string[] }> = [];
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string; args: Array<string | Buffer | number> }, ...rest: unknown[]) => {
      if (command.name === 'evalsha' || command.name === 'eval') {
        const count = Number(command.args[1]);
        sent.push({ script: true, keys: command.args.slice(2, 2 + count).map(String) });
      }
      return (send as (...a: unknown[]) => unknown)(command, ...rest);
    }) as typeof client.sendCommand;
    const r = new WaitingRoom(client, POSITION_TTL_MS);
    try {
      const fans = ['slot-a', 'slot-b', 'slot-c'];
      const tickets = await Promise.all(fans.map((u) => r.arrive(concertId, u, { action: 'join', userId: u, address: '10.0.0.1', perUser: 5, perAddress: 50, windowMs: 1000 })));
      const token = (i: number) => (tickets[i].kind === 'joined' ? tickets[i].ticket.token : '');
      await r.poll(token(2), 'slot-c', { action: 'poll', userId: 'slot-c', address: '10.0.0.1', perUser: 5, perAddress: 50, windowMs: 1000 });
      await r.leaveWaiting(token(2), 'slot-c');
      await r.admit(concertId, tick('slots', 2));
      await new SeatGate(client).claimWithToken(token(0), { userId: 'slot-a', scheduleId: 's', seatNumber: 1, reservationId: 'r', holdTtlMs: 1000, graceMs: 0 });
      await r.endSession(token(0), 'slot-a', 'COMPLETED');
      await createJourneyActivities({ db: undefined as never, redis: client }).endSession({
        concertId, userId: 'slot-b', arrival: 2, status: 'COMPLETED', soldSeats: [{ scheduleId: 's', seatNumber: 1, reservationId: 'r' }],
      });
    } finally {
      client.disconnect();
    }
    const slot = calculateSlot(`queue:{${concertId}}:anything`);
    const keys = sent.flatMap((s) => s.keys);
    expect(sent.length).toBeGreaterThanOrEqual(10);
    expect(keys.filter((k) => calculateSlot(k) !== slot)).toEqual([]);
    // The admission script declared the session of each candidate it read at the head.
    expect(keys).toEqual(expect.arrayContaining([queueKeys(concertId).session('slot-a'), queueKeys(concertId).session('slot-b')]));
  });
});

describe('leavers lose their place when the head reaches them', () => {
  it('a fan who stopped polling is passed over and dropped; the next fan takes the slot; the leaver’s poll reads QUEUE_POSITION_EXPIRED', async () => {
    const concertId = newConcert();
    const joinedAt = Date.now();
    const [leaver, poller, later] = await Promise.all(['leaver', 'poller', 'later'].map((u, i) => room().join(concertId, u, joinedAt + i)));
    // The poller keeps polling; the leaver closed the tab at join.
    const admittedAt = joinedAt + POSITION_TTL_MS + 10_000;
    expect((await room().poll(poller.token, 'poller', null, admittedAt - 5_000)).kind).toBe('ticket');

    const first = await room().admit(concertId, tick('leavers-1', 1), admittedAt);
    expect(first.admitted.map((f) => f.userId)).toEqual(['poller']);
    expect(first.dropped).toBe(1);
    expect(await redis.zscore(queueKeys(concertId).waiting, 'leaver')).toBeNull();
    expect(await room().lookup(leaver.token, 'leaver', admittedAt + 1)).toMatchObject({ status: 'QUEUE_POSITION_EXPIRED', position: 0 });
    // The fan behind moved up: the later fan is now first.
    expect(await room().lookup(later.token, 'later', admittedAt + 1)).toMatchObject({ status: 'WAITING', position: 1 });
    // A retried tick drops and admits nobody again.
    expect(await room().admit(concertId, tick('leavers-1', 1), admittedAt + 2)).toMatchObject({ dropped: 1, admitted: [{ userId: 'poller' }] });
    // Joining again is a new place at the back.
    const back = await room().join(concertId, 'leaver', admittedAt + 3);
    expect(back).toMatchObject({ created: true, status: 'WAITING', position: 2 });
  });

  it('a fan who polled within the TTL keeps the place even if the head reaches them much later', async () => {
    const concertId = newConcert();
    const t0 = Date.now();
    const fan = await room().join(concertId, 'patient', t0);
    for (let k = 1; k <= 5; k++) await room().poll(fan.token, 'patient', null, t0 + k * (POSITION_TTL_MS - 1_000));
    const tickAt = t0 + 5 * (POSITION_TTL_MS - 1_000) + POSITION_TTL_MS - 1;
    expect((await room().admit(concertId, tick('patient', 1), tickAt)).admitted.map((f) => f.userId)).toEqual(['patient']);
  });

  it('the poll records the fan’s request in the same script (no extra round trip)', async () => {
    const concertId = newConcert();
    const fan = await room().join(concertId, 'seen', 1_000);
    await room().poll(fan.token, 'seen', null, 123_456);
    expect(await redis.hget(queueKeys(concertId).session('seen'), 'seenAt')).toBe('123456');
  });
});

describe('a fair start: the pre-queue', () => {
  it('orders 100,000 pre-queued fans exactly as recomputed from the published seed, ahead of every later arrival', async () => {
    const concertId = newConcert();
    const seed = newQueueSeed();
    const opensAtMs = Date.now() + 3_600_000;
    const start = { opensAtMs, seed };
    const k = queueKeys(concertId);
    const FANS = 100_000;
    const PIPELINE = 2_000;
    const userIds = Array.from({ length: FANS }, () => randomUUID());
    // Joined through the join script itself, pipelined (no HTTP), all before the opening.
    const r = room();
    const scores = new Map(userIds.map((u) => [u, String(preQueueScore(seed, u))]));
    for (let from = 0; from < FANS; from += PIPELINE) {
      const pipeline = redis.pipeline();
      for (const userId of userIds.slice(from, from + PIPELINE)) {
        pipeline.ovJoin(
          k.session(userId), k.waiting, k.active, k.seq, k.settings, k.closed, `${k.prefix}none`, `${k.prefix}none`, k.controllerAsleep, k.owners,
          userId, `s${from}`.padEnd(32, 'x'), opensAtMs - 60_000, 0, 0, 0, scores.get(userId)!, String(opensAtMs), String(POSITION_TTL_MS),
        );
      }
      const failed = (await pipeline.exec())?.find(([err]) => err);
      if (failed) throw failed[0];
    }
    // Before the opening: PRE_QUEUE with no position, and admission admits nobody.
    const early = await r.join(concertId, 'early-bird', opensAtMs - 1_000, start);
    expect(early).toMatchObject({ status: 'PRE_QUEUE', position: 0, opensAt: opensAtMs });
    expect((await r.lookup(early.token, 'early-bird', opensAtMs - 500))).toMatchObject({ status: 'PRE_QUEUE', position: 0 });
    expect((await r.admit(concertId, tick('before-opening', 10), opensAtMs - 1)).admitted).toEqual([]);
    // After the opening: a late fan queues behind every pre-queued fan.
    const late = await r.join(concertId, 'late-comer', opensAtMs + 1, start);
    expect(late).toMatchObject({ status: 'WAITING', position: FANS + 2 });

    const expected = [...preQueueOrder(seed, [...userIds, 'early-bird']), 'late-comer'];
    const actual = await redis.zrange(k.waiting, '0', '-1');
    expect(actual).toEqual(expected);
    // The early bird's position, once open, is its place in the published order.
    expect(await r.lookup(early.token, 'early-bird', opensAtMs + 2)).toMatchObject({ status: 'WAITING', position: expected.indexOf('early-bird') + 1 });
  }, 120_000);

  it('gives one place and one token to a fan joining 20 times at once before the opening', async () => {
    const concertId = newConcert();
    const start = { opensAtMs: Date.now() + 60_000, seed: newQueueSeed() };
    const r = room();
    const tickets = await Promise.all(Array.from({ length: 20 }, () => r.join(concertId, 'many-tabs', start.opensAtMs - 1_000, start)));
    expect(new Set(tickets.map((t) => t.token)).size).toBe(1);
    expect(tickets.filter((t) => t.created)).toHaveLength(1);
    expect(await redis.zrange(queueKeys(concertId).waiting, '0', '-1')).toEqual(['many-tabs']);
    expect(Number(await redis.zscore(queueKeys(concertId).waiting, 'many-tabs'))).toBe(preQueueScore(start.seed, 'many-tabs'));
  });

  it('gives a pre-queued fan one place however often they join, and ignores the arrival order before the opening', async () => {
    const concertId = newConcert();
    const start = { opensAtMs: Date.now() + 60_000, seed: newQueueSeed() };
    const fans = Array.from({ length: 50 }, (_, i) => `pre-${i}`);
    const r = room();
    const first = await Promise.all(fans.map((u) => r.join(concertId, u, start.opensAtMs - 10_000, start)));
    const again = await Promise.all([...fans].reverse().map((u) => r.join(concertId, u, start.opensAtMs - 5_000, start)));
    expect(again.every((t) => !t.created)).toBe(true);
    expect(new Set(again.map((t) => t.token))).toEqual(new Set(first.map((t) => t.token)));
    expect(await redis.zrange(queueKeys(concertId).waiting, '0', '-1')).toEqual(preQueueOrder(start.seed, fans));
    // At the opening the head of that order is admitted first.
    const opened = await r.admit(concertId, tick('opening', 5), start.opensAtMs);
    expect(opened.admitted.map((f) => f.userId)).toEqual(preQueueOrder(start.seed, fans).slice(0, 5));
  });
});
