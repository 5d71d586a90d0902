import { randomUUID } from 'node:crypto';
import { findViolations } from '../../db/invariants';
import { TicketStore, ticketRefundKey } from '../../db/stores/tickets';
import { creditRefunds, refundKey } from '../../db/stores/wallets';
import { inTransaction } from '../../db/transaction';
import { isUniqueViolation } from '../../db/pg-errors';
import { createOpenConcert, createUsers, hold, openDb, settle, stores, type OpenConcert, type Stores } from './fixtures';

/**
 * `creditRefunds`, the one SQL every refund moves money with (the payment saga's compensation and the
 * tickets' refunds): each wallet credited the sum of its refunds, one REFUND entry per refund whose
 * `balance_after` is the wallet's running balance, never twice for one key.
 */
const PRICE = 10_000;

let s: Stores;
beforeAll(async () => {
  s = stores(await openDb(20));
});
afterAll(() => s?.db.destroy());

/** The wallet's whole ledger, oldest first, checked as a running balance (PAYMENT takes, the rest give). */
async function expectRunningLedger(userId: string): Promise<Array<{ type: string; amount: number; balanceAfter: number }>> {
  const found: Array<{ type: string; amount: string; balance_after: string }> = await s.db.query(
    'SELECT type, amount, balance_after FROM wallet_transactions WHERE user_id = $1 ORDER BY id',
    [userId],
  );
  const ledger = found.map((r) => ({ type: r.type, amount: Number(r.amount), balanceAfter: Number(r.balance_after) }));
  let balance = 0;
  for (const row of ledger) {
    balance += row.type === 'PAYMENT' ? -row.amount : row.amount;
    expect(row.balanceAfter).toBe(balance);
  }
  expect(await s.wallets.balance(userId)).toBe(balance);
  return ledger;
}

async function buy(concert: OpenConcert, userId: string, seat: number): Promise<string> {
  const held = await hold(s, concert, userId, seat);
  const paymentId = randomUUID();
  await s.wallets.debitForPayment({ paymentId, userId, reservationId: held.reservationId });
  await s.holds.confirm(paymentId, held.reservationId);
  return held.reservationId;
}

describe('refunds of several tickets of one fan in one batch', () => {
  it('credits the sum once and writes one entry per ticket, each with the running balance', async () => {
    const concert = await createOpenConcert(s, 10, PRICE);
    const tickets = new TicketStore(s.db);
    const [kim, lee] = await createUsers(s, 2, 'refunded');
    await s.wallets.charge(kim, 5 * PRICE);
    await s.wallets.charge(lee, 2 * PRICE);
    const kims = [await buy(concert, kim, 1), await buy(concert, kim, 2), await buy(concert, kim, 3)];
    const lees = [await buy(concert, lee, 4)];
    expect([await s.wallets.balance(kim), await s.wallets.balance(lee)]).toEqual([2 * PRICE, PRICE]);

    const scheduleIds = await tickets.cancelSchedules(concert.concertId);
    expect(await tickets.refundShowBatch(scheduleIds, 10)).toEqual({ refunded: 4, amount: 4 * PRICE });

    const kimsLedger = await expectRunningLedger(kim);
    expect(kimsLedger.filter((r) => r.type === 'REFUND').map((r) => r.balanceAfter)).toEqual([3 * PRICE, 4 * PRICE, 5 * PRICE]);
    expect(await s.wallets.balance(kim)).toBe(5 * PRICE);
    await expectRunningLedger(lee);
    expect(await s.wallets.balance(lee)).toBe(2 * PRICE);
    for (const reservationId of [...kims, ...lees]) {
      const [{ n }] = await s.db.query('SELECT count(*)::int AS n FROM wallet_transactions WHERE idempotency_key = $1', [ticketRefundKey(reservationId)]);
      expect(n).toBe(1);
    }
    expect(await tickets.refundShowBatch(scheduleIds, 10)).toEqual({ refunded: 0, amount: 0 });
    expect(await findViolations(s.db)).toEqual([]);
  });
});

describe('creditRefunds', () => {
  it('never gives one refund back twice: a second credit of its key fails and changes nothing', async () => {
    const [fan] = await createUsers(s, 1, 'twice');
    await s.wallets.charge(fan, 1_000);
    const paymentId = randomUUID();
    const credit = { userId: fan, amount: 700, paymentId, key: refundKey(paymentId) };
    await inTransaction(s.db, (tx) => creditRefunds(tx, [credit]));
    // TypeORM logs every failed query: this failure is the one the test expects.
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const again = await settle(inTransaction(s.db, (tx) => creditRefunds(tx, [{ userId: fan, amount: 300, paymentId: randomUUID(), key: `${randomUUID()}:refund` }, credit])));
    log.mockRestore();
    expect(!again.ok && isUniqueViolation(again.error)).toBe(true);
    expect(await s.wallets.balance(fan)).toBe(1_700);
    expect(await expectRunningLedger(fan)).toHaveLength(2);
  });

  it('writes nothing for a refund of nothing (a 100 % fee)', async () => {
    const [fan] = await createUsers(s, 1, 'nothing');
    const paymentId = randomUUID();
    await inTransaction(s.db, (tx) => creditRefunds(tx, [{ userId: fan, amount: 0, paymentId, key: refundKey(paymentId) }]));
    expect(await s.wallets.balance(fan)).toBe(0);
    expect(await expectRunningLedger(fan)).toEqual([]);
  });
});
