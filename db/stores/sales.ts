import type { DataSource } from 'typeorm';
import { DomainError } from '../../lib/domain-error';
import { isUniqueViolation } from '../pg-errors';
import { prepared, preparedRows, rows } from '../sql';
import { fastPath, inTransaction } from '../transaction';
import { HoldStore } from './holds';
import { debitKey, orderSeats, WalletStore, type CompletedPayment, type OrderRef } from './wallets';

/** The purchase's common case in one call ($1 payment, $2 buyer, $3 the seats' payment ids, $4 their reservations, $5 the debit's key). */
const PURCHASE_WHOLE = prepared('SELECT amount, balance_after FROM purchase_whole($1, $2, $3::uuid[], $4::uuid[], $5)');

/**
 * The sale of an order as one transaction: the wallet's debit and the seats' confirm commit together
 * or not at all. Wallet and seats live in the same PostgreSQL, so no state exists in which the money
 * is taken and the seats are not sold: the payment needs no compensation to stay whole, whatever
 * fails and whenever a worker dies (the journey runs it as one local activity, workflows/fan-journey.ts).
 */
export class SaleStore {
  private readonly wallets: WalletStore;
  private readonly holds: HoldStore;

  constructor(private readonly db: DataSource) {
    this.wallets = new WalletStore(db);
    this.holds = new HoldStore(db);
  }

  /**
   * Debits the order's total and sells its seats, once per order id: a retry after the commit answers
   * the same amount and balance and changes nothing. Refused (INSUFFICIENT_BALANCE, which records the
   * order's payments FAILED; RESERVATION_NOT_PAYABLE, NOT_FOUND) with nothing debited and nothing sold.
   *
   * The common case (a first attempt the wallet covers, every seat still held by the buyer) is one
   * call of the database's `purchase_whole` (migration 1765600000000): one round trip. Anything else
   * it leaves untouched, and the transaction that tells the cases apart runs (a concurrent attempt of
   * the same order waits for the wallet's lock and then finds the order recorded; a unique key it
   * still meets sends it there too).
   */
  async purchase(p: OrderRef): Promise<{ amount: number; balance: number }> {
    const seats = orderSeats(p);
    const reservationIds = seats.map((seat) => seat.reservationId);
    const common = await fastPath(
      preparedRows<{ amount: string; balance_after: string }>(this.db, PURCHASE_WHOLE, [
        p.paymentId,
        p.userId,
        seats.map((seat) => seat.paymentId),
        reservationIds,
        debitKey(p.paymentId),
      ]),
      isUniqueViolation,
    );
    if (common?.length) return { amount: Number(common[0].amount), balance: Number(common[0].balance_after) };
    const outcome = await inTransaction(this.db, async (tx) => {
      const debited = await this.wallets.debitIn(tx, p, seats);
      if (!('insufficient' in debited)) await this.holds.confirmIn(tx, p.paymentId, new Set(reservationIds));
      return debited;
    });
    if ('insufficient' in outcome) throw new DomainError('INSUFFICIENT_BALANCE', `the balance ${outcome.balance} does not cover ${outcome.amount}`);
    return outcome;
  }

  /**
   * The completed order of this user that bought any of these seats, with its receipt, or null. A
   * purchase refused because its seats are sold asks it: the sale may be another order of the same
   * journey whose accepting task was lost after its purchase committed.
   */
  async saleOf(p: OrderRef): Promise<CompletedPayment | null> {
    const sold = await rows<{ order_id: string }>(
      this.db,
      `SELECT COALESCE(pay.order_id, pay.id) AS order_id FROM reservations r JOIN payments pay ON pay.id = r.payment_id
       WHERE r.id = ANY($1::uuid[]) AND r.user_id = $2 AND r.status = 'CONFIRMED' AND pay.status = 'COMPLETED'
       LIMIT 1`,
      [orderSeats(p).map((seat) => seat.reservationId), p.userId],
    );
    if (!sold.length) return null;
    const outcome = await this.wallets.paymentOutcome(sold[0].order_id);
    return outcome?.status === 'COMPLETED' ? outcome : null;
  }
}
