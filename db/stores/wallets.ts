import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { DomainError } from '../../lib/domain-error';
import { isUniqueViolation } from '../pg-errors';
import { rows } from '../sql';
import { fastPath, inTransaction } from '../transaction';
import { WalletCharges, type Charged } from './wallet-charges';
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

/**
 * An order the payment saga pays: its id is the request's payment id; `reservationId` is its first
 * seat, `reservationIds` all of them when there are several (a one-seat order leaves it out, as
 * before orders existed).
 */
export interface OrderRef {
  paymentId: string;
  userId: string;
  reservationId: string;
  reservationIds?: string[];
}

/**
 * The payment row of each seat of an order. The first seat's payment id is the order's own, so a
 * one-seat order is exactly the payment of before; each other seat's is derived from (order, seat),
 * so every retry of the debit or the refund names the same rows.
 */
export function orderSeats(p: Pick<OrderRef, 'paymentId' | 'reservationId' | 'reservationIds'>): Array<{ reservationId: string; paymentId: string }> {
  const reservationIds = p.reservationIds?.length ? p.reservationIds : [p.reservationId];
  return reservationIds.map((reservationId, i) => ({ reservationId, paymentId: i === 0 ? p.paymentId : derivedUuid(`${p.paymentId}\n${reservationId}`) }));
}

/** A name-based UUID (MD5, RFC 9562 version 3 layout): the same name always gives the same id. */
function derivedUuid(name: string): string {
  const bytes = createHash('md5').update(name, 'utf8').digest();
  bytes[6] = (bytes[6] & 0x0f) | 0x30;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The payments of order `$1`: its seats' rows (and the lone row of a payment recorded before orders). */
export const OF_ORDER = '(id = $1 OR order_id = $1)';

/** An order that completed, as its receipt says it. */
export interface CompletedPayment {
  status: 'COMPLETED';
  paymentId: string;
  reservationId: string;
  reservationIds: string[];
  amount: number;
  balance: number;
}

/** What became of an order (`WalletStore.paymentOutcome`). */
export type PaymentOutcome = CompletedPayment | { status: 'PENDING' | 'FAILED'; failureCode: string | null };

export const debitKey = (paymentId: string) => `payment:${paymentId}:debit`;
export const refundKey = (paymentId: string) => `payment:${paymentId}:refund`;
/** A wallet charge's ledger key: the user's `Idempotency-Key` of `POST /wallet/charges`. */
export const chargeKey = (userId: string, requestKey: string) => `charge:${userId}:${requestKey}`;

/** Money given back to a wallet: one REFUND ledger entry under its unique key. */
export interface RefundCredit {
  userId: string;
  amount: number;
  paymentId: string;
  key: string;
}

/**
 * Every refund's money movement, the saga's compensation and the tickets' refunds alike: credits each
 * wallet the sum of its refunds and writes one REFUND ledger entry per refund, in the given order,
 * whose `balance_after` is that wallet's running balance, in one statement. The caller has locked the
 * wallets already (before the payments: the order every money movement takes them in) and decided
 * what is due; a refund of nothing writes no entry. A refund already in the ledger fails the statement
 * on its unique key and with it the caller's transaction: nothing is ever given back twice.
 */
export async function creditRefunds(tx: EntityManager, refunds: RefundCredit[]): Promise<void> {
  const due = refunds.filter((r) => r.amount > 0);
  if (!due.length) return;
  await tx.query(
    `WITH refund AS (
       SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[]) WITH ORDINALITY AS t(user_id, amount, payment_id, key, n)
     ), credited AS (
       UPDATE wallets w SET balance = w.balance + t.total, updated_at = now()
       FROM (SELECT user_id, sum(amount) AS total FROM refund GROUP BY user_id) t
       WHERE w.user_id = t.user_id
       RETURNING w.user_id, w.balance - t.total AS before
     )
     INSERT INTO wallet_transactions (user_id, type, amount, balance_after, payment_id, idempotency_key)
     SELECT r.user_id, 'REFUND', r.amount, c.before + sum(r.amount) OVER (PARTITION BY r.user_id ORDER BY r.n), r.payment_id, r.key
     FROM refund r JOIN credited c ON c.user_id = r.user_id
     ORDER BY r.n`,
    [due.map((r) => r.userId), due.map((r) => r.amount), due.map((r) => r.paymentId), due.map((r) => r.key)],
  );
}

/**
 * The prepaid wallet and its ledger. Every balance change writes its ledger row in the same
 * transaction; the schema's CHECK keeps the balance non-negative; money for a payment moves under
 * the wallet's row lock with the ledger's unique idempotency key, so a retry changes nothing twice.
 */
export class WalletStore {
  private readonly charges: WalletCharges;

  constructor(private readonly db: DataSource) {
    this.charges = new WalletCharges((name, text, values) => this.prepared(name, text, values));
  }

  async balance(userId: string): Promise<number | null> {
    const rows: Array<{ balance: string }> = await this.db.query('SELECT balance FROM wallets WHERE user_id = $1', [userId]);
    return rows.length ? Number(rows[0].balance) : null;
  }

  /**
   * Credits the wallet and writes its ledger row in one autocommit statement (`WalletCharges`: the
   * charges of one wallet that arrive together share one), so the wallet's row lock is held for that
   * statement and its commit, never across a round trip. With a request key the ledger row carries
   * `charge:<userId>:<key>` under the ledger's unique constraint, so the same charge lands once
   * however often it is retried: a repeat credits nothing and answers the first charge's row.
   */
  charge(userId: string, amount: number, requestKey?: string): Promise<Charged> {
    return this.charges.charge(userId, amount, requestKey === undefined ? null : chargeKey(userId, requestKey));
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
   * The saga's debit of an order: records a PENDING payment per seat (`orderSeats`) and takes the
   * seats' total from the wallet in one ledger entry naming them, once per order id. The amounts are
   * the prices in the database, never a caller's figure. Refused for balance: nothing is debited and
   * the order's payments are FAILED.
   */
  async debitForPayment(p: OrderRef): Promise<{ amount: number; balance: number }> {
    const seats = orderSeats(p);
    // A duplicate there is a concurrent attempt of this order that got there first.
    const covered = await fastPath(this.debitCovered(p, seats), isUniqueViolation);
    if (covered) return covered;
    const outcome = await inTransaction(this.db, (tx) => this.debitIn(tx, p, seats));
    if ('insufficient' in outcome) {
      throw new DomainError('INSUFFICIENT_BALANCE', `the balance ${outcome.balance} does not cover ${outcome.amount}`);
    }
    return outcome;
  }

  /**
   * The debit's transaction: everything `debitForPayment` tells apart (a retry, an order given up,
   * seats not the user's, a balance short of the total), in the caller's transaction (the sale's own
   * in `SaleStore`). A balance short of the total records the order's payments FAILED and answers
   * `insufficient` (the caller commits that, then refuses).
   */
  async debitIn(tx: EntityManager, p: OrderRef, seats: ReturnType<typeof orderSeats>): Promise<{ amount: number; balance: number } | { insufficient: true; amount: number; balance: number }> {
    const balance = await this.lockWallet(tx, p.userId);
    const done: Array<{ amount: string; balance_after: string }> = await tx.query(
      'SELECT amount, balance_after FROM wallet_transactions WHERE idempotency_key = $1',
      [debitKey(p.paymentId)],
    );
    if (done.length) return { amount: Number(done[0].amount), balance: Number(done[0].balance_after) };

    // An order the saga already gave up (refunded, or refused for balance) never takes money later,
    // even if a slow earlier attempt of this debit reaches the database after the compensation.
    const given: Array<{ status: string }> = await tx.query(`SELECT status FROM payments WHERE ${OF_ORDER} AND status = 'FAILED' LIMIT 1`, [p.paymentId]);
    if (given.length) throw new DomainError('RESERVATION_NOT_PAYABLE', 'this payment was already given up');
    const reservations: Array<{ id: string; price: string }> = await tx.query(
      'SELECT id, price FROM reservations WHERE id = ANY($1::uuid[]) AND user_id = $2',
      [seats.map((seat) => seat.reservationId), p.userId],
    );
    if (reservations.length !== seats.length) throw new DomainError('NOT_FOUND', 'no such reservation of this user');
    const price = new Map(reservations.map((r) => [r.id, Number(r.price)]));
    const amount = seats.reduce((total, seat) => total + price.get(seat.reservationId)!, 0);
    await tx.query(
      `INSERT INTO payments (id, user_id, reservation_id, amount, status, order_id)
       SELECT seat.id, $2, seat.reservation_id, seat.amount, 'PENDING', $1
       FROM unnest($3::uuid[], $4::uuid[], $5::bigint[]) AS seat (id, reservation_id, amount)
       ON CONFLICT (id) DO NOTHING`,
      [p.paymentId, p.userId, seats.map((seat) => seat.paymentId), seats.map((seat) => seat.reservationId), seats.map((seat) => price.get(seat.reservationId)!)],
    );
    if (balance < amount) {
      await tx.query(`UPDATE payments SET status = 'FAILED', failure_code = 'INSUFFICIENT_BALANCE', updated_at = now() WHERE ${OF_ORDER}`, [p.paymentId]);
      return { insufficient: true as const, amount, balance };
    }
    const after = balance - amount;
    await tx.query('UPDATE wallets SET balance = $2, updated_at = now() WHERE user_id = $1', [p.userId, after]);
    await tx.query(
      `INSERT INTO wallet_transactions (user_id, type, amount, balance_after, payment_id, idempotency_key, reservation_ids)
       VALUES ($1, 'PAYMENT', $2, $3, $4, $5, $6::uuid[])`,
      [p.userId, amount, after, p.paymentId, debitKey(p.paymentId), seats.map((seat) => seat.reservationId)],
    );
    return { amount, balance: after };
  }

  /**
   * The first attempt of a debit the wallet covers, the rush's common case, in one statement: one
   * round trip instead of the nine of the transaction. It takes nothing, and answers null, unless the
   * user owns every seat, no payment of the order was recorded yet (given up, or a retry's), and the
   * balance covers the total; the transaction then tells those cases apart. The wallet's row lock is
   * the UPDATE's, taken first as in the transaction; a concurrent attempt of the same order that got
   * there first fails this statement on the ledger's or the payments' unique key, and then the
   * transaction answers its outcome.
   */
  async debitCovered(p: OrderRef, seats: ReturnType<typeof orderSeats>): Promise<{ amount: number; balance: number } | null> {
    const debited = await rows<{ amount: string; balance_after: string }>(
      this.db,
      `WITH priced AS (
         SELECT r.id, r.price FROM reservations r WHERE r.id = ANY($4::uuid[]) AND r.user_id = $2
       ), total AS (
         SELECT sum(price) AS amount FROM priced HAVING count(*) = cardinality($4::uuid[])
       ), debited AS (
         UPDATE wallets w SET balance = w.balance - total.amount, updated_at = now()
         FROM total
         WHERE w.user_id = $2 AND w.balance >= total.amount
           AND NOT EXISTS (SELECT 1 FROM payments WHERE ${OF_ORDER})
         RETURNING total.amount, w.balance
       ), recorded AS (
         INSERT INTO payments (id, user_id, reservation_id, amount, status, order_id)
         SELECT seat.id, $2, seat.reservation_id, priced.price, 'PENDING', $1
         FROM debited, unnest($3::uuid[], $4::uuid[]) AS seat (id, reservation_id) JOIN priced ON priced.id = seat.reservation_id
       )
       INSERT INTO wallet_transactions (user_id, type, amount, balance_after, payment_id, idempotency_key, reservation_ids)
       SELECT $2, 'PAYMENT', debited.amount, debited.balance, $1, $5, $4::uuid[] FROM debited
       RETURNING amount, balance_after`,
      [p.paymentId, p.userId, seats.map((seat) => seat.paymentId), seats.map((seat) => seat.reservationId), debitKey(p.paymentId)],
    );
    return debited.length ? { amount: Number(debited[0].amount), balance: Number(debited[0].balance_after) } : null;
  }

  /**
   * The saga's compensation: gives back what `debitForPayment` took, once per order id, and marks
   * the order's payments FAILED. An order that did complete is never refunded.
   */
  async refundPayment(p: OrderRef): Promise<RefundOutcome> {
    return inTransaction(this.db, async (tx) => {
      // Same lock order as the debit (wallet, then payments in id order, as the sale takes them): never a deadlock.
      await this.lockWallet(tx, p.userId);
      const payments: Array<{ status: string }> = await tx.query(`SELECT status FROM payments WHERE ${OF_ORDER} ORDER BY id FOR UPDATE`, [p.paymentId]);
      if (payments.some((payment) => payment.status === 'COMPLETED')) return 'ALREADY_COMPLETED';
      const entries: Array<{ idempotency_key: string; amount: string }> = await tx.query(
        'SELECT idempotency_key, amount FROM wallet_transactions WHERE idempotency_key = ANY($1)',
        [[debitKey(p.paymentId), refundKey(p.paymentId)]],
      );
      const debit = entries.find((e) => e.idempotency_key === debitKey(p.paymentId));
      const refunded = entries.some((e) => e.idempotency_key === refundKey(p.paymentId));
      if (payments.length) {
        await tx.query(
          `UPDATE payments SET status = 'FAILED', failure_code = COALESCE(failure_code, 'SAGA_COMPENSATED'), updated_at = now()
           WHERE ${OF_ORDER} AND status <> 'FAILED'`,
          [p.paymentId],
        );
      } else {
        // The debit never got as far as recording the payments: record them as given up, so that a
        // late attempt of that debit is refused instead of taking money nobody would give back.
        const seats = orderSeats(p);
        await tx.query(
          `INSERT INTO payments (id, user_id, reservation_id, amount, status, failure_code, order_id)
           SELECT seat.id, $2, r.id, r.price, 'FAILED', 'SAGA_COMPENSATED', $1
           FROM unnest($3::uuid[], $4::uuid[]) AS seat (id, reservation_id) JOIN reservations r ON r.id = seat.reservation_id`,
          [p.paymentId, p.userId, seats.map((seat) => seat.paymentId), seats.map((seat) => seat.reservationId)],
        );
      }
      if (!debit) return 'NOTHING_DEBITED';
      if (refunded) return 'REFUNDED';
      await creditRefunds(tx, [{ userId: p.userId, amount: Number(debit.amount), paymentId: p.paymentId, key: refundKey(p.paymentId) }]);
      return 'REFUNDED';
    });
  }

  /**
   * What became of an order, from the database alone: a retried `POST /payments` answers the receipt
   * of an order that completed even after its journey ended. `balance` is the balance right after
   * its debit, as the first answer said; the seats come in the order the request named them.
   */
  async paymentOutcome(paymentId: string): Promise<PaymentOutcome | null> {
    const rows: Array<{
      status: 'PENDING' | 'COMPLETED' | 'FAILED';
      failure_code: string | null;
      reservation_id: string;
      amount: string;
      debited: string | null;
      balance_after: string | null;
      reservation_ids: string[] | null;
    }> = await this.db.query(
      `SELECT p.status, p.failure_code, p.reservation_id, p.amount, t.amount AS debited, t.balance_after, t.reservation_ids
       FROM payments p LEFT JOIN wallet_transactions t ON t.idempotency_key = $2
       WHERE p.id = $1`,
      [paymentId, debitKey(paymentId)],
    );
    if (!rows.length) return null;
    const [row] = rows;
    if (row.status !== 'COMPLETED') return { status: row.status, failureCode: row.failure_code };
    return {
      status: 'COMPLETED',
      paymentId,
      reservationId: row.reservation_id,
      reservationIds: row.reservation_ids ?? [row.reservation_id],
      amount: Number(row.debited ?? row.amount),
      balance: Number(row.balance_after),
    };
  }

  /**
   * A statement the hot paths run thousands of times a second, named: node-postgres parses and plans
   * it once per pooled connection instead of on every call: for a short statement on a hot row, parsing
   * and planning are a large share of PostgreSQL's CPU.
   */
  private async prepared<T>(name: string, text: string, values: unknown[]): Promise<T[]> {
    const pool = (this.db.driver as PostgresDriver).master as Pool;
    return (await pool.query({ name, text, values })).rows as T[];
  }

  /** The wallet row under `FOR UPDATE`: every money movement of one user is serialized on it. */
  private async lockWallet(tx: EntityManager, userId: string): Promise<number> {
    const rows: Array<{ balance: string }> = await tx.query('SELECT balance FROM wallets WHERE user_id = $1 FOR UPDATE', [userId]);
    if (!rows.length) throw new DomainError('NOT_FOUND', 'no wallet for this user');
    return Number(rows[0].balance);
  }
}
