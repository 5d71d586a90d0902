import { httpLoad } from '../lib/load';
import type { Scenario } from '../lib/scenario';

const CONNECTIONS = 50;

/** The seat map an admitted fan reads before holding: 1,000 seats in one page from Postgres. */
export const seats: Scenario = {
  name: 'seats',
  kind: 'product',
  what: `GET /schedules/{id}/seats (1,000 seats, one page) by an admitted fan, ${CONNECTIONS} connections`,
  ceilings: ['http'],
  targets: [{ label: '≥ 8,000/s, p95 ≤ 15 ms', minRate: 8_000, maxP95: 15 }],
  async run(ctx) {
    await ctx.stack.product();
    const { seatsScheduleId } = await ctx.fixtures.booking();
    const [fan] = await ctx.fixtures.fans();
    const path = `/schedules/${seatsScheduleId}/seats`;
    const page = await ctx.api.must(200, 'GET', path, { user: fan, queueToken: fan.queueToken });
    const measured = await httpLoad({
      name: 'seats',
      url: ctx.stack.apiUrl,
      connections: CONNECTIONS,
      durationS: ctx.durationS,
      warmupS: ctx.sizes.warmupS,
      request: { method: 'GET', path, headers: ctx.api.headers({ user: fan, queueToken: fan.queueToken }) },
      ok: (s) => s === 200,
    });
    measured.notes.push(`${page.items.length} seats per answer, ${Math.round(JSON.stringify(page).length / 1024)} KiB of JSON`);
    return [measured];
  },
};
