/**
 * Selling out a show (issue 21): the rush's open arrival model (bench/rush/generator.ts) for few
 * seats — by default 300,000 fans over 60 s for 5,000 seats — where each admitted fan orders 1–4
 * seats (one order of several where the API takes `reservationIds`, else one payment per
 * reservation). Admission knows the inventory, so it stops at the seats left; the last sale closes
 * the queue as SOLD_OUT, and every fan still waiting should read SOLD_OUT at its next poll.
 *
 * It reports the time from the opening to the last seat sold next to its floor — the orders ÷ the
 * same run's raw pay-shape rate (temporal-pay: what Temporal alone does per second with an update
 * running two activities), i.e. seats ÷ that rate × orders per seat —, how long after the last sale
 * the waiting fans read SOLD_OUT (target: every one within 10 s), 5xx answers and the invariants.
 */
import { queueKeys } from '../../queue/keys';
import { admissionWorkflowId, queueStateQuery, type QueueState } from '../../workflows/definitions';
import { SEAT_PRICE } from '../lib/fixtures';
import { linePlot } from '../lib/plots';
import type { Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import { fmtMs, fmtRate, percentile, type Measurement } from '../lib/stats';
import { assertSameTokens, mintUsers } from '../lib/users';
import { launchFleet, runFleet, rushTask, RUSH_CONNECTIONS, RUSH_VALVE } from '../rush/fleet';
import type { GeneratorResult } from '../rush/protocol';
import { merge, OK, opMeasurement, perSecond, series, served } from '../rush/timeline';

/** Issue 21: every waiting fan reads SOLD_OUT within this long of the last sale. */
const SOLD_OUT_TARGET_MS = 10_000;

interface Sample {
  t: number;
  waiting: number;
  active: number;
  closed: string | null;
  bookable?: number;
  held?: number;
  admissionHeld?: string;
}

export const sellOut: Scenario = {
  name: 'sell-out',
  kind: 'product',
  what: 'open model: a rush for few seats (--smoke: tiny); admitted fans order 1–4 seats and pay; admission stops at the seats left; the last sale closes the queue as SOLD_OUT',
  ceilings: ['temporal-pay'],
  targets: [
    { row: 'sell-out', label: 'every seat sold, no 5xx, invariants hold', maxErrors: 0, noServerErrors: true },
    { row: 'sell-out SOLD_OUT reads', label: `every waiting fan reads SOLD_OUT ≤ ${SOLD_OUT_TARGET_MS / 1000} s after the last sale`, maxDurationMs: SOLD_OUT_TARGET_MS },
  ],
  async run(ctx) {
    const size = ctx.sizes.sellOut;
    await ctx.stack.product();
    const { api } = ctx;
    const { concertId, scheduleIds } = await api.createConcert('Bench: sell-out', [{ seatCount: size.seats, price: SEAT_PRICE }]);
    await ctx.stack.analyze();
    await api.must(200, 'PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { adaptive: true, ...RUSH_VALVE } });

    const db = await ctx.stack.db();
    await assertSameTokens('00000000-0000-4000-8000-000000000000', BENCH.authSecret);
    const userIds = await mintUsers(db, size.users, 'sellout-', size.seatsPerOrder.max * SEAT_PRICE);
    const task = rushTask(size, { apiUrl: ctx.stack.apiUrl, concertId, scheduleId: scheduleIds[0] });
    const { stopAfterSeconds } = task;
    const fleet = await launchFleet('sellout', size.generators, userIds, {
      ...task,
      seatsPerOrder: size.seatsPerOrder,
      // Admission counts active fans against the seats left: one who found nothing and lingers
      // holds a place until the window ends (an hour here), so the bench's fans leave instead.
      leaveWhenDone: true,
    });

    // Every second: the queue (Redis), whether it closed, and the controller's count of the seats left.
    const k = queueKeys(concertId);
    const controller = (await ctx.stack.temporal()).workflow.getHandle(admissionWorkflowId(concertId));
    const sample = async (tick: number): Promise<Sample> => {
      const [[, waiting], [, active], [, closed]] = (await ctx.stack.redis.multi().zcard(k.waiting).zcount(k.active, `(${Date.now()}`, '+inf').get(k.closed).exec())!;
      const state: Partial<QueueState> = await controller.query(queueStateQuery).catch(() => ({}));
      return {
        t: tick,
        waiting: Number(waiting),
        active: Number(active),
        closed: (closed as string | null) ?? null,
        bookable: state.seatsLeft?.bookable,
        held: state.seatsLeft?.held,
        admissionHeld: state.admissionHeld,
      };
    };
    const { results, samples, window } = await runFleet(fleet, () => sample, (s) =>
      `[bench]   t=${s.t}s waiting ${s.waiting.toLocaleString('en-US')} · active ${s.active} · seats bookable ${s.bookable ?? '?'} held ${s.held ?? '?'}${s.closed ? ` · queue ${s.closed}` : ''}`);

    const [{ sold }]: Array<{ sold: number }> = await db.query(`SELECT count(*)::int AS sold FROM seats WHERE schedule_id = $1 AND status = 'SOLD'`, [scheduleIds[0]]);
    const closed = await ctx.stack.redis.get(k.closed);
    const controllerStatus = await controller.describe().then((d) => d.status.name, () => 'unknown');
    // A show that did not sell out keeps admitting: later scenarios run on a quiet stack.
    if (closed !== 'SOLD_OUT') await api.setQueue(concertId, { paused: true }).catch(() => undefined);

    const rows = measurements(results, samples, { size, stopAfterSeconds, sold, rawPayRate: ctx.results.get('temporal-pay')?.[0]?.rate });
    rows[0].window = window;
    rows[0].notes.push(`queue closed: ${closed ?? 'no'}; controller ${controllerStatus}; seats sold ${sold.toLocaleString('en-US')} of ${size.seats.toLocaleString('en-US')}`);
    const violations = await ctx.stack.checkInvariants().catch((err: Error) => [{ invariant: `the check itself failed: ${err.message}`, rows: [] }]);
    rows[0].notes.push(violations.length ? `invariants VIOLATED: ${violations.map((v) => `${v.invariant} (${v.rows.length} rows)`).join('; ')}` : 'invariants (db/invariants.ts) hold after the sell-out ✓');
    const m = merge(results);
    const fiveHundreds = Object.values(m.outcomes).reduce((n, o) => n + Object.entries(o).filter(([key]) => /^5\d\d/.test(key)).reduce((a, [, v]) => a + v, 0), 0);
    rows[0].notes.push(fiveHundreds ? `${fiveHundreds} answers were 5xx ✗` : 'no 5xx ✓');
    // A run too short (or a box too busy) to sell every seat misses the target; these are defects.
    const failures = [
      violations.length ? 'an invariant does not hold after the sell-out' : '',
      fiveHundreds ? `${fiveHundreds} answers were 5xx` : '',
      sold === size.seats && closed !== 'SOLD_OUT' ? 'every seat sold but the queue is not closed as SOLD_OUT' : '',
      sold < size.seats && closed === 'SOLD_OUT' ? `the queue closed as SOLD_OUT with ${size.seats - sold} seats unsold` : '',
    ].filter(Boolean);
    if (failures.length) rows[0].failure = failures.join('; ');
    return rows;
  },
};

function measurements(
  results: GeneratorResult[],
  queue: Sample[],
  run: { size: { users: number; seconds: number; seats: number }; stopAfterSeconds: number; sold: number; rawPayRate?: number },
): Measurement[] {
  const m = merge(results);
  const { size, stopAfterSeconds: window } = run;
  const pays = served(m.samples.pay, OK.pay);
  // The last sale: the last payment answered 201 (seconds since the opening).
  const lastSale = pays.at.length ? pays.at.reduce((a, b) => Math.max(a, b), 0) : NaN;
  const orders = results.reduce((n, r) => n + r.payments.orders, 0);
  const seatsPaid = results.reduce((n, r) => n + r.payments.seatsPaid, 0);
  const shapes = [...new Set(results.map((r) => r.payments.shape))].join(', ');
  const ordersPerSeat = seatsPaid ? orders / seatsPaid : NaN;
  const floorS = run.rawPayRate ? (size.seats * ordersPerSeat) / run.rawPayRate : NaN;

  // SOLD_OUT reads after the last sale (a read before it is impossible: the queue closes after it).
  const soldOut = results.flatMap((r) => Array.from(r.soldOutAt)).sort((a, b) => a - b);
  const delaysMs = soldOut.map((t) => Math.max(0, (t - lastSale) * 1000)).sort((a, b) => a - b);
  const stillWaiting = m.endings['still waiting at the end'] ?? 0;
  const everyDelayMs = delaysMs.length ? delaysMs[delaysMs.length - 1] : NaN;
  const closedAt = queue.find((s) => s.closed === 'SOLD_OUT')?.t;

  const soldAll = run.sold === size.seats;
  // The row's rate is seats sold per second until the last sale; its latencies are the payments' (from when due).
  const payMs = [...pays.ms].sort((a, b) => a - b);
  const main: Measurement = {
    name: 'sell-out',
    concurrency: 'open',
    requests: run.sold,
    durationS: Number.isFinite(lastSale) ? lastSale : window,
    rate: run.sold / (Number.isFinite(lastSale) ? lastSale : window),
    p50: percentile(payMs, 50),
    p95: percentile(payMs, 95),
    p99: percentile(payMs, 99),
    errors: size.seats - run.sold,
    statuses: { sold: run.sold, unsold: size.seats - run.sold },
    notes: [],
  };
  const reads: Measurement = {
    name: 'sell-out SOLD_OUT reads',
    concurrency: 'open',
    requests: soldOut.length,
    // "Every waiting fan": until the last one read it; a fan still waiting at the end never did.
    durationS: stillWaiting > 0 || !soldOut.length ? Infinity : everyDelayMs / 1000,
    rate: NaN,
    p50: percentile(delaysMs, 50),
    p95: percentile(delaysMs, 95),
    p99: percentile(delaysMs, 99),
    errors: stillWaiting,
    statuses: { 'read SOLD_OUT': soldOut.length, 'still waiting at the end': stillWaiting },
    notes: [],
  };
  const connections = RUSH_CONNECTIONS.waiting + RUSH_CONNECTIONS.booking;
  const rows = [main, reads, opMeasurement('sell-out join', 'join', m, size.seconds, connections), opMeasurement('sell-out poll', 'poll', m, window, connections), opMeasurement('sell-out hold', 'hold', m, window, connections), opMeasurement('sell-out pay', 'pay', m, window, connections)];
  for (const row of rows.slice(2)) row.concurrency = 'open';

  const horizon = Math.ceil(Math.max(window, ...queue.map((s) => s.t))) + 1;
  main.plots = [
    linePlot('sell-out', 'Sell-out: seats left, fans waiting (÷ 100) and SOLD_OUT reads per second', {
      yTitle: 'count',
      series: [
        series('seats bookable', queue.map((s) => [s.t, s.bookable ?? NaN] as [number, number])),
        series('seats held', queue.map((s) => [s.t, s.held ?? NaN] as [number, number])),
        series('fans waiting ÷ 100', queue.map((s) => [s.t, s.waiting / 100] as [number, number])),
        series('seats paid per second', perSecond(pays.at, horizon)),
        series('SOLD_OUT reads per second', perSecond(soldOut, horizon)),
      ],
    }),
  ];
  const words = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([key, v]) => `${key}: ${v.toLocaleString('en-US')}`).join(', ');
  const held = [...new Set(queue.map((s) => s.admissionHeld).filter(Boolean))].join(', ');
  main.notes.push(
    `offered ${size.users.toLocaleString('en-US')} arrivals over ${size.seconds} s for ${size.seats.toLocaleString('en-US')} seats; ${soldAll ? 'every seat sold' : `${run.sold.toLocaleString('en-US')} sold`}` +
      (Number.isFinite(lastSale) ? `, the last at ${lastSale.toFixed(1)} s after the opening` : '') +
      (Number.isFinite(floorS)
        ? ` — floor ${floorS.toFixed(1)} s (${size.seats.toLocaleString('en-US')} seats × ${ordersPerSeat.toFixed(2)} orders per seat ÷ the raw pay shape's ${fmtRate(run.rawPayRate!)}/s, same run): ${(lastSale / floorS).toFixed(1)}× the floor`
        : ' (no raw pay-shape rate in this run: no floor)'),
    `orders: ${orders.toLocaleString('en-US')} paid for ${seatsPaid.toLocaleString('en-US')} seats (${shapes}: ${shapes.includes('per-reservation') ? 'this API pays one reservation per payment' : 'several seats per order where wanted'})`,
    `SOLD_OUT: the queue read closed in the second-by-second sample at ${closedAt ?? '—'} s; ${soldOut.length.toLocaleString('en-US')} fans read SOLD_OUT (poll or 409 join), ` +
      `${fmtMs(reads.p50)} / ${fmtMs(reads.p95)} / ${fmtMs(everyDelayMs)} ms after the last sale (p50 / p95 / last); ${stillWaiting.toLocaleString('en-US')} still waiting when the run ended ` +
      `(a fan polls when its Retry-After says: up to QUEUE_MAX_RETRY_AFTER_SECONDS (60 s) at the back of a long queue, so "every fan within ${SOLD_OUT_TARGET_MS / 1000} s" needs a queue the poll budget covers in that time)`,
    `admission held back: ${held || 'never'}; peak active ${Math.max(0, ...queue.map((s) => s.active))}`,
    ...(['join', 'poll', 'seats', 'hold', 'pay'] as const).map((op) => `${op} answers: ${words(m.outcomes[op]) || 'none'}`),
    `fans' endings: ${words(m.endings)}`,
  );
  return rows;
}
