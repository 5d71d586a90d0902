import { outcome } from '../lib/api';
import type { Fan } from '../lib/fixtures';
import { describeShape, historyShape } from '../lib/history-shape';
import { closedLoop } from '../lib/load';
import type { BenchContext, Scenario } from '../lib/scenario';

const CONCURRENCY = 10;
/**
 * A fan's live holds here: one fewer than a journey allows (4), so that every fan of the pool can
 * still contend in contested-seat after it, however fast this ran (a smoke run's 30 fans: 120 places
 * were gone in its one second at 111 holds/s).
 */
const MAX_HOLDS_PER_FAN = 3;

/** A seat hold: Redis gate + one Update-with-Start on the fan's running journey (local activity in Postgres). */
export const hold: Scenario = {
  name: 'hold',
  kind: 'product',
  what: `POST /reservations on distinct seats by admitted fans (round-robin, ≤ ${MAX_HOLDS_PER_FAN} holds each), ${CONCURRENCY} concurrent`,
  ceilings: ['temporal-update', 'temporal-journey-hold'],
  targets: [{ label: '≥ 85 % of temporal-update, p95 ≤ 150 ms at 10 (issue 25)', minShareOf: { ceiling: 'temporal-update', share: 0.85 }, maxP95: 150 }],
  async run(ctx) {
    await ctx.stack.product();
    const { holdsScheduleId } = await ctx.fixtures.booking();
    const fans = await ctx.fixtures.fans();
    const inFlight = new Map<Fan, number>();
    const room = (f: Fan) => f.holds.length + (inFlight.get(f) ?? 0) < MAX_HOLDS_PER_FAN;
    let k = 0;
    const client = ctx.api.keepAlive();
    const measured = await closedLoop({
      name: 'hold',
      concurrency: CONCURRENCY,
      durationS: ctx.durationS,
      next: () => {
        // Round-robin over the pool: a fan's holds never overlap, like one person clicking.
        for (let tries = 0; tries < fans.length; tries++) {
          const fan = fans[k++ % fans.length];
          if (!room(fan) || inFlight.get(fan)) continue;
          inFlight.set(fan, 1);
          const seatNumber = ctx.fixtures.nextSeat();
          return async () => {
            try {
              const res = await client.call('POST', '/reservations', {
                user: fan,
                queueToken: fan.queueToken,
                body: { scheduleId: holdsScheduleId, seatNumber },
              });
              if (res.status === 201) fan.holds.push(res.body.reservationId);
              return outcome(res);
            } finally {
              inFlight.delete(fan);
            }
          };
        }
        return undefined; // every fan holds its maximum
      },
      ok: (o) => o === 201,
    });
    client.close();
    const holding = fans.filter((f) => f.holds.length > 0).length;
    measured.notes.push(`${measured.statuses[201] ?? 0} holds over ${holding} fans of the pool of ${fans.length}`);
    measured.notes.push(describeShape('hold', await historyShape(await ctx.stack.temporal(), await journeysOf(ctx, fans.flatMap((f) => f.holds)), 'hold')));
    return [measured];
  },
};

/** The journeys that hold these reservations (a sample of their histories tells where a hold's time goes). */
export async function journeysOf(ctx: BenchContext, reservationIds: string[]): Promise<string[]> {
  const db = await ctx.stack.db();
  const rows: Array<{ journey_id: string }> = await db.query('SELECT DISTINCT journey_id FROM reservations WHERE id = ANY($1::uuid[]) LIMIT 20', [reservationIds]);
  return rows.map((r) => r.journey_id);
}
