import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { findViolations } from '../../db/invariants';
import { CatalogStore } from '../../db/stores/catalog';
import { TicketStore, ticketRefundKey } from '../../db/stores/tickets';
import { DEFAULT_REFUND_POLICY, type RefundPolicy } from '../../lib/refund-policy';
import { codeOf, createUsers, hold, openDb, settle, stores, type OpenConcert, type Stores } from './fixtures';

/**
 * Refunds of paid tickets on the real Postgres: the policy snapshotted at purchase, the fee tiers and
 * the cut-off, a ticket refunded once whatever races it, its seat on sale again, and a show's
 * tickets refunded batch by batch with the books balanced.
 */
const PRICE = 10_000;
const HOUR = 3_600_000;

let db: DataSource;
let s: Stores;
let tickets: TicketStore;
beforeAll(async () => {
  db = await openDb();
  s = stores(db);
  tickets = new TicketStore(db);
});
afterAll(async () => {
  expect(await findViolations(db)).toEqual([]);
  await db.destroy();
});

/** A concert whose (one) show starts `startsInMs` from now, with booking open now. */
async function concertStarting(startsInMs: number, seats = 10, policy?: RefundPolicy): Promise<OpenConcert> {
  const now = Date.now();
  const created = await new CatalogStore(db).createConcert({
    title: `After-sale ${randomUUID().slice(0, 8)}`,
    schedules: [{ startsAt: new Date(now + startsInMs), bookingOpensAt: new Date(now - HOUR), bookingClosesAt: new Date(now + startsInMs), seatCount: seats, price: PRICE }],
  });
  if (policy) await tickets.setRefundPolicy(created.concertId, policy);
  return { concertId: created.concertId, scheduleIds: created.schedules.map((x) => x.scheduleId) };
}

/** A fan with money who holds and pays seat `seat`: the saga's steps, as the journey runs them. */
async function buyTicket(concert: OpenConcert, seat: number, userId?: string): Promise<{ userId: string; reservationId: string; paymentId: string }> {
  const [fan] = userId ? [userId] : await createUsers(s, 1, 'ticket');
  await s.wallets.charge(fan, 50_000);
  const held = await hold(s, concert, fan, seat);
  const paymentId = randomUUID();
  await s.wallets.debitForPayment({ paymentId, userId: fan, reservationId: held.reservationId });
  await s.holds.confirm(paymentId, held.reservationId);
  return { userId: fan, reservationId: held.reservationId, paymentId };
}

const ledgerRefunds = async (reservationId: string) =>
  (await db.query(`SELECT amount FROM wallet_transactions WHERE idempotency_key = $1`, [ticketRefundKey(reservationId)])) as Array<{ amount: string }>;

describe('a fan cancels a paid ticket', () => {
  it('copies the concert’s refund policy onto the payment at purchase; a later change does not apply to it', async () => {
    const policy: RefundPolicy = { cutoffHours: 1, tiers: [{ hoursBefore: 1, feePercent: 0 }] };
    const concert = await concertStarting(10 * 24 * HOUR, 5, policy);
    const ticket = await buyTicket(concert, 1);
    await tickets.setRefundPolicy(concert.concertId, { cutoffHours: 48, tiers: [{ hoursBefore: 48, feePercent: 50 }] });
    const [payment] = await db.query('SELECT refund_policy FROM payments WHERE id = $1', [ticket.paymentId]);
    expect(payment.refund_policy).toEqual(policy);

    const refund = await tickets.cancelByFan({ ...ticket, requestedAt: new Date().toISOString() });
    expect(refund).toMatchObject({ paid: PRICE, refunded: PRICE, fee: 0, paymentStatus: 'REFUNDED', reason: 'FAN_CANCELLED' });
  });

  it('keeps the fee of the tier the fan is in, frees the seat at once and writes one REFUND entry', async () => {
    // 5 days before the show: under the default policy (full refund until 7 days before) the 10 % tier.
    const concert = await concertStarting(5 * 24 * HOUR);
    const ticket = await buyTicket(concert, 3);
    const before = await s.wallets.balance(ticket.userId);

    const refund = await tickets.cancelByFan({ ...ticket, requestedAt: new Date().toISOString() });

    expect(refund).toMatchObject({ paid: PRICE, refunded: PRICE * 0.9, fee: PRICE * 0.1, paymentStatus: 'PARTIALLY_REFUNDED' });
    expect(await s.wallets.balance(ticket.userId)).toBe(before! + PRICE * 0.9);
    expect(await ledgerRefunds(ticket.reservationId)).toEqual([{ amount: String(PRICE * 0.9) }]);
    const [reservation] = await db.query('SELECT status FROM reservations WHERE id = $1', [ticket.reservationId]);
    expect(reservation.status).toBe('CANCELLED');
    const [payment] = await db.query('SELECT status, refunded_amount, refund_fee FROM payments WHERE id = $1', [ticket.paymentId]);
    expect(payment).toEqual({ status: 'PARTIALLY_REFUNDED', refunded_amount: String(PRICE * 0.9), refund_fee: String(PRICE * 0.1) });

    // The seat is bookable again at once: another fan holds it.
    const [other] = await createUsers(s, 1, 'next');
    const again = await hold(s, concert, other, 3);
    expect(again.status).toBe('HELD');
    expect(DEFAULT_REFUND_POLICY.cutoffHours).toBe(24);
  });

  it('refuses after the cut-off (CANCELLATION_CLOSED) and writes nothing', async () => {
    const concert = await concertStarting(2 * HOUR); // the default cut-off is 24 h before the show
    const ticket = await buyTicket(concert, 1);
    await expect(tickets.assertCancellable(ticket.reservationId, ticket.userId, new Date())).rejects.toMatchObject({ code: 'CANCELLATION_CLOSED' });
    const refused = await settle(tickets.cancelByFan({ ...ticket, requestedAt: new Date().toISOString() }));
    expect(refused.ok ? undefined : codeOf(refused.error)).toBe('CANCELLATION_CLOSED');
    expect(await ledgerRefunds(ticket.reservationId)).toEqual([]);
    const [payment] = await db.query('SELECT status FROM payments WHERE id = $1', [ticket.paymentId]);
    expect(payment.status).toBe('COMPLETED');
  });

  it('refunds once when 20 cancellations of one ticket race, and refuses someone else’s ticket', async () => {
    const concert = await concertStarting(30 * 24 * HOUR);
    const ticket = await buyTicket(concert, 2);
    const [stranger] = await createUsers(s, 1, 'stranger');
    const stolen = await settle(tickets.cancelByFan({ ...ticket, userId: stranger, requestedAt: new Date().toISOString() }));
    expect(stolen.ok ? undefined : codeOf(stolen.error)).toBe('FORBIDDEN');

    const results = await Promise.all(Array.from({ length: 20 }, () => settle(tickets.cancelByFan({ ...ticket, requestedAt: new Date().toISOString() }))));
    // The same cancellation retried returns the refund it made: every attempt sees one and the same refund.
    for (const r of results) expect(r.ok ? r.value.refunded : codeOf(r.error)).toBe(PRICE);
    expect(await ledgerRefunds(ticket.reservationId)).toHaveLength(1);
    expect(await s.wallets.balance(ticket.userId)).toBe(50_000);
    await expect(tickets.assertCancellable(ticket.reservationId, ticket.userId, new Date())).rejects.toMatchObject({ code: 'TICKET_ALREADY_CANCELLED' });
  });

  it('refuses a hold that was never paid (TICKET_NOT_PAID)', async () => {
    const concert = await concertStarting(30 * 24 * HOUR);
    const [fan] = await createUsers(s, 1, 'holder');
    const held = await hold(s, concert, fan, 4);
    await expect(tickets.assertCancellable(held.reservationId, fan, new Date())).rejects.toMatchObject({ code: 'TICKET_NOT_PAID' });
  });
});

describe('an operator cancels a show', () => {
  it('refunds every paid ticket in full, batch by batch, exactly once, and lists them as cancelled', async () => {
    const concert = await concertStarting(30 * 24 * HOUR, 30);
    const bought = [];
    for (let seat = 1; seat <= 12; seat += 1) bought.push(await buyTicket(concert, seat));
    const fanCancelled = bought[0];
    await tickets.cancelByFan({ ...fanCancelled, requestedAt: new Date().toISOString() });

    const scheduleIds = await tickets.cancelSchedules(concert.concertId);
    expect(scheduleIds).toEqual(concert.scheduleIds);
    // Sales are closed: the booking window is over, and every hold checks it.
    const [late] = await createUsers(s, 1, 'late');
    const refused = await settle(hold(s, concert, late, 20));
    expect(refused.ok ? undefined : codeOf(refused.error)).toBe('SEAT_UNAVAILABLE');

    expect(await tickets.showProgress(scheduleIds)).toEqual({ refunded: 0, remaining: 11, amount: 0 });
    // Two batches at once (a retried attempt racing the first): wallet and payment locks keep them apart.
    const [a, b] = await Promise.all([tickets.refundShowBatch(scheduleIds, 5), tickets.refundShowBatch(scheduleIds, 5)]);
    expect(a.refunded + b.refunded).toBeLessThanOrEqual(10);
    let rounds = 0;
    while ((await tickets.refundShowBatch(scheduleIds, 5)).refunded > 0) rounds += 1;
    expect(rounds).toBeGreaterThan(0);
    expect(await tickets.showProgress(scheduleIds)).toEqual({ refunded: 11, remaining: 0, amount: 11 * PRICE });
    for (const t of bought) {
      expect(await ledgerRefunds(t.reservationId)).toHaveLength(1);
      expect(await s.wallets.balance(t.userId)).toBe(50_000); // 30 days ahead: a full refund either way
    }
    const mine = await tickets.listForUser(bought[5].userId, 10);
    expect(mine.items).toEqual([
      expect.objectContaining({ reservationId: bought[5].reservationId, status: 'CANCELLED', showCancelled: true, refund: expect.objectContaining({ amount: PRICE, fee: 0, reason: 'SHOW_CANCELLED' }) }),
    ]);
    expect(await findViolations(db)).toEqual([]);
  });

  it('pages "my tickets" newest first with a cursor', async () => {
    const concert = await concertStarting(30 * 24 * HOUR, 10);
    const [fan] = await createUsers(s, 1, 'collector');
    const bought = [];
    for (let seat = 1; seat <= 3; seat += 1) bought.push(await buyTicket(concert, seat, fan));
    const first = await tickets.listForUser(fan, 2);
    expect(first.items.map((t) => t.reservationId)).toEqual([bought[2].reservationId, bought[1].reservationId]);
    expect(first.nextCursor).toBeDefined();
    const cursor = Buffer.from(first.nextCursor!, 'base64url').toString('utf8').split('|');
    const second = await tickets.listForUser(fan, 2, { paidAt: cursor[0], id: cursor[1] });
    expect(second.items.map((t) => t.reservationId)).toEqual([bought[0].reservationId]);
    expect(second.nextCursor).toBeUndefined();
    expect(second.items[0]).toMatchObject({ status: 'CONFIRMED', price: PRICE, seatNumber: 1, concertId: concert.concertId });
  });
});
