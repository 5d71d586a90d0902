import { httpLoad } from '../lib/load';
import type { Scenario } from '../lib/scenario';

const CONNECTIONS = 50;

/** The seat map an admitted fan reads before holding: 1,000 seats in one page, from the ≤ 250 ms snapshot. */
export const seats: Scenario = {
  name: 'seats',
  kind: 'product',
  what: `GET /schedules/{id}/seats (1,000 seats, one page) by an admitted fan, ${CONNECTIONS} connections`,
  ceilings: ['http'],
  targets: [{ label: '≥ 5,000/s, p95 ≤ 20 ms', minRate: 5_000, maxP95: 20 }],
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

/**
 * The seat map re-read by a fan who holds the current copy: `If-None-Match` with its ETag, answered
 * 304 with no body while the snapshot is unchanged (nobody holds or buys in this schedule meanwhile).
 */
export const seats304: Scenario = {
  name: 'seats-304',
  kind: 'product',
  what: `GET /schedules/{id}/seats with If-None-Match: the current ETag (304 Not Modified), ${CONNECTIONS} connections`,
  ceilings: ['http'],
  targets: [{ label: 'a 304 costs ≤ 50 µs of API CPU', maxApiCpuMicros: 50 }],
  async run(ctx) {
    await ctx.stack.product();
    const { seatsScheduleId } = await ctx.fixtures.booking();
    const [fan] = await ctx.fixtures.fans();
    const path = `/schedules/${seatsScheduleId}/seats`;
    const headers = ctx.api.headers({ user: fan, queueToken: fan.queueToken });
    const first = await fetch(`${ctx.stack.apiUrl}${path}`, { headers });
    await first.text();
    const etag = first.headers.get('etag');
    if (first.status !== 200 || !etag) throw new Error(`the seat map answered ${first.status} without an ETag`);
    return [
      await httpLoad({
        name: 'seats-304',
        url: ctx.stack.apiUrl,
        connections: CONNECTIONS,
        durationS: ctx.durationS,
        warmupS: ctx.sizes.warmupS,
        request: { method: 'GET', path, headers: { ...headers, 'if-none-match': etag } },
        ok: (s) => s === 304,
      }),
    ];
  },
};
