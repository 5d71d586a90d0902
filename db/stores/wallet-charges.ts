import { DomainError } from '../../lib/domain-error';
import { isUniqueViolation } from '../pg-errors';

export interface Charged {
  transactionId: string;
  amount: number;
  balance: number;
}

/** Runs a named (prepared) statement and answers its rows. */
export type PreparedQuery = <T>(name: string, text: string, values: unknown[]) => Promise<T[]>;

interface Pending {
  amount: number;
  /** The ledger key (`chargeKey`), or null for a charge without an Idempotency-Key. */
  key: string | null;
  resolve(charged: Charged): void;
  reject(err: unknown): void;
}

/** The most charges one statement takes; the rest wait for the next. */
const MAX_BATCH = 100;

/**
 * Charges of one wallet, `$1` user, `$2` amounts, `$3` ledger keys (null: no key), in one autocommit
 * statement. The wallet's UPDATE takes the row lock (no `FOR UPDATE` before it) and credits the sum
 * of the charges whose key is not in the ledger yet; each of those gets its ledger row, in the given
 * order, recording the running balance. The statement then answers those rows and, for a key already
 * in the ledger, that first row (the UNION's second half; it cannot see this statement's inserts), so a
 * repeat credits nothing and answers the first charge. Two racing statements with one new key both
 * pass the guard; the second's insert fails on the unique key once the first commits, and rolls its
 * credits back with it. No row for a charge: there is no wallet.
 */
const CHARGES = `
  WITH asked AS (
    SELECT amount, key, n FROM unnest($2::bigint[], $3::varchar[]) WITH ORDINALITY AS a(amount, key, n)
  ), fresh AS (
    SELECT amount, key, n FROM asked
    WHERE key IS NULL OR NOT EXISTS (SELECT 1 FROM wallet_transactions t WHERE t.idempotency_key = asked.key)
  ), credited AS (
    UPDATE wallets SET balance = balance + (SELECT sum(amount) FROM fresh), updated_at = now()
    WHERE user_id = $1::uuid AND EXISTS (SELECT 1 FROM fresh)
    RETURNING balance - (SELECT sum(amount) FROM fresh) AS before
  ), entry AS (
    INSERT INTO wallet_transactions (user_id, type, amount, balance_after, idempotency_key)
    SELECT $1::uuid, 'CHARGE', f.amount, c.before + sum(f.amount) OVER (ORDER BY f.n), f.key
    FROM fresh f CROSS JOIN credited c
    ORDER BY f.n
    RETURNING id, amount, balance_after, idempotency_key
  )
  SELECT id, amount, balance_after, idempotency_key FROM entry
  UNION ALL
  SELECT t.id, t.amount, t.balance_after, t.idempotency_key FROM wallet_transactions t JOIN asked a ON t.idempotency_key = a.key`;

interface ChargeRow {
  id: string;
  amount: string;
  balance_after: string;
  idempotency_key: string | null;
}

/**
 * Credits wallets, one statement at a time per wallet in this process. A charge for a wallet with no
 * statement running goes at once, alone; the charges that arrive while it runs wait for it and then go
 * together, in arrival order, in the next one. On one busy wallet the row is then locked, written and
 * committed once for many charges instead of once each, and PostgreSQL has one statement waiting
 * for that row instead of one per connection. Each charge still gets its own ledger row, running
 * balance and answer; the batch succeeds or fails as a whole (a failure is an outage or a bug: every
 * charge in it is valid and credits never break the wallet's CHECK).
 */
export class WalletCharges {
  /** Per wallet with a statement running: the charges waiting for the next one. */
  private readonly waiting = new Map<string, Pending[]>();

  constructor(private readonly query: PreparedQuery) {}

  charge(userId: string, amount: number, key: string | null): Promise<Charged> {
    return new Promise<Charged>((resolve, reject) => {
      const pending: Pending = { amount, key, resolve, reject };
      const queue = this.waiting.get(userId);
      if (queue) {
        queue.push(pending);
        return;
      }
      this.waiting.set(userId, []);
      void this.run(userId, [pending]);
    });
  }

  private async run(userId: string, batch: Pending[]): Promise<void> {
    try {
      const answers = await this.credit(userId, batch);
      batch.forEach((pending, i) => {
        const answer = answers[i];
        if (answer) pending.resolve(answer);
        else pending.reject(new DomainError('NOT_FOUND', 'no wallet for this user'));
      });
    } catch (err) {
      for (const pending of batch) pending.reject(err);
    }
    const queue = this.waiting.get(userId)!;
    if (queue.length) void this.run(userId, queue.splice(0, MAX_BATCH));
    else this.waiting.delete(userId);
  }

  /** The batch's statement, and each charge's answer in batch order (undefined: no wallet). */
  private async credit(userId: string, batch: Pending[]): Promise<Array<Charged | undefined>> {
    // A key asked twice in one batch is one charge: both copies answer its row.
    const charges = batch.filter((p, i) => p.key === null || batch.findIndex((q) => q.key === p.key) === i);
    const values = [userId, charges.map((c) => c.amount), charges.map((c) => c.key)];
    let rows: ChargeRow[];
    try {
      rows = await this.query<ChargeRow>('wallet-charges', CHARGES, values);
    } catch (err) {
      // A key that raced another statement's first charge of it and lost: nothing was credited, and
      // running again finds that charge's row.
      if (!isUniqueViolation(err)) throw err;
      rows = await this.query<ChargeRow>('wallet-charges', CHARGES, values);
    }
    const charged = (row: ChargeRow): Charged => ({ transactionId: String(row.id), amount: Number(row.amount), balance: Number(row.balance_after) });
    const byKey = new Map(rows.filter((r) => r.idempotency_key !== null).map((r) => [r.idempotency_key, charged(r)]));
    // Rows without a key are this statement's, in batch order: each one's running balance is higher.
    const unkeyed = rows.filter((r) => r.idempotency_key === null).sort((a, b) => Number(a.balance_after) - Number(b.balance_after));
    let next = 0;
    return batch.map((p) => (p.key === null ? (unkeyed[next] ? charged(unkeyed[next++]) : undefined) : byKey.get(p.key)));
  }
}
