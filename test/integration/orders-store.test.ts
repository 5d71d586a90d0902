import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { findViolations } from '../../db/invariants';
import { orderSeats } from '../../db/stores/wallets';
import { codeOf, createOpenConcert, createUsers, deadlineIn, hold, openDb, settle, stores, type OpenConcert, type Stores } from './fixtures';

/**
 * Orders of several seats in PostgreSQL: one debit of the total naming the seats, a payment row per
 * seat, every seat sold in one transaction or none, and a refund that gives the whole debit back once.
 */

let db: DataSource;
let s: Stores;
let fans: string[];

beforeAll(async () => {
  db = await openDb(40);
  s = stores(db);
  fans = await createUsers(s, 4, 'orderer');
  for (const fan of fans) await s.wallets.charge(fan, 1_000_000);
});

afterAll(async () => {
  if (db) expect(await findViolations(db)).toEqual([]);
  await db?.destroy();
});

const PRICE = 30_000;

async function holdSeats(c: OpenConcert, fan: string, numbers: number[]): Promise<string[]> {
  const held = [];
  for (const n of numbers) held.push((await hold(s, c, fan, n)).reservationId);
  return held;
}

const seatStates = async (reservationIds: string[]) =>
  db.query(
    `SELECT r.id, r.status, s.status AS seat FROM reservations r JOIN seats s ON s.id = r.seat_id WHERE r.id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], r.id)`,
    [reservationIds],
  );

describe('orders of several seats', () => {
  it('debits the total once in one ledger entry naming the seats, and sells every seat in one confirm (idempotent)', async () => {
    const c = await createOpenConcert(s, 10, PRICE);
    const fan = fans[0];
    const reservationIds = await holdSeats(c, fan, [3, 1, 2]);
    const order = { paymentId: randomUUID(), userId: fan, reservationId: reservationIds[0], reservationIds };
    const before = Number(await s.wallets.balance(fan));

    const debited = await s.wallets.debitForPayment(order);
    expect(await s.wallets.debitForPayment(order)).toEqual(debited); // a retry takes nothing more
    expect(debited).toEqual({ amount: 3 * PRICE, balance: before - 3 * PRICE });
    const entries = await db.query(`SELECT type, amount::int AS amount, reservation_ids FROM wallet_transactions WHERE payment_id = $1`, [order.paymentId]);
    expect(entries).toEqual([{ type: 'PAYMENT', amount: 3 * PRICE, reservation_ids: reservationIds }]);
    const payments = await db.query(`SELECT id, reservation_id, amount::int AS amount, status FROM payments WHERE order_id = $1 ORDER BY amount, id`, [order.paymentId]);
    expect(payments).toHaveLength(3);
    expect(new Set(payments.map((p: { id: string }) => p.id))).toEqual(new Set(orderSeats(order).map((seat) => seat.paymentId)));
    expect(payments.every((p: { status: string; amount: number }) => p.status === 'PENDING' && p.amount === PRICE)).toBe(true);

    await s.holds.confirm(order.paymentId, reservationIds);
    await s.holds.confirm(order.paymentId, reservationIds); // a retry
    expect(await seatStates(reservationIds)).toEqual(reservationIds.map((id) => ({ id, status: 'CONFIRMED', seat: 'SOLD' })));
    expect(await s.wallets.refundPayment(order)).toBe('ALREADY_COMPLETED');
    expect(await s.wallets.paymentOutcome(order.paymentId)).toEqual({
      status: 'COMPLETED', paymentId: order.paymentId, reservationId: reservationIds[0], reservationIds, amount: 3 * PRICE, balance: before - 3 * PRICE,
    });
    expect(await findViolations(db)).toEqual([]);
  });

  it('sells nothing when one seat of the order was lost between debit and confirm, and the refund gives the whole debit back once', async () => {
    const c = await createOpenConcert(s, 10, PRICE);
    const [fan, rival] = fans.slice(1);
    const kept = await holdSeats(c, fan, [1, 2]);
    // A hold past its deadline + grace: anyone may take its seat.
    const lapsing = (await hold(s, c, fan, 3, { heldUntil: deadlineIn(-60_000) })).reservationId;
    const reservationIds = [...kept, lapsing];
    const order = { paymentId: randomUUID(), userId: fan, reservationId: reservationIds[0], reservationIds };
    const before = Number(await s.wallets.balance(fan));
    await s.wallets.debitForPayment(order);
    await hold(s, c, rival, 3); // takes the lapsed seat over

    const refused = await settle(s.holds.confirm(order.paymentId, reservationIds));
    expect(refused.ok).toBe(false);
    expect(codeOf(!refused.ok && refused.error)).toBe('RESERVATION_NOT_PAYABLE');
    expect((await seatStates(kept)).map((r: { status: string; seat: string }) => [r.status, r.seat])).toEqual([['HELD', 'HELD'], ['HELD', 'HELD']]);

    const refunds = await Promise.all(Array.from({ length: 5 }, () => s.wallets.refundPayment(order)));
    expect(refunds).toEqual(Array(5).fill('REFUNDED'));
    expect(Number(await s.wallets.balance(fan))).toBe(before);
    const statuses = await db.query(`SELECT DISTINCT status FROM payments WHERE order_id = $1`, [order.paymentId]);
    expect(statuses).toEqual([{ status: 'FAILED' }]);
    // A late confirm of a given-up order sells nothing.
    expect(codeOf(await s.holds.confirm(order.paymentId, reservationIds).catch((e: unknown) => e))).toBe('RESERVATION_NOT_PAYABLE');
    expect(await findViolations(db)).toEqual([]);
  });

  it('two orders over the same seats (two tabs), confirmed and compensated at once: one sells, the other is refunded, each seat sold once', async () => {
    const c = await createOpenConcert(s, 10, PRICE);
    const fan = fans[3];
    const [a, b, cc] = await holdSeats(c, fan, [4, 5, 6]);
    const tabs = [
      { paymentId: randomUUID(), userId: fan, reservationId: a, reservationIds: [a, b] },
      { paymentId: randomUUID(), userId: fan, reservationId: b, reservationIds: [b, cc] },
    ];
    const before = Number(await s.wallets.balance(fan));
    for (const tab of tabs) await s.wallets.debitForPayment(tab);
    // Each tab's saga: confirm, and compensate if refused; both at once.
    const sagas = await Promise.all(
      tabs.map(async (tab) => {
        const confirmed = await settle(s.holds.confirm(tab.paymentId, tab.reservationIds));
        if (confirmed.ok) return 'SOLD';
        return s.wallets.refundPayment(tab);
      }),
    );
    expect([...sagas].sort()).toEqual(['REFUNDED', 'SOLD']);
    const sold = tabs[sagas.indexOf('SOLD')];
    expect(Number(await s.wallets.balance(fan))).toBe(before - 2 * PRICE);
    const confirmed = await db.query(`SELECT id FROM reservations WHERE id = ANY($1::uuid[]) AND status = 'CONFIRMED' ORDER BY id`, [[a, b, cc]]);
    expect(confirmed.map((r: { id: string }) => r.id)).toEqual([...sold.reservationIds].sort());
    expect(await findViolations(db)).toEqual([]);
  });

  it('a seat of the order expiring while the order is confirmed, 20 times: every seat sold, or none', async () => {
    const fan = fans[2];
    for (let round = 0; round < 20; round++) {
      const reservationIds = await holdSeats(await createOpenConcert(s, 2, PRICE), fan, [1, 2]);
      const order = { paymentId: randomUUID(), userId: fan, reservationId: reservationIds[0], reservationIds };
      await s.wallets.charge(fan, 2 * PRICE);
      await s.wallets.debitForPayment(order);

      const [confirmed, expired] = await Promise.all([settle(s.holds.confirm(order.paymentId, reservationIds)), s.holds.releaseMany([reservationIds[1]], 'EXPIRED')]);

      const states = (await seatStates(reservationIds)).map((r: { status: string; seat: string }) => [r.status, r.seat]);
      if (confirmed.ok) {
        expect(expired).toEqual([]);
        expect(states).toEqual([['CONFIRMED', 'SOLD'], ['CONFIRMED', 'SOLD']]);
      } else {
        expect(codeOf(confirmed.error)).toBe('RESERVATION_NOT_PAYABLE');
        expect(states).toEqual([['HELD', 'HELD'], ['EXPIRED', 'AVAILABLE']]);
        expect(await s.wallets.refundPayment(order)).toBe('REFUNDED');
      }
    }
    expect(await findViolations(db)).toEqual([]);
  });

  it('the invariant check catches an order charged other than its seats’ prices, a debit naming other seats, and a half-given-up order', async () => {
    const c = await createOpenConcert(s, 10, PRICE);
    const fan = fans[0];
    const reservationIds = await holdSeats(c, fan, [8, 9]);
    const order = { paymentId: randomUUID(), userId: fan, reservationId: reservationIds[0], reservationIds };
    await s.wallets.debitForPayment(order);
    await s.holds.confirm(order.paymentId, reservationIds);
    const tampered = async (tamper: string, params: unknown[]): Promise<string[]> => {
      const runner = db.createQueryRunner();
      await runner.startTransaction();
      try {
        await runner.query(tamper, params);
        // The checks, inside the transaction that broke the books (rolled back below, unseen by others).
        const violations = await findViolations({ query: (sql: string) => runner.query(sql) } as unknown as DataSource);
        return violations.map((v) => v.invariant);
      } finally {
        await runner.rollbackTransaction();
        await runner.release();
      }
    };
    const perOrder = 'money out = seats sold × price, per order: the debit is the sum of its seats’ prices and names exactly its seats';
    expect(await tampered(`UPDATE payments SET amount = amount + 1 WHERE order_id = $1 AND id <> $1`, [order.paymentId])).toContain(perOrder);
    expect(await tampered(`UPDATE wallet_transactions SET reservation_ids = ARRAY[$2::uuid] WHERE payment_id = $1`, [order.paymentId, reservationIds[0]])).toContain(perOrder);
    expect(await tampered(`UPDATE payments SET status = 'FAILED' WHERE id = $1`, [order.paymentId])).toContain('an order is all or nothing: its seats’ payments are all given up or none is');
    expect(await findViolations(db)).toEqual([]);
  });
});
