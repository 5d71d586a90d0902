import { randomUUID } from 'node:crypto';
import { queueKeys } from '../../queue/keys';
import { defineQueueScripts } from '../../queue/scripts';
import { newTokenSecret } from '../../queue/token';
import { httpLoad, mapLimit } from '../lib/load';
import type { Scenario } from '../lib/scenario';
import { maxOf, minOf } from '../lib/stats';

const CONNECTIONS = 50;
const PIPELINE = 5_000;

/** A waiting fan's poll, at the back of a long queue: auth + one Redis script, no Temporal. */
export const status: Scenario = {
  name: 'status',
  kind: 'product',
  what: `GET /queue-tokens/current for 300 fans at the back of a 300,000-fan queue (paused), ${CONNECTIONS} connections`,
  ceilings: ['http', 'redis'],
  targets: [{ label: 'with 300,000 waiting: ≥ 10,000/s, p95 ≤ 10 ms', minRate: 10_000, maxP95: 10 }],
  async run(ctx) {
    const { statusQueue: QUEUE_LENGTH, statusFans: REAL_FANS } = ctx.sizes;
    await ctx.stack.product();
    const { api } = ctx;
    const { concertId } = await api.createConcert('Bench: long queue', [{ seatCount: 10, price: 1_000 }]);
    await api.setQueue(concertId, { paused: true }); // before filling: nobody may be admitted

    // The queue is filled by the join script itself, pipelined, with fans that exist only in Redis.
    const redis = defineQueueScripts(ctx.stack.redis);
    const k = queueKeys(concertId);
    const filled = Date.now();
    const batches = Array.from({ length: Math.ceil(QUEUE_LENGTH / PIPELINE) }, (_, b) => b * PIPELINE);
    await mapLimit(batches, 4, async (from) => {
      const pipeline = redis.pipeline();
      for (let i = from; i < Math.min(from + PIPELINE, QUEUE_LENGTH); i++) {
        const userId = randomUUID();
        // Not counted against the rate limits (limits 0): these fans exist only in Redis.
        pipeline.ovJoin(k.session(userId), k.waiting, k.active, k.seq, k.settings, k.closed, `${k.prefix}none`, `${k.prefix}none`, k.controllerAsleep, k.owners, userId, newTokenSecret(), Date.now(), 0, 0, 0, '', '', '');
      }
      const failed = (await pipeline.exec())?.find(([err]) => err);
      if (failed) throw failed[0];
    });
    const fillSeconds = (Date.now() - filled) / 1000;

    const users = await ctx.fixtures.mintFans(REAL_FANS, 'bench-waiter-', 0);
    const fans = await mapLimit(users, 20, async (user) => ({ user, ...(await api.join(user, concertId)) }));
    const queue = await api.must(200, 'GET', `/admin/concerts/${concertId}/queue`, { admin: true });
    if (queue.waiting !== QUEUE_LENGTH + REAL_FANS) throw new Error(`the queue holds ${queue.waiting}, expected ${QUEUE_LENGTH + REAL_FANS}`);

    const measured = await httpLoad({
      name: 'status',
      url: ctx.stack.apiUrl,
      connections: CONNECTIONS,
      durationS: ctx.durationS,
      warmupS: ctx.sizes.warmupS,
      request: fans.map((f) => ({ method: 'GET', path: '/queue-tokens/current', headers: api.headers({ user: f.user, queueToken: f.token }) })),
      ok: (s) => s === 200,
    });
    const positions = fans.map((f) => f.position);
    measured.notes.push(
      `queue of ${queue.waiting.toLocaleString('en-US')} waiting (filled through the join script in ${fillSeconds.toFixed(1)} s); ` +
        `polled fans at positions ${minOf(positions).toLocaleString('en-US')}–${maxOf(positions).toLocaleString('en-US')}`,
    );
    return [measured];
  },
};
