import type { DataSource } from 'typeorm';
import { DomainError } from '../../lib/domain-error';
import { isUniqueViolation } from '../pg-errors';
import { rows } from '../sql';
import { fastPath, inTransaction } from '../transaction';
import { HoldStore } from './holds';
import { orderSeats, WalletStore, type CompletedPayment, type OrderRef } from './wallets';

/** Thrown inside the common case's transaction to roll it back and take the full one. */
const NOT_THE_COMMON_CASE = Symbol('not the common case');

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
   * The common case (a first attempt the wallet covers, every seat still held) is the debit's and the
   * confirm's one-statement forms in one transaction: four round trips. Anything else rolls that back
   * and takes the transaction that tells the cases apart (a concurrent attempt of the same order that
   * got there first fails the debit's statement on a unique key, and lands there too).
   */
  async purchase(p: OrderRef): Promise<{ amount: number; balance: number }> {
    const seats = orderSeats(p);
    const reservationIds = seats.map((seat) => seat.reservationId);
    const common = await fastPath(
      this.db.transaction(async (tx) => {
        const debited = await this.wallets.debitCovered(p, seats, tx);
        if (!debited || !(await this.holds.confirmWhole(p.paymentId, reservationIds, tx))) throw NOT_THE_COMMON_CASE;
        return debited;
      }),
      (err) => err === NOT_THE_COMMON_CASE || isUniqueViolation(err),
    );
    if (common) return common;
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
