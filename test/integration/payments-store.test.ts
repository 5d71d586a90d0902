import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { findViolations } from '../../db/invariants';
import { poolOf } from '../../db/sql';
import { SaleStore } from '../../db/stores/sales';
import { DomainError } from '../../lib/domain-error';
import { codeOf, createOpenConcert, createUsers, deadlineIn, hold, openDb, settle, stores, type OpenConcert, type Stores } from './fixtures';

/**
 * The payment saga's steps on the real Postgres test database: debit, confirm and refund are each
 * idempotent per payment id, serialized per wallet, and the money always balances with the ledger.
 */

const PRICE = 70_000;

let db: DataSource;
let s: Stores;
let concert: OpenConcert;
let nextSeat = 1;

beforeAll(async () => {
  db = await openDb(40);
  s = stores(db);
  concert = await createOpenConcert(s, 200, PRICE);
});

afterAll(async () => {
  await db?.destroy();
});

/** A fan with `balance` in the wallet. */
async function fan(balance: number): Promise<string> {
  const [userId] = await createUsers(s, 1, 'payer');
  if (balance > 0) await s.wallets.charge(userId, balance);
  return userId;
}

/** A live hold of a fresh seat for `userId`; `heldUntil` defaults to five minutes ahead. */
async function heldSeat(userId: string, heldUntil = deadlineIn(300_000)) {
  const seatNumber = nextSeat++;
  const held = await hold(s, concert, userId, seatNumber, { heldUntil });
  return { ...held, seatNumber };
}

async function ledger(paymentId: string): Promise<Array<{ type: string; amount: number }>> {
  const found: Array<{ type: string; amount: string }> = await db.query(
    'SELECT type, amount FROM wallet_transactions WHERE payment_id = $1 ORDER BY id',
    [paymentId],
  );
  return found.map((r) => ({ type: r.type, amount: Number(r.amount) }));
}

async function payment(paymentId: string): Promise<{ status: string; failure_code: string | null; amount: number } | undefined> {
  const found: Array<{ status: string; failure_code: string | null; amount: string }> = await db.query(
    'SELECT status, failure_code, amount FROM payments WHERE id = $1',
    [paymentId],
  );
  return found[0] && { ...found[0], amount: Number(found[0].amount) };
}

const balance = async (userId: string) => s.wallets.balance(userId);

describe('debit', () => {
  it('takes the money once when called twice with the same payment id', async () => {
    const userId = await fan(100_000);
    const { reservationId } = await heldSeat(userId);
    const paymentId = randomUUID();

    const first = await s.wallets.debitForPayment({ paymentId, userId, reservationId });
    const again = await s.wallets.debitForPayment({ paymentId, userId, reservationId });

    expect(first).toEqual({ amount: PRICE, balance: 30_000 });
    expect(again).toEqual(first);
    expect(await balance(userId)).toBe(30_000);
    expect(await ledger(paymentId)).toEqual([{ type: 'PAYMENT', amount: PRICE }]);
    expect(await payment(paymentId)).toMatchObject({ status: 'PENDING', amount: PRICE });
  });

  it('takes the money once when called 10× concurrently with the same payment id', async () => {
    const userId = await fan(100_000);
    const { reservationId } = await heldSeat(userId);
    const paymentId = randomUUID();

    const results = await Promise.all(Array.from({ length: 10 }, () => s.wallets.debitForPayment({ paymentId, userId, reservationId })));

    expect(results).toEqual(Array(10).fill({ amount: PRICE, balance: 30_000 }));
    expect(await balance(userId)).toBe(30_000);
    expect(await ledger(paymentId)).toEqual([{ type: 'PAYMENT', amount: PRICE }]);
  });

  it('refuses an insufficient balance: nothing debited and the payment FAILED with INSUFFICIENT_BALANCE', async () => {
    const userId = await fan(10_000);
    const { reservationId } = await heldSeat(userId);
    const paymentId = randomUUID();

    const attempt = await settle(s.wallets.debitForPayment({ paymentId, userId, reservationId }));

    expect(attempt.ok).toBe(false);
    const err = !attempt.ok && attempt.error;
    expect(err).toBeInstanceOf(DomainError);
    expect(codeOf(err)).toBe('INSUFFICIENT_BALANCE');
    expect(await balance(userId)).toBe(10_000);
    expect(await ledger(paymentId)).toEqual([]);
    expect(await payment(paymentId)).toMatchObject({ status: 'FAILED', failure_code: 'INSUFFICIENT_BALANCE', amount: PRICE });
  });

  it('charges the reservation’s price from the database, whatever the seat costs now', async () => {
    const userId = await fan(200_000);
    const held = await heldSeat(userId);
    // A later price change of the seat does not change what this hold costs.
    await db.query('UPDATE seats SET price = 1 WHERE id = $1', [held.seatId]);
    const paymentId = randomUUID();

    const debited = await s.wallets.debitForPayment({ paymentId, userId, reservationId: held.reservationId });

    expect(held.price).toBe(PRICE);
    expect(debited.amount).toBe(PRICE);
    expect(await payment(paymentId)).toMatchObject({ amount: PRICE });
    expect(await ledger(paymentId)).toEqual([{ type: 'PAYMENT', amount: PRICE }]);
    expect(await balance(userId)).toBe(200_000 - PRICE);
  });

  it('refuses to pay for another fan’s reservation', async () => {
    const owner = await fan(0);
    const other = await fan(100_000);
    const { reservationId } = await heldSeat(owner);

    const attempt = await settle(s.wallets.debitForPayment({ paymentId: randomUUID(), userId: other, reservationId }));

    expect(codeOf(!attempt.ok && attempt.error)).toBe('NOT_FOUND');
    expect(await balance(other)).toBe(100_000);
  });

  it('lets exactly one of two concurrent payments through when the wallet covers only one; never negative', async () => {
    const userId = await fan(100_000);
    const a = await heldSeat(userId);
    const b = await heldSeat(userId);
    const payments = [
      { paymentId: randomUUID(), userId, reservationId: a.reservationId },
      { paymentId: randomUUID(), userId, reservationId: b.reservationId },
    ];

    const outcomes = await Promise.all(payments.map((p) => settle(s.wallets.debitForPayment(p))));

    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    const refused = outcomes.flatMap((o) => (o.ok ? [] : [o.error]));
    expect(refused.map(codeOf)).toEqual(['INSUFFICIENT_BALANCE']);
    expect(await balance(userId)).toBe(30_000);
    const debits: Array<{ count: number }> = await db.query(
      `SELECT count(*)::int AS count FROM wallet_transactions WHERE user_id = $1 AND type = 'PAYMENT'`,
      [userId],
    );
    expect(debits[0].count).toBe(1);
    const [{ min }] = await db.query('SELECT min(balance_after)::int AS min FROM wallet_transactions WHERE user_id = $1', [userId]);
    expect(min).toBeGreaterThanOrEqual(0);
  });
});

describe('refund (the saga’s compensation)', () => {
  it('refunds once when called twice, and marks the payment FAILED', async () => {
    const userId = await fan(100_000);
    const { reservationId } = await heldSeat(userId);
    const paymentId = randomUUID();
    await s.wallets.debitForPayment({ paymentId, userId, reservationId });

    expect(await s.wallets.refundPayment({ paymentId, userId, reservationId })).toBe('REFUNDED');
    expect(await s.wallets.refundPayment({ paymentId, userId, reservationId })).toBe('REFUNDED');

    expect(await balance(userId)).toBe(100_000);
    expect(await ledger(paymentId)).toEqual([
      { type: 'PAYMENT', amount: PRICE },
      { type: 'REFUND', amount: PRICE },
    ]);
    expect(await payment(paymentId)).toMatchObject({ status: 'FAILED', failure_code: 'SAGA_COMPENSATED' });
  });

  it('refunds once when called 10× concurrently', async () => {
    const userId = await fan(100_000);
    const { reservationId } = await heldSeat(userId);
    const paymentId = randomUUID();
    await s.wallets.debitForPayment({ paymentId, userId, reservationId });

    const outcomes = await Promise.all(Array.from({ length: 10 }, () => s.wallets.refundPayment({ paymentId, userId, reservationId })));

    expect(outcomes).toEqual(Array(10).fill('REFUNDED'));
    expect(await balance(userId)).toBe(100_000);
    expect((await ledger(paymentId)).filter((t) => t.type === 'REFUND')).toHaveLength(1);
    expect(await payment(paymentId)).toMatchObject({ status: 'FAILED' });
  });

  it('takes no money with a debit that arrives after its payment was already compensated', async () => {
    // The saga compensates when the debit step gave up (timed out); a straggling attempt of that
    // debit that reaches Postgres only afterwards must not take money nobody will ever give back.
    const userId = await fan(100_000);
    const { reservationId } = await heldSeat(userId);
    const paymentId = randomUUID();

    expect(await s.wallets.refundPayment({ paymentId, userId, reservationId })).toBe('NOTHING_DEBITED');
    await settle(s.wallets.debitForPayment({ paymentId, userId, reservationId }));

    expect(await balance(userId)).toBe(100_000);
    expect((await ledger(paymentId)).filter((t) => t.type === 'PAYMENT')).toHaveLength(0);
  });

  it('a debit racing its own compensation, 20 times: the money is never kept, and the payment ends FAILED', async () => {
    // The saga compensates a debit it gave up on while that debit may still be on its way to Postgres.
    for (let round = 0; round < 20; round++) {
      const userId = await fan(100_000);
      const { reservationId } = await heldSeat(userId);
      const paymentId = randomUUID();
      const [, refunded] = await Promise.all([
        settle(s.wallets.debitForPayment({ paymentId, userId, reservationId })),
        s.wallets.refundPayment({ paymentId, userId, reservationId }),
      ]);

      expect(['REFUNDED', 'NOTHING_DEBITED']).toContain(refunded);
      expect(await balance(userId)).toBe(100_000);
      expect(await payment(paymentId)).toMatchObject({ status: 'FAILED' });
    }
  });
});

describe('confirm (the sale)', () => {
  it('confirms once and is idempotent for the same payment; a refund afterwards returns ALREADY_COMPLETED', async () => {
    const userId = await fan(100_000);
    const held = await heldSeat(userId);
    const paymentId = randomUUID();
    await s.wallets.debitForPayment({ paymentId, userId, reservationId: held.reservationId });

    await s.holds.confirm(paymentId, held.reservationId);
    await s.holds.confirm(paymentId, held.reservationId);

    const [r] = await db.query('SELECT status, payment_id FROM reservations WHERE id = $1', [held.reservationId]);
    expect(r).toEqual({ status: 'CONFIRMED', payment_id: paymentId });
    const [seatRow] = await db.query('SELECT status, reservation_id FROM seats WHERE id = $1', [held.seatId]);
    expect(seatRow).toEqual({ status: 'SOLD', reservation_id: held.reservationId });
    expect(await payment(paymentId)).toMatchObject({ status: 'COMPLETED' });

    expect(await s.wallets.refundPayment({ paymentId, userId, reservationId: held.reservationId })).toBe('ALREADY_COMPLETED');
    expect(await balance(userId)).toBe(30_000);
    expect(await ledger(paymentId)).toEqual([{ type: 'PAYMENT', amount: PRICE }]);
    expect(await payment(paymentId)).toMatchObject({ status: 'COMPLETED' });
  });

  it('refuses a reservation taken over past its deadline + grace, and the refund restores the balance', async () => {
    const userId = await fan(100_000);
    const stale = await heldSeat(userId, deadlineIn(-10_000));
    const paymentId = randomUUID();
    await s.wallets.debitForPayment({ paymentId, userId, reservationId: stale.reservationId });
    expect(await balance(userId)).toBe(30_000);

    // Another fan takes the seat over: it was bookable again.
    const rival = await fan(0);
    const taken = await hold(s, concert, rival, stale.seatNumber);

    const attempt = await settle(s.holds.confirm(paymentId, stale.reservationId));
    expect(attempt.ok).toBe(false);
    expect(!attempt.ok && attempt.error).toBeInstanceOf(DomainError);
    expect(codeOf(!attempt.ok && attempt.error)).toBe('RESERVATION_NOT_PAYABLE');

    expect(await s.wallets.refundPayment({ paymentId, userId, reservationId: stale.reservationId })).toBe('REFUNDED');
    expect(await balance(userId)).toBe(100_000);
    expect(await payment(paymentId)).toMatchObject({ status: 'FAILED' });
    const [seatRow] = await db.query('SELECT status, reservation_id FROM seats WHERE id = $1', [stale.seatId]);
    expect(seatRow).toEqual({ status: 'HELD', reservation_id: taken.reservationId });
  });

  it('refuses to confirm a payment that was already given up (FAILED)', async () => {
    const userId = await fan(100_000);
    const held = await heldSeat(userId);
    const paymentId = randomUUID();
    await s.wallets.debitForPayment({ paymentId, userId, reservationId: held.reservationId });
    await s.wallets.refundPayment({ paymentId, userId, reservationId: held.reservationId });

    const attempt = await settle(s.holds.confirm(paymentId, held.reservationId));

    expect(codeOf(!attempt.ok && attempt.error)).toBe('RESERVATION_NOT_PAYABLE');
    const [r] = await db.query('SELECT status FROM reservations WHERE id = $1', [held.reservationId]);
    expect(r.status).toBe('HELD');
  });
});

describe('purchase (the debit and the sale in one transaction)', () => {
  const sales = () => new SaleStore(db);

  it('takes the money and sells the seat together, once: a retry answers the same and changes nothing; the give-up then finds it completed', async () => {
    const userId = await fan(100_000);
    const held = await heldSeat(userId);
    const paymentId = randomUUID();
    const order = { paymentId, userId, reservationId: held.reservationId };

    const first = await sales().purchase(order);
    const again = await sales().purchase(order);

    expect(first).toEqual({ amount: PRICE, balance: 30_000 });
    expect(again).toEqual(first);
    expect(await ledger(paymentId)).toEqual([{ type: 'PAYMENT', amount: PRICE }]);
    expect(await payment(paymentId)).toMatchObject({ status: 'COMPLETED', amount: PRICE });
    const [r] = await db.query('SELECT status, payment_id FROM reservations WHERE id = $1', [held.reservationId]);
    expect(r).toEqual({ status: 'CONFIRMED', payment_id: paymentId });
    const [seatRow] = await db.query('SELECT status, reservation_id FROM seats WHERE id = $1', [held.seatId]);
    expect(seatRow).toEqual({ status: 'SOLD', reservation_id: held.reservationId });
    expect(await s.wallets.refundPayment(order)).toBe('ALREADY_COMPLETED');
    expect(await balance(userId)).toBe(30_000);
  });

  it('a first purchase the wallet covers, of one seat or an order of several, is one statement and no transaction', async () => {
    // Each round trip between the worker and PostgreSQL costs both CPU (issue 25): the common case is
    // one call of purchase_whole; only the other cases open the transaction that tells them apart.
    const userId = await fan(300_000);
    const [a, b, c] = [await heldSeat(userId), await heldSeat(userId), await heldSeat(userId)];
    // Statements go through TypeORM (`db.query`) or, prepared, straight to its pool (db/sql.ts).
    const typeormStatements = jest.spyOn(db, 'query');
    const preparedStatements = jest.spyOn(poolOf(db), 'query');
    const transactions = jest.spyOn(db, 'transaction');
    try {
      const one = await sales().purchase({ paymentId: randomUUID(), userId, reservationId: a.reservationId });
      const several = await sales().purchase({ paymentId: randomUUID(), userId, reservationId: b.reservationId, reservationIds: [b.reservationId, c.reservationId] });
      expect([one, several]).toEqual([
        { amount: PRICE, balance: 300_000 - PRICE },
        { amount: 2 * PRICE, balance: 300_000 - 3 * PRICE },
      ]);
      expect(typeormStatements.mock.calls.length + preparedStatements.mock.calls.length).toBe(2);
      expect(transactions).not.toHaveBeenCalled();
    } finally {
      typeormStatements.mockRestore();
      preparedStatements.mockRestore();
      transactions.mockRestore();
    }
    const sold: Array<{ status: string }> = await db.query('SELECT s.status FROM seats s WHERE s.id = ANY($1::bigint[])', [[a.seatId, b.seatId, c.seatId]]);
    expect(sold.map((r) => r.status)).toEqual(['SOLD', 'SOLD', 'SOLD']);
  });

  it('20 concurrent attempts of one order: one debit, the seat sold once, 20 identical answers', async () => {
    const userId = await fan(100_000);
    const held = await heldSeat(userId);
    const paymentId = randomUUID();

    const results = await Promise.all(Array.from({ length: 20 }, () => sales().purchase({ paymentId, userId, reservationId: held.reservationId })));

    expect(results).toEqual(Array(20).fill({ amount: PRICE, balance: 30_000 }));
    expect(await balance(userId)).toBe(30_000);
    expect(await ledger(paymentId)).toEqual([{ type: 'PAYMENT', amount: PRICE }]);
  });

  it('a seat taken over past its deadline + grace: refused, and nothing was debited (no refund needed)', async () => {
    const userId = await fan(100_000);
    const stale = await heldSeat(userId, deadlineIn(-10_000));
    const rival = await fan(0);
    const taken = await hold(s, concert, rival, stale.seatNumber);
    const paymentId = randomUUID();

    const attempt = await settle(sales().purchase({ paymentId, userId, reservationId: stale.reservationId }));

    expect(codeOf(!attempt.ok && attempt.error)).toBe('RESERVATION_NOT_PAYABLE');
    expect(await balance(userId)).toBe(100_000);
    expect(await ledger(paymentId)).toEqual([]);
    expect(await payment(paymentId)).toBeUndefined();
    // The saga's give-up records the order FAILED, so that a late attempt of it takes nothing.
    expect(await s.wallets.refundPayment({ paymentId, userId, reservationId: stale.reservationId })).toBe('NOTHING_DEBITED');
    expect(codeOf(await settle(sales().purchase({ paymentId, userId, reservationId: stale.reservationId })).then((a) => !a.ok && a.error))).toBe('RESERVATION_NOT_PAYABLE');
    expect(await balance(userId)).toBe(100_000);
    const [seatRow] = await db.query('SELECT status, reservation_id FROM seats WHERE id = $1', [stale.seatId]);
    expect(seatRow).toEqual({ status: 'HELD', reservation_id: taken.reservationId });
  });

  it('an order of several seats, one of them lost: none sold, nothing debited', async () => {
    const userId = await fan(300_000);
    const kept = await heldSeat(userId);
    const stale = await heldSeat(userId, deadlineIn(-10_000));
    await hold(s, concert, await fan(0), stale.seatNumber);
    const paymentId = randomUUID();

    const attempt = await settle(sales().purchase({ paymentId, userId, reservationId: kept.reservationId, reservationIds: [kept.reservationId, stale.reservationId] }));

    expect(codeOf(!attempt.ok && attempt.error)).toBe('RESERVATION_NOT_PAYABLE');
    expect(await balance(userId)).toBe(300_000);
    const [r] = await db.query('SELECT status FROM reservations WHERE id = $1', [kept.reservationId]);
    expect(r.status).toBe('HELD');
  });

  it('a balance short of the total: refused, nothing debited or sold, the payment FAILED with INSUFFICIENT_BALANCE', async () => {
    const userId = await fan(10_000);
    const held = await heldSeat(userId);
    const paymentId = randomUUID();

    const attempt = await settle(sales().purchase({ paymentId, userId, reservationId: held.reservationId }));

    expect(codeOf(!attempt.ok && attempt.error)).toBe('INSUFFICIENT_BALANCE');
    expect(await balance(userId)).toBe(10_000);
    expect(await payment(paymentId)).toMatchObject({ status: 'FAILED', failure_code: 'INSUFFICIENT_BALANCE' });
    const [r] = await db.query('SELECT status FROM reservations WHERE id = $1', [held.reservationId]);
    expect(r.status).toBe('HELD');
  });

  it('a purchase racing its own give-up, 20 times: either sold whole (the give-up says ALREADY_COMPLETED) or nothing taken and FAILED', async () => {
    for (let round = 0; round < 20; round++) {
      const userId = await fan(100_000);
      const held = await heldSeat(userId);
      const paymentId = randomUUID();
      const order = { paymentId, userId, reservationId: held.reservationId };
      const [bought, givenUp] = await Promise.all([settle(sales().purchase(order)), s.wallets.refundPayment(order)]);

      if (givenUp === 'ALREADY_COMPLETED') {
        expect(bought.ok).toBe(true);
        expect(await balance(userId)).toBe(30_000);
        expect(await payment(paymentId)).toMatchObject({ status: 'COMPLETED' });
      } else {
        expect(givenUp).toBe('NOTHING_DEBITED');
        expect(bought.ok).toBe(false);
        expect(await balance(userId)).toBe(100_000);
        expect(await payment(paymentId)).toMatchObject({ status: 'FAILED' });
      }
    }
  });
});

describe('invariants', () => {
  it('leaves every wallet equal to its ledger, never negative, and every failed debit refunded', async () => {
    expect(await findViolations(db)).toEqual([]);
  });
});
