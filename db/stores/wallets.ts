import type { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '../../lib/domain-error';
import { inTransaction } from '../transaction';
import type { WalletTransactionType } from '../entities';

export interface LedgerEntry {
  transactionId: string;
  type: WalletTransactionType;
  amount: number;
  balanceAfter: number;
  createdAt: string;
  paymentId?: string;
}

export type RefundOutcome = 'REFUNDED' | 'NOTHING_DEBITED' | 'ALREADY_COMPLETED';

export const debitKey = (paymentId: string) => `payment:${paymentId}:debit`;
export const refundKey = (paymentId: string) => `payment:${paymentId}:refund`;
/** A wallet charge's ledger key: the user's `Idempotency-Key` of `POST /wallet/charges`. */
export const chargeKey = (userId: string, requestKey: string) => `charge:${userId}:${requestKey}`;

/**
 * The prepaid wallet and its ledger. Every balance change writes its ledger row in the same
 * transaction; the schema's CHECK keeps the balance non-negative; money for a payment moves under
 * the wallet's row lock with the ledger's unique idempotency key, so a retry changes nothing twice.
 */
export class WalletStore {
  constructor(private readonly db: DataSource) {}

  async balance(userId: string): Promise<number | null> {
    const rows: Array<{ balance: string }> = await this.db.query('SELECT balance FROM wallets WHERE user_id = $1', [userId]);
    return rows.length ? Number(rows[0].balance) : null;
  }

  /**
   * Credits the wallet and writes its ledger row in one statement. With a request key the ledger row
   * carries `charge:<userId>:<key>` under the ledger's unique constraint, so the same charge lands
   * once however often it is retried: a repeat (even one racing the first) credits nothing and answers
   * the first charge's row. The wallet row is locked first (`FOR UPDATE`), so the ledger's
   * `balance_after` is the balance this charge produced, and a repeat waits for the first to commit.
   */
  async charge(userId: string, amount: number, requestKey?: string): Promise<{ transactionId: string; amount: number; balance: number }> {
    const key = requestKey === undefined ? null : chargeKey(userId, requestKey);
    const rows: Array<{ id: string; balance_after: string }> = await this.db.query(
      `WITH entry AS (
         INSERT INTO wallet_transactions (user_id, type, amount, balance_after, idempotency_key)
         SELECT user_id, 'CHARGE', $2, balance + $2, $3 FROM wallets WHERE user_id = $1 FOR UPDATE
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id, balance_after
       ), credited AS (
         UPDATE wallets SET balance = balance + $2, updated_at = now() FROM entry WHERE user_id = $1 RETURNING balance
       )
       SELECT entry.id, credited.balance AS balance_after FROM entry JOIN credited ON true`,
      [userId, amount, key],
    );
    if (rows.length) return { transactionId: String(rows[0].id), amount, balance: Number(rows[0].balance_after) };
    if (key !== null) {
      // This request's charge landed before (a retry, or a duplicate that lost the race): its row answers.
      const first: Array<{ id: string; amount: string; balance_after: string }> = await this.db.query(
        'SELECT id, amount, balance_after FROM wallet_transactions WHERE idempotency_key = $1',
        [key],
      );
      if (first.length) return { transactionId: String(first[0].id), amount: Number(first[0].amount), balance: Number(first[0].balance_after) };
    }
    throw new DomainError('NOT_FOUND', 'no wallet for this user');
  }

  async transactions(userId: string, limit: number, beforeId?: string): Promise<{ items: LedgerEntry[]; nextCursor?: string }> {
    const rows: Array<{ id: string; type: WalletTransactionType; amount: string; balance_after: string; created_at: Date; payment_id: string | null }> =
      await this.db.query(
        `SELECT id, type, amount, balance_after, created_at, payment_id FROM wallet_transactions
         WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint)
         ORDER BY id DESC LIMIT $3`,
        [userId, beforeId ?? null, limit + 1],
      );
    const page = rows.slice(0, limit).map((r) => ({
      transactionId: String(r.id),
      type: r.type,
      amount: Number(r.amount),
      balanceAfter: Number(r.balance_after),
      createdAt: r.created_at.toISOString(),
      ...(r.payment_id ? { paymentId: r.payment_id } : {}),
    }));
    return { items: page, nextCursor: rows.length > limit ? page[page.length - 1].transactionId : undefined };
  }

  /**
   * The saga's debit: records the payment (PENDING) and takes the reservation's price from the
   * wallet, once per payment id. The amount is the price in the database, never a caller's figure.
   * Refused for balance: nothing is debited and the payment is FAILED.
   */
  async debitForPayment(p: { paymentId: string; userId: string; reservationId: string }): Promise<{ amount: number; balance: number }> {
    const outcome = await inTransaction(this.db, async (tx) => {
      const balance = await this.lockWallet(tx, p.userId);
      const done: Array<{ amount: string; balance_after: string }> = await tx.query(
        'SELECT amount, balance_after FROM wallet_transactions WHERE idempotency_key = $1',
        [debitKey(p.paymentId)],
      );
      if (done.length) return { amount: Number(done[0].amount), balance: Number(done[0].balance_after) };

      // A payment the saga already gave up (refunded, or refused for balance) never takes money later,
      // even if a slow earlier attempt of this debit reaches the database after the compensation.
      const given: Array<{ status: string }> = await tx.query('SELECT status FROM payments WHERE id = $1', [p.paymentId]);
      if (given[0]?.status === 'FAILED') throw new DomainError('RESERVATION_NOT_PAYABLE', 'this payment was already given up');
      const reservation: Array<{ price: string; user_id: string }> = await tx.query(
        'SELECT price, user_id FROM reservations WHERE id = $1',
        [p.reservationId],
      );
      if (!reservation.length || reservation[0].user_id !== p.userId) throw new DomainError('NOT_FOUND', 'no such reservation of this user');
      const amount = Number(reservation[0].price);
      await tx.query(
        `INSERT INTO payments (id, user_id, reservation_id, amount, status) VALUES ($1, $2, $3, $4, 'PENDING')
         ON CONFLICT (id) DO NOTHING`,
        [p.paymentId, p.userId, p.reservationId, amount],
      );
      if (balance < amount) {
        await tx.query(`UPDATE payments SET status = 'FAILED', failure_code = 'INSUFFICIENT_BALANCE', updated_at = now() WHERE id = $1`, [p.paymentId]);
        return { insufficient: true as const, amount, balance };
      }
      const after = balance - amount;
      await tx.query('UPDATE wallets SET balance = $2, updated_at = now() WHERE user_id = $1', [p.userId, after]);
      await tx.query(
        `INSERT INTO wallet_transactions (user_id, type, amount, balance_after, payment_id, idempotency_key)
         VALUES ($1, 'PAYMENT', $2, $3, $4, $5)`,
        [p.userId, amount, after, p.paymentId, debitKey(p.paymentId)],
      );
      return { amount, balance: after };
    });
    if ('insufficient' in outcome) {
      throw new DomainError('INSUFFICIENT_BALANCE', `the balance ${outcome.balance} does not cover ${outcome.amount}`);
    }
    return outcome;
  }

  /**
   * The saga's compensation: gives back what `debitForPayment` took, once per payment id, and marks
   * the payment FAILED. A payment that did complete is never refunded.
   */
  async refundPayment(p: { paymentId: string; userId: string; reservationId: string }): Promise<RefundOutcome> {
    return inTransaction(this.db, async (tx) => {
      // Same lock order as the debit (wallet, then payment): the two never deadlock.
      const balance = await this.lockWallet(tx, p.userId);
      const payment: Array<{ status: string }> = await tx.query('SELECT status FROM payments WHERE id = $1 FOR UPDATE', [p.paymentId]);
      if (payment[0]?.status === 'COMPLETED') return 'ALREADY_COMPLETED';
      const entries: Array<{ idempotency_key: string; amount: string }> = await tx.query(
        'SELECT idempotency_key, amount FROM wallet_transactions WHERE idempotency_key = ANY($1)',
        [[debitKey(p.paymentId), refundKey(p.paymentId)]],
      );
      const debit = entries.find((e) => e.idempotency_key === debitKey(p.paymentId));
      const refunded = entries.some((e) => e.idempotency_key === refundKey(p.paymentId));
      if (payment.length) {
        await tx.query(
          `UPDATE payments SET status = 'FAILED', failure_code = COALESCE(failure_code, 'SAGA_COMPENSATED'), updated_at = now()
           WHERE id = $1 AND status <> 'FAILED'`,
          [p.paymentId],
        );
      } else {
        // The debit never got as far as recording the payment: record it as given up, so that a late
        // attempt of that debit is refused instead of taking money nobody would give back.
        await tx.query(
          `INSERT INTO payments (id, user_id, reservation_id, amount, status, failure_code)
           SELECT $1, $2, id, price, 'FAILED', 'SAGA_COMPENSATED' FROM reservations WHERE id = $3`,
          [p.paymentId, p.userId, p.reservationId],
        );
      }
      if (!debit) return 'NOTHING_DEBITED';
      if (refunded) return 'REFUNDED';
      const amount = Number(debit.amount);
      await tx.query('UPDATE wallets SET balance = $2, updated_at = now() WHERE user_id = $1', [p.userId, balance + amount]);
      await tx.query(
        `INSERT INTO wallet_transactions (user_id, type, amount, balance_after, payment_id, idempotency_key)
         VALUES ($1, 'REFUND', $2, $3, $4, $5)`,
        [p.userId, amount, balance + amount, p.paymentId, refundKey(p.paymentId)],
      );
      return 'REFUNDED';
    });
  }

  /**
   * What became of a payment, from the database alone: a retried `POST /payments` answers the receipt
   * of a payment that completed even after its journey ended. `balance` is the balance right after
   * its debit, as the first answer said.
   */
  async paymentOutcome(paymentId: string): Promise<
    | { status: 'COMPLETED'; paymentId: string; reservationId: string; amount: number; balance: number }
    | { status: 'PENDING' | 'FAILED'; failureCode: string | null }
    | null
  > {
    const rows: Array<{ status: 'PENDING' | 'COMPLETED' | 'FAILED'; failure_code: string | null; reservation_id: string; amount: string; balance_after: string | null }> =
      await this.db.query(
        `SELECT p.status, p.failure_code, p.reservation_id, p.amount, t.balance_after
         FROM payments p LEFT JOIN wallet_transactions t ON t.idempotency_key = $2
         WHERE p.id = $1`,
        [paymentId, debitKey(paymentId)],
      );
    if (!rows.length) return null;
    const [row] = rows;
    if (row.status !== 'COMPLETED') return { status: row.status, failureCode: row.failure_code };
    return { status: 'COMPLETED', paymentId, reservationId: row.reservation_id, amount: Number(row.amount), balance: Number(row.balance_after) };
  }

  /** The wallet row under `FOR UPDATE`: every money movement of one user is serialized on it. */
  private async lockWallet(tx: EntityManager, userId: string): Promise<number> {
    const rows: Array<{ balance: string }> = await tx.query('SELECT balance FROM wallets WHERE user_id = $1 FOR UPDATE', [userId]);
    if (!rows.length) throw new DomainError('NOT_FOUND', 'no wallet for this user');
    return Number(rows[0].balance);
  }
}
