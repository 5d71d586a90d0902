import { randomUUID } from 'node:crypto';
import { isRedisDown } from '../../api/problem';
import { ActionLimit, actionCounterKey, RateLimited } from '../../api/rate-limit';
import { createRedis, redisReady, type RedisClient } from '../../lib/redis';
import { latencyKey, LatencyWindow } from '../../queue/latency-window';
import { queueKeys } from '../../queue/keys';
import { defineQueueScripts } from '../../queue/scripts';
import { WaitingRoom } from '../../queue/waiting-room';
import { startRedisCluster, type RedisCluster } from '../../scripts/redis-cluster';

/**
 * Ovation on a Redis Cluster of three masters (issue 24, review L7): every key one operation touches
 * together lives in one hash slot (a concert's queue keys, a call's latency window), concerts spread
 * over the masters, and the queue's scripts, the latency window and the action limits run on the
 * cluster client. `npm run test:cluster` runs this against the run's cluster (REDIS_CLUSTER_NODES);
 * alone it starts its own on ports 7311-7313.
 */
let cluster: RedisCluster | undefined;
let redis: RedisClient;
/** Slot → the port of the master serving it, from CLUSTER SLOTS. */
let masterOfSlot: (slot: number) => number;

beforeAll(async () => {
  let nodes = process.env.REDIS_CLUSTER_NODES;
  if (!nodes) {
    cluster = await startRedisCluster('ops', [7311, 7312, 7313]);
    cluster.flush();
    nodes = cluster.nodes;
  }
  redis = createRedis('redis://unused', nodes);
  await redisReady(redis);
  defineQueueScripts(redis);
  const ranges = await redis.cluster('SLOTS');
  masterOfSlot = (slot) => {
    const range = ranges.find(([from, to]) => from <= slot && slot <= to);
    if (!range) throw new Error(`slot ${slot} is not served`);
    return range[2]![1];
  };
}, 60_000);

afterAll(async () => {
  await redis?.quit();
  await cluster?.stop();
});

const slotOf = async (key: string) => Number(await redis.cluster('KEYSLOT', key));

/** Every key of a concert's queue, whatever keys.ts declares: strings as they are, key builders called with sample arguments. */
function everyQueueKey(concertId: string): string[] {
  return Object.entries(queueKeys(concertId)).map(([name, key]) =>
    typeof key === 'string' ? key : (key as (...args: unknown[]) => string)(`${name}-sample`, 'user', 'sample-id'),
  );
}

describe('a Redis Cluster of three masters', () => {
  it('serves all 16,384 slots from three masters', async () => {
    const ranges = await redis.cluster('SLOTS');
    expect(new Set(ranges.map(([, , master]) => master![1])).size).toBe(3);
    expect(ranges.reduce((n, [from, to]) => n + to - from + 1, 0)).toBe(16_384);
  });

  it("keeps every key of one concert's queue in one slot, so each queue script and pipeline runs on one master", async () => {
    for (const concertId of [randomUUID(), randomUUID(), randomUUID()]) {
      const keys = everyQueueKey(concertId);
      expect(keys.length).toBeGreaterThanOrEqual(10);
      const slots = new Set(await Promise.all(keys.map(slotOf)));
      expect(slots.size).toBe(1);
    }
  });

  it("spreads concerts over all three masters (a sale's load is not one master's)", async () => {
    const concerts = Array.from({ length: 60 }, () => randomUUID());
    const masters = await Promise.all(concerts.map(async (id) => masterOfSlot(await slotOf(queueKeys(id).waiting))));
    expect(new Set(masters).size).toBe(3);
    // Each master gets a fair share: with 60 random concerts, none gets fewer than 5 (p < 1e-4 by chance).
    for (const port of new Set(masters)) expect(masters.filter((m) => m === port).length).toBeGreaterThanOrEqual(5);
  });

  it('runs the waiting room on the cluster: concerts on different masters each queue their fans in arrival order', async () => {
    const room = new WaitingRoom(redis);
    // One concert per master, found by slot.
    const byMaster = new Map<number, string>();
    while (byMaster.size < 3) {
      const id = randomUUID();
      byMaster.set(masterOfSlot(await slotOf(queueKeys(id).waiting)), id);
    }
    for (const concertId of byMaster.values()) {
      const tickets = await Promise.all(Array.from({ length: 20 }, (_, i) => room.join(concertId, `fan-${i}`)));
      expect(tickets.map((t) => t.position).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const admitted = await room.admit(concertId, { tickId: randomUUID(), maxBatch: 5, maxActive: 100, activeTtlMs: 60_000, admitPerSecond: 5, paused: false });
      expect(admitted.admitted.map((a) => a.arrival).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
      expect(await room.counts(concertId)).toEqual({ waiting: 15, active: 5 });
      const first = tickets.find((t) => t.position === 1)!;
      expect(await room.lookup(first.token, first.userId)).toMatchObject({ status: 'ACTIVE', concertId });
    }
  });

  it("keeps a call's latency histograms in one slot and reads the p95 of a window in one pipeline", async () => {
    const seconds = Array.from({ length: 10 }, (_, i) => 1_000_000 + i);
    expect(new Set(await Promise.all(seconds.map((s) => slotOf(latencyKey('hold', s))))).size).toBe(1);

    // A window of its own: a clock fixed on a random day years from now, so no other recording counts here.
    let nowMs = Date.UTC(2031, 0, 1) + Math.floor(Math.random() * 100_000) * 86_400_000;
    const window = new LatencyWindow(redis, () => nowMs);
    for (let i = 0; i < 95; i++) await window.record('pay', 40);
    nowMs += 3_000;
    for (let i = 0; i < 5; i++) await window.record('pay', 900);
    expect(await window.p95('pay', 10)).toEqual({ p95Ms: 50, samples: 100 });
    nowMs += 1_000;
    for (let i = 0; i < 10; i++) await window.record('pay', 900);
    expect(await window.p95('pay', 10)).toEqual({ p95Ms: 1000, samples: 110 });
    // An API instance's batch holds both calls' recordings: each call's histograms in its own slot.
    await Promise.all([window.record('hold', 40), window.record('pay', 40), window.record('hold', 40)]);
    expect(await window.p95('hold', 1)).toEqual({ p95Ms: 50, samples: 2 });
  });

  it("counts a costly action's limit per user and per address on the cluster, each counter its own slot", async () => {
    const user = `user-${randomUUID()}`;
    const address = `10.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const limit = new ActionLimit(redis, 'hold', { perUser: 3, perAddress: 100, windowSeconds: 60, trustedProxyHops: 0 });
    for (let i = 0; i < 3; i++) await limit.check(user, address);
    await expect(limit.check(user, address)).rejects.toBeInstanceOf(RateLimited);
    // Both buckets were taken from (two single-key scripts: two slots, each on its own master's keys).
    expect(await redis.exists(actionCounterKey('hold', 'user', user))).toBe(1);
    expect(await redis.exists(actionCounterKey('hold', 'ip', address))).toBe(1);
  });

  it('fails fast, as a Redis outage the API answers 503, while no master of the cluster answers', async () => {
    const unreachable = createRedis('redis://unused', '127.0.0.1:1');
    unreachable.on('error', () => undefined);
    try {
      const failure = await unreachable.get('any').then(() => undefined, (err: unknown) => err);
      expect(failure).toBeInstanceOf(Error);
      expect(isRedisDown(failure)).toBe(true);
    } finally {
      unreachable.disconnect();
    }
  });
});
