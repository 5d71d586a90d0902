import { httpLoad } from '../lib/load';
import type { Scenario } from '../lib/scenario';

const CONNECTIONS = 50;

/** A ticket-open rush's arrivals: Redis only (one Lua script, the rate limits counted inside it), no Temporal. */
export const join: Scenario = {
  name: 'join',
  kind: 'product',
  what: `POST /concerts/{id}/queue-tokens, 2,000 distinct users round-robin (first join 201, then idempotent 200), ${CONNECTIONS} connections, queue paused`,
  ceilings: ['http', 'redis'],
  targets: [{ label: '≥ 8,000/s, p99 ≤ 25 ms at 50 connections, API CPU ≤ 150 µs per join', minRate: 8_000, maxP99: 25, maxApiCpuMicros: 150 }],
  async run(ctx) {
    await ctx.stack.product();
    const { api } = ctx;
    // Paused: joins only queue up, so no admission (workflow starts) runs under the measurement.
    const { concertId } = await api.createConcert('Bench: join', [{ seatCount: 10, price: 1_000 }]);
    await api.setQueue(concertId, { paused: true });
    const users = await ctx.fixtures.mintFans(ctx.sizes.joinUsers, 'bench-joiner-', 0);
    const measured = await httpLoad({
      name: 'join',
      url: ctx.stack.apiUrl,
      connections: CONNECTIONS,
      durationS: ctx.durationS,
      request: users.map((user) => ({ method: 'POST', path: `/concerts/${concertId}/queue-tokens`, headers: api.headers({ user }) })),
      ok: (s) => s === 200 || s === 201,
    });
    measured.notes.push(`${measured.statuses[201] ?? 0} first joins (201) and ${measured.statuses[200] ?? 0} repeated joins (200)`);
    return [measured];
  },
};
