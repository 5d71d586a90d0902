/**
 * A show of 30,000 paid tickets (bench/lib/sizes.ts) is called off: how fast the
 * show-cancellation workflow refunds them all, batch after batch (one activity and one SQL
 * transaction each), at the highest rate an operator may set — beside the raw rate of normal
 * activities on this box (temporal-pay runs two per update).
 */
import type { DataSource } from 'typeorm';
import { withCpu } from '../lib/cpu';
import { SEAT_PRICE } from '../lib/fixtures';
import { sleep } from '../lib/proc';
import type { Scenario } from '../lib/scenario';
import { percentile, type Measurement } from '../lib/stats';
import { MAX_REFUND_RATE_PER_SECOND } from '../../workflows/definitions';

const TICKETS_PER_FAN = 2;
const BATCH_SIZE = 500;
/** Small shows (the smoke run) still go in enough batches to time one. */
const MIN_BATCHES = 20;
const POLL_MS = 200;

/**
 * Paid tickets of one schedule straight in SQL, as the sale would have left them (seat SOLD,
 * reservation CONFIRMED, payment COMPLETED, each fan's charge and debits in the ledger; wallets end at
 * 0): thousands a second instead of minutes of journeys. Shared with the chaos suite.
 */
export async function paidTicketsBySql(db: DataSource, p: { concertId: string; scheduleId: string; tickets: number; perFan: number; price: number }): Promise<void> {
  const fans = Math.ceil(p.tickets / p.perFan);
  await db.transaction(async (tx) => {
    await tx.query(`CREATE TEMP TABLE fixture_fans ON COMMIT DROP AS SELECT gen_random_uuid() AS id, n FROM generate_series(0, $1::int - 1) n`, [fans]);
    await tx.query(
      `CREATE TEMP TABLE fixture_tickets ON COMMIT DROP AS
       SELECT s.id AS seat_id, s.number, gen_random_uuid() AS reservation_id, gen_random_uuid() AS payment_id, f.id AS user_id,
              row_number() OVER (PARTITION BY f.id ORDER BY s.number) AS nth
       FROM seats s JOIN fixture_fans f ON f.n = (s.number - 1) % $2::int
       WHERE s.schedule_id = $1 AND s.number <= $3::int`,
      [p.scheduleId, fans, p.tickets],
    );
    await tx.query(`INSERT INTO users (id, name) SELECT id, 'refund-fixture-' || n FROM fixture_fans`);
    await tx.query(`INSERT INTO wallets (user_id, balance) SELECT id, 0 FROM fixture_fans`);
    await tx.query(
      `INSERT INTO wallet_transactions (user_id, type, amount, balance_after)
       SELECT f.id, 'CHARGE', $1::bigint * t.n, $1::bigint * t.n
       FROM fixture_fans f JOIN (SELECT user_id, count(*) AS n FROM fixture_tickets GROUP BY user_id) t ON t.user_id = f.id`,
      [p.price],
    );
    await tx.query(
      `INSERT INTO reservations (id, user_id, concert_id, schedule_id, seat_id, seat_number, price, status, held_until, journey_id, payment_id)
       SELECT reservation_id, user_id, $1, $2, seat_id, number, $3, 'CONFIRMED', now(), 'fixture', payment_id FROM fixture_tickets`,
      [p.concertId, p.scheduleId, p.price],
    );
    await tx.query(`INSERT INTO payments (id, user_id, reservation_id, amount, status) SELECT payment_id, user_id, reservation_id, $1, 'COMPLETED' FROM fixture_tickets`, [p.price]);
    await tx.query(
      `INSERT INTO wallet_transactions (user_id, type, amount, balance_after, payment_id, idempotency_key)
       SELECT t.user_id, 'PAYMENT', $1::bigint, $1::bigint * (c.n - t.nth), t.payment_id, 'payment:' || t.payment_id || ':debit'
       FROM fixture_tickets t JOIN (SELECT user_id, count(*) AS n FROM fixture_tickets GROUP BY user_id) c ON c.user_id = t.user_id`,
      [p.price],
    );
    await tx.query(`UPDATE seats s SET status = 'SOLD', reservation_id = f.reservation_id FROM fixture_tickets f WHERE s.id = f.seat_id`);
  });
}

export const refundSweep: Scenario = {
  name: 'refund-sweep',
  kind: 'product',
  what: `a cancelled show's paid tickets (30,000; 200 with --smoke) refunded by the show-cancellation workflow, ${BATCH_SIZE} per batch (one activity, one SQL transaction), at the maximum rate; rate = tickets refunded per second`,
  ceilings: ['temporal-pay'],
  async run(ctx) {
    const tickets = ctx.sizes.refundTickets;
    const batchSize = Math.max(1, Math.min(BATCH_SIZE, Math.ceil(tickets / MIN_BATCHES)));
    const { concertId, scheduleIds } = await ctx.api.createConcert('Bench: refund sweep', [{ seatCount: tickets, price: SEAT_PRICE }]);
    const [scheduleId] = scheduleIds;
    const db = await ctx.stack.db();
    await paidTicketsBySql(db, { concertId, scheduleId, tickets, perFan: TICKETS_PER_FAN, price: SEAT_PRICE });
    await ctx.stack.analyze();

    const progress = () => ctx.api.must(200, 'GET', `/admin/concerts/${concertId}/cancellation`, { admin: true });
    const started = Date.now();
    const { cpu, window } = await withCpu(async () => {
      await ctx.api.must(202, 'POST', `/admin/concerts/${concertId}/cancellation`, { admin: true, body: { ratePerSecond: MAX_REFUND_RATE_PER_SECOND, batchSize } });
      for (;;) {
        const p = await progress();
        if (p.status === 'COMPLETED') return;
        if (Date.now() - started > 600_000) throw new Error(`refund sweep not done after 10 min: ${p.refunded}/${p.total}`);
        await sleep(POLL_MS);
      }
    });
    const report = await progress();
    const seconds = (Date.now() - started) / 1000;

    // Every batch commits its refunds with one transaction time: the gaps between them are the batch cycle.
    const commits: Array<{ at: Date }> = await db.query(
      `SELECT DISTINCT p.refunded_at AS at FROM payments p JOIN reservations r ON r.id = p.reservation_id
       WHERE r.schedule_id = $1 AND p.refund_reason = 'SHOW_CANCELLED' ORDER BY 1`,
      [scheduleId],
    );
    const gaps = commits.slice(1).map((c, i) => c.at.getTime() - commits[i].at.getTime());
    const cycles = (gaps.length ? gaps : [seconds * 1000]).sort((a, b) => a - b);
    const [books] = await db.query(
      `SELECT count(*)::int AS refunds FROM wallet_transactions t JOIN payments p ON p.id = t.payment_id JOIN reservations r ON r.id = p.reservation_id
       WHERE t.type = 'REFUND' AND r.schedule_id = $1`,
      [scheduleId],
    );
    const raw = ctx.results.get('temporal-pay')?.[0];
    const row: Measurement = {
      name: 'refund-sweep',
      concurrency: 1,
      requests: report.refunded,
      durationS: seconds,
      rate: report.refunded / seconds,
      p50: percentile(cycles, 50),
      p95: percentile(cycles, 95),
      p99: percentile(cycles, 99),
      errors: report.failures,
      statuses: { refunded: report.refunded },
      notes: [
        `${report.refunded.toLocaleString('en-US')} of ${tickets.toLocaleString('en-US')} tickets refunded in ${seconds.toFixed(1)} s, ${commits.length} batches ` +
          `(${(commits.length / seconds).toFixed(1)} batch activities/s); p50/p95/p99 = one batch's cycle (commit to commit)` +
          (raw ? `; the raw activity rate here: ${Math.round(raw.rate * 2)} no-op activities/s (temporal-pay, two per update)` : ''),
      ],
      cpu,
      window,
    };
    if (report.refunded !== tickets || books.refunds !== tickets) row.failure = `refunded ${report.refunded} (ledger: ${books.refunds}) of ${tickets}`;
    return [row];
  },
};
