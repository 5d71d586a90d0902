import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { findViolations } from '../../db/invariants';
import { PurchaseLimitStore } from '../../db/stores/purchase-limits';
import { TicketStore } from '../../db/stores/tickets';
import { codeOf, createOpenConcert, createUsers, hold, openDb, settle, stores, type Stores } from './fixtures';

/**
 * The purchase limit per fan per concert, held by PostgreSQL (migration 1765400000000's trigger):
 * sold plus live-held seats of one user in one concert, whichever journey holds them, never above
 * the concert's `max_seats_per_fan`, however many holds race; whatever ends a live reservation gives
 * its seat back.
 */

let db: DataSource;
let s: Stores;
let limits: PurchaseLimitStore;
let fans: string[];

beforeAll(async () => {
  db = await openDb(40);
  s = stores(db);
  limits = new PurchaseLimitStore(db);
  fans = await createUsers(s, 3, 'limited');
});

afterAll(async () => {
  await db?.destroy();
});

const journeyOf = (concertId: string, userId: string, arrival: number) => `journey-${concertId}-${userId}-${arrival}`;

describe('purchase limit per fan per concert', () => {
  it('lets 3 of 20 concurrent holds of one fan through two journeys (a re-queue) when the limit is 3, and refuses the rest PURCHASE_LIMIT_REACHED', async () => {
    const c = await createOpenConcert(s, 40, 10_000);
    expect(await limits.set(c.concertId, 3)).toBe(true);
    const [fan, other] = fans;
    const attempts = await Promise.all(
      Array.from({ length: 20 }, (_, i) => settle(hold(s, c, fan, i + 1, { journeyId: journeyOf(c.concertId, fan, 1 + (i % 2)) }))),
    );
    const held = attempts.filter((a) => a.ok);
    const refused = attempts.filter((a): a is { ok: false; error: unknown } => !a.ok);
    expect(held).toHaveLength(3);
    expect(refused.map((r) => codeOf(r.error))).toEqual(Array(17).fill('PURCHASE_LIMIT_REACHED'));
    expect(await limits.seatsOf(fan, c.concertId)).toBe(3);
    const [{ live }] = await db.query(`SELECT count(*)::int AS live FROM reservations WHERE user_id = $1 AND concert_id = $2 AND status IN ('HELD', 'CONFIRMED')`, [fan, c.concertId]);
    expect(live).toBe(3);
    // Another fan, and the same fan in another concert, have allowances of their own.
    await expect(hold(s, c, other, 30)).resolves.toMatchObject({ status: 'HELD' });
    const elsewhere = await createOpenConcert(s, 5, 10_000);
    await expect(hold(s, elsewhere, fan, 1)).resolves.toMatchObject({ status: 'HELD' });
    expect(await findViolations(db)).toEqual([]);
  });

  it('counts sold seats too, and gives the allowance back on a release, an expiry take-over and a ticket cancellation', async () => {
    const c = await createOpenConcert(s, 10, 10_000);
    await limits.set(c.concertId, 2);
    const fan = fans[2];
    await s.wallets.charge(fan, 100_000);

    // One seat sold (debit + confirm: a one-seat order), one held: at the limit.
    const sold = await hold(s, c, fan, 1);
    const paymentId = randomUUID();
    await s.wallets.debitForPayment({ paymentId, userId: fan, reservationId: sold.reservationId });
    await s.holds.confirm(paymentId, sold.reservationId);
    const held = await hold(s, c, fan, 2);
    expect(codeOf(await hold(s, c, fan, 3).catch((e: unknown) => e))).toBe('PURCHASE_LIMIT_REACHED');
    expect(await limits.seatsOf(fan, c.concertId)).toBe(2);

    // A release gives one back.
    await s.holds.releaseMany([held.reservationId], 'CANCELLED');
    expect(await limits.seatsOf(fan, c.concertId)).toBe(1);
    const again = await hold(s, c, fan, 3, { heldUntil: new Date(Date.now() - 60_000).toISOString() });

    // A hold past its deadline + grace taken over by another fan: the old reservation expires with it.
    await hold(s, c, fans[0], 3);
    expect((await db.query('SELECT status FROM reservations WHERE id = $1', [again.reservationId]))[0].status).toBe('EXPIRED');
    expect(await limits.seatsOf(fan, c.concertId)).toBe(1);

    // Giving the sold ticket back frees its place in the limit as well.
    await db.query(`UPDATE concert_schedules SET starts_at = now() + interval '30 days' WHERE id = $1`, [c.scheduleIds[0]]);
    await new TicketStore(db).cancelByFan({ reservationId: sold.reservationId, userId: fan, requestedAt: new Date().toISOString() });
    expect(await limits.seatsOf(fan, c.concertId)).toBe(0);
    await expect(hold(s, c, fan, 4)).resolves.toMatchObject({ status: 'HELD' });
    await expect(hold(s, c, fan, 5)).resolves.toMatchObject({ status: 'HELD' });
    expect(codeOf(await hold(s, c, fan, 6).catch((e: unknown) => e))).toBe('PURCHASE_LIMIT_REACHED');
    expect(await findViolations(db)).toEqual([]);
  });

  it('lowering the limit below what a fan has refuses new holds but never a release', async () => {
    const c = await createOpenConcert(s, 10, 10_000);
    const fan = fans[1];
    const a = await hold(s, c, fan, 1);
    await hold(s, c, fan, 2);
    await limits.set(c.concertId, 1);
    expect(codeOf(await hold(s, c, fan, 3).catch((e: unknown) => e))).toBe('PURCHASE_LIMIT_REACHED');
    await s.holds.release(a.reservationId, 'CANCELLED');
    expect(await limits.seatsOf(fan, c.concertId)).toBe(1);
    expect(codeOf(await hold(s, c, fan, 3).catch((e: unknown) => e))).toBe('PURCHASE_LIMIT_REACHED');
  });
});
