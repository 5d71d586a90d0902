import { ActionLimit, actionCounterKey } from '../../api/rate-limit';
import { findViolations } from '../../db/invariants';
import { createRedis, redisReady, type RedisClient } from '../../lib/redis';
import { queueKeys } from '../../queue/keys';
import { startRedisCluster, type RedisCluster } from '../../scripts/redis-cluster';
import type { Answer, Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

/**
 * One master of a three-master Redis Cluster killed with SIGKILL while fans join, poll and hold on
 * three concerts (one per master), then started again on its data (append-only file, fsync every
 * second: scripts/redis-cluster.ts). What the README's Redis section promises, checked:
 *   - while the master is down only its concert waits: its requests answer 503
 *     DEPENDENCY_UNAVAILABLE, the other masters' concerts answer as usual (holds included, even for
 *     fans whose abuse-limit counters lived on the dead master), nothing answers 500;
 *   - after the restart the killed master's concert is back as it was: waiting fans keep their
 *     places, admitted fans their tokens and holds, and they can pay;
 *   - the other concerts' queues are untouched;
 *   - paid tickets and wallet money (PostgreSQL) are intact, and the books balance.
 * The cluster is this file's own (ports 7311-7313): other suites never see a master die.
 */
const PRICE = 10_000;
const WAITING_FANS = 4;
/** Answers the traffic must have produced in each phase before the test moves on (events, not durations). */
const ANSWERS_PER_PHASE = 30;

interface ConcertUnderTest {
  concertId: string;
  scheduleId: string;
  port: number;
  buyer: { fan: Fan; reservationId: string };
  holder: { fan: Fan; queueToken: string; reservationId: string };
  waiting: Array<{ fan: Fan; queueToken: string; position: number }>;
}

type Phase = 'before' | 'down' | 'after';
interface Seen {
  phase: Phase;
  concertId: string;
  what: string;
  status: number;
  code?: string;
}

let cluster: RedisCluster;
let stack: Stack;
let probe: RedisClient;

beforeAll(async () => {
  cluster = await startRedisCluster('master-kill', [7311, 7312, 7313]);
  cluster.flush();
  stack = await startStack({ REDIS_CLUSTER_NODES: cluster.nodes, HOLD_TTL_SECONDS: '600' });
  probe = createRedis('redis://unused', cluster.nodes);
  await redisReady(probe);
}, 60_000);

afterAll(async () => {
  if (stack) expect(await findViolations(stack.db)).toEqual([]);
  await probe?.quit();
  await stack?.stop();
  await cluster?.stop();
});

/** The port of the master serving a concert's queue (its hash slot's owner). */
const masterOf = (concertId: string) => masterOfKey(queueKeys(concertId).waiting);

async function masterOfKey(key: string): Promise<number> {
  const slot = Number(await probe.cluster('KEYSLOT', key));
  const range = (await probe.cluster('SLOTS')).find(([from, to]) => from <= slot && slot <= to);
  return range![2]![1];
}

async function paidFan(concertId: string, scheduleId: string, seat: number) {
  const { api } = stack;
  const { fan, queueToken } = await api.admittedFan(concertId, 'Buyer');
  await api.charge(fan, PRICE);
  const held = await api.hold(fan, queueToken, scheduleId, seat);
  expect(held.status).toBe(201);
  expect((await api.pay(fan, queueToken, held.body.reservationId)).status).toBe(201);
  return { fan, reservationId: held.body.reservationId as string };
}

async function prepareConcert(concertId: string, scheduleId: string, port: number): Promise<ConcertUnderTest> {
  const { api } = stack;
  const buyer = await paidFan(concertId, scheduleId, 1);
  const { fan, queueToken } = await api.admittedFan(concertId, 'Holder');
  await api.charge(fan, PRICE);
  const held = await api.hold(fan, queueToken, scheduleId, 2);
  expect(held.status).toBe(201);
  // Paused: the fans who join now wait, and their places stay put for the comparison after the kill.
  expect((await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: true } })).status).toBe(200);
  const waiting = [];
  for (let i = 0; i < WAITING_FANS; i++) {
    const waiter = await api.newFan('Waiting');
    const token = await api.join(waiter, concertId);
    const status = await api.tokenStatus(waiter, token);
    expect(status.body).toMatchObject({ status: 'WAITING' });
    waiting.push({ fan: waiter, queueToken: token, position: status.body.position as number });
  }
  return { concertId, scheduleId, port, buyer, holder: { fan, queueToken, reservationId: held.body.reservationId }, waiting };
}

/** Fans of every concert poll, a newcomer joins, the holder looks at its token and tries the sold seat: until `stop()`. */
function startTraffic(concerts: ConcertUnderTest[], phase: () => Phase) {
  const seen: Seen[] = [];
  let running = true;
  const note = (c: ConcertUnderTest, what: string, answer: Answer) => seen.push({ phase: phase(), concertId: c.concertId, what, status: answer.status, code: answer.body?.code });
  const loops = concerts.map(async (c) => {
    const newcomer = await stack.api.newFan('Newcomer');
    while (running) {
      for (const w of c.waiting) note(c, 'poll', await stack.api.tokenStatus(w.fan, w.queueToken));
      note(c, 'holder poll', await stack.api.tokenStatus(c.holder.fan, c.holder.queueToken));
      // A hold of the sold seat: refused by its sealed gate in Redis, before Temporal or PostgreSQL.
      note(c, 'hold', await stack.api.hold(c.holder.fan, c.holder.queueToken, c.scheduleId, 1));
      note(c, 'join', await stack.api.call('POST', `/concerts/${c.concertId}/queue-tokens`, { fan: newcomer }));
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
  return {
    seen,
    count: (p: Phase, concertId?: string) => seen.filter((s) => s.phase === p && (!concertId || s.concertId === concertId)).length,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

it('loses nothing the README promises when a master is killed mid-traffic and restarted', async () => {
  // One concert per master.
  const byMaster = new Map<number, { concertId: string; scheduleId: string }>();
  while (byMaster.size < 3) {
    const { concertId, scheduleIds } = await stack.api.createConcert(10, PRICE);
    const port = await masterOf(concertId);
    if (!byMaster.has(port)) byMaster.set(port, { concertId, scheduleId: scheduleIds[0]! });
  }
  const concerts = await Promise.all([...byMaster].map(([port, c]) => prepareConcert(c.concertId, c.scheduleId, port)));
  const [victim, ...others] = concerts as [ConcertUnderTest, ...ConcertUnderTest[]];
  const walletsBefore = await Promise.all(concerts.map(async (c) => [
    (await stack.api.call('GET', '/wallet', { fan: c.buyer.fan })).body.balance,
    (await stack.api.call('GET', '/wallet', { fan: c.holder.fan })).body.balance,
  ]));
  expect(walletsBefore).toEqual(concerts.map(() => [0, PRICE]));

  // A fan whose hold counter (api/rate-limit.ts) lives on the victim's master, found while every
  // master is up: a keyless CLUSTER command goes to any node, the dead one too once it is killed.
  let userOnVictim = 0;
  while ((await masterOfKey(actionCounterKey('hold', 'user', `fan-${userOnVictim}`))) !== victim.port) userOnVictim++;

  let phase: Phase = 'before';
  const traffic = startTraffic(concerts, () => phase);
  try {
    await eventually(async () => expect(traffic.count('before', victim.concertId)).toBeGreaterThanOrEqual(ANSWERS_PER_PHASE));
    await cluster.kill(victim.port);
    phase = 'down';
    // That fan is not refused for a counter on the dead master: the limit lets the request through
    // rather than fail every concert's holds for that fan.
    const limit = new ActionLimit(stack.redis, 'hold', { perUser: 1, perAddress: 1, windowSeconds: 60, trustedProxyHops: 0 });
    for (let i = 0; i < 3; i++) await expect(limit.check(`fan-${userOnVictim}`, null)).resolves.toBeUndefined();
    // Down long enough for every concert to be asked many times, the victim's included.
    await eventually(async () => {
      for (const c of concerts) expect(traffic.count('down', c.concertId)).toBeGreaterThanOrEqual(ANSWERS_PER_PHASE);
    }, { timeoutMs: 30_000 });
    await cluster.restart(victim.port);
    phase = 'after';
    // The client finds the master again by itself: the victim's fans are answered again.
    await eventually(async () => {
      const answer = await stack.api.tokenStatus(victim.waiting[0]!.fan, victim.waiting[0]!.queueToken);
      expect(answer.status).toBe(200);
    }, { timeoutMs: 30_000 });
    await eventually(async () => expect(traffic.count('after', victim.concertId)).toBeGreaterThanOrEqual(ANSWERS_PER_PHASE), { timeoutMs: 30_000 });
  } finally {
    await traffic.stop();
  }

  const describe = (filter: (s: Seen) => boolean) => [...new Set(traffic.seen.filter(filter).map((s) => `${s.status}${s.code ? ` ${s.code}` : ''}`))].sort();
  const ok = (s: Seen) => s.status === 200 || s.status === 201 || (s.what === 'hold' && s.status === 409 && s.code === 'SEAT_UNAVAILABLE');
  expect(describe((s) => s.what === 'hold')).toContain('409 SEAT_UNAVAILABLE');
  // Nothing ever answers 500: the victim's requests are 503 while its master is down.
  expect(traffic.seen.filter((s) => !ok(s) && !(s.status === 503 && s.code === 'DEPENDENCY_UNAVAILABLE'))).toEqual([]);
  expect(describe((s) => s.phase === 'down' && s.concertId === victim.concertId)).toContain('503 DEPENDENCY_UNAVAILABLE');
  // The other masters' concerts never noticed.
  for (const c of others) expect(traffic.seen.filter((s) => s.concertId === c.concertId && !ok(s))).toEqual([]);

  // Every queue as it was: waiting fans in their places, the holder still admitted.
  for (const c of concerts) {
    for (const w of c.waiting) {
      const status = await stack.api.tokenStatus(w.fan, w.queueToken);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ status: 'WAITING', position: w.position });
    }
    expect((await stack.api.tokenStatus(c.holder.fan, c.holder.queueToken)).body).toMatchObject({ status: 'ACTIVE' });
  }

  // The killed master's concert sells again: its holder pays the hold it took before the kill.
  for (const c of concerts) {
    const paid = await stack.api.pay(c.holder.fan, c.holder.queueToken, c.holder.reservationId);
    expect(paid.status).toBe(201);
  }
  // Money and tickets (PostgreSQL): each buyer's ticket still paid, every wallet debited exactly once.
  for (const c of concerts) {
    for (const who of [c.buyer, c.holder]) {
      expect((await stack.api.call('GET', '/wallet', { fan: who.fan })).body.balance).toBe(0);
      const reservation = await stack.api.call('GET', `/reservations/${who.reservationId}`, { fan: who.fan });
      expect(reservation.body).toMatchObject({ status: 'CONFIRMED' });
    }
  }
}, 240_000);
