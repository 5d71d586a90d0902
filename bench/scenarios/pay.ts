import { outcome } from '../lib/api';
import { describeShape, historyShape } from '../lib/history-shape';
import { journeysOf } from './hold';
import type { Fan } from '../lib/fixtures';
import { closedLoop, mapLimit } from '../lib/load';
import type { Scenario } from '../lib/scenario';

const CONCURRENCY = 10;
/** Payable fans to have ready per second of window: above the pay rates seen here (the loop stops early if they run out). */
const FANS_PER_SECOND = 50;

/**
 * A payment: one update on the fan's journey (debit, confirm, end of session inside it). The debit is an
 * activity the accepting task schedules (run eagerly), the confirm a local activity: two workflow
 * tasks and one activity (the notes' per-operation counts, read from the histories, show it), so
 * it is measured beside the raw pay shape (two activities through matching) and the raw hold shape.
 */
export const pay: Scenario = {
  name: 'pay',
  kind: 'product',
  what: `POST /payments on held reservations (wallets charged, one payment per fan: it ends the session), ${CONCURRENCY} concurrent`,
  ceilings: ['temporal-pay', 'temporal-update', 'temporal-journey-pay'],
  targets: [
    { label: '≥ 85 % of temporal-pay', minShareOf: { ceiling: 'temporal-pay', share: 0.85 } },
    { label: 'beyond the pay shape: ≥ 50 % of temporal-update (issue 25)', minShareOf: { ceiling: 'temporal-update', share: 0.5 } },
  ],
  async run(ctx) {
    await ctx.stack.product();
    const { holdsScheduleId } = await ctx.fixtures.booking();
    // Fans left holding seats by `hold`; when it did not run (or not enough), hold one seat each now (not measured).
    const wanted = Math.min((await ctx.fixtures.fans()).length, FANS_PER_SECOND * ctx.durationS);
    const missing = (await ctx.fixtures.fans()).filter((f) => f.holds.length === 0).slice(0, Math.max(0, wanted - (await ctx.fixtures.fansWithHolds()).length));
    await mapLimit(missing, CONCURRENCY, async (fan) => {
      const body = await ctx.api.must(201, 'POST', '/reservations', { user: fan, queueToken: fan.queueToken, body: { scheduleId: holdsScheduleId, seatNumber: ctx.fixtures.nextSeat() } });
      fan.holds.push(body.reservationId);
    });
    const payers = await ctx.fixtures.fansWithHolds();
    const extraHolds = (list: Fan[]) => list.reduce((n, f) => n + f.holds.length - 1, 0);
    let i = 0;
    const paid: Fan[] = [];
    const client = ctx.api.keepAlive();
    const measured = await closedLoop({
      name: 'pay',
      concurrency: CONCURRENCY,
      durationS: ctx.durationS,
      next: () => {
        const fan = payers[i++];
        if (!fan) return undefined;
        return async () => {
          const res = await client.call('POST', '/payments', { user: fan, queueToken: fan.queueToken, body: { reservationId: fan.holds[0] } });
          if (res.status === 201) {
            fan.paid = true;
            paid.push(fan);
          }
          return outcome(res);
        };
      },
      ok: (o) => o === 201,
    });
    client.close();
    if (i > payers.length) measured.notes.push(`ran out of payable fans after ${measured.durationS.toFixed(1)} s`);
    measured.notes.push(
      `${paid.length} payments from ${payers.length} payable fans; those payments also released ${extraHolds(paid)} other holds of the same fans (inside the pay update)`,
    );
    measured.notes.push(describeShape('pay', await historyShape(await ctx.stack.temporal(), await journeysOf(ctx, paid.map((f) => f.holds[0])), 'pay')));
    return [measured];
  },
};
