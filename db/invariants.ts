import type { DataSource } from 'typeorm';

interface Check {
  name: string;
  sql: string;
}

/**
 * DESIGN.md's invariants as queries over a live database. Each returns the rows that violate it;
 * an empty result everywhere means the books balance and no seat is sold twice.
 */
const CHECKS: Check[] = [
  {
    name: 'a seat has at most one live (HELD or CONFIRMED) reservation',
    sql: `SELECT seat_id, count(*) AS live FROM reservations WHERE status IN ('HELD', 'CONFIRMED') GROUP BY seat_id HAVING count(*) > 1`,
  },
  {
    name: 'a SOLD seat belongs to exactly its CONFIRMED reservation',
    sql: `SELECT s.id FROM seats s LEFT JOIN reservations r ON r.id = s.reservation_id
          WHERE s.status = 'SOLD' AND (r.id IS NULL OR r.status <> 'CONFIRMED' OR r.seat_id <> s.id)`,
  },
  {
    name: 'a CONFIRMED reservation owns a SOLD seat',
    sql: `SELECT r.id FROM reservations r JOIN seats s ON s.id = r.seat_id
          WHERE r.status = 'CONFIRMED' AND (s.status <> 'SOLD' OR s.reservation_id <> r.id)`,
  },
  {
    name: 'a HELD seat is held by a HELD reservation with the same deadline',
    sql: `SELECT s.id FROM seats s LEFT JOIN reservations r ON r.id = s.reservation_id
          WHERE s.status = 'HELD' AND (r.id IS NULL OR r.status <> 'HELD' OR r.held_until <> s.held_until)`,
  },
  {
    name: 'a wallet balance is never negative and equals the sum of its ledger',
    sql: `SELECT w.user_id, w.balance, COALESCE(l.total, 0) AS ledger FROM wallets w
          LEFT JOIN (
            SELECT user_id, sum(CASE type WHEN 'PAYMENT' THEN -amount ELSE amount END) AS total
            FROM wallet_transactions GROUP BY user_id
          ) l ON l.user_id = w.user_id
          WHERE w.balance < 0 OR w.balance <> COALESCE(l.total, 0)`,
  },
  // A payment row is one seat; its order (`COALESCE(order_id, id)`: rows from before orders are
  // orders of one) owns the saga's ledger entries, keyed by the order's id.
  {
    name: 'every COMPLETED payment has exactly one PAYMENT ledger entry (its order’s) and no saga refund',
    sql: `SELECT p.id FROM payments p
          WHERE p.status = 'COMPLETED' AND (
            (SELECT count(*) FROM wallet_transactions t WHERE t.payment_id = COALESCE(p.order_id, p.id) AND t.type = 'PAYMENT') <> 1 OR
            (SELECT count(*) FROM wallet_transactions t WHERE t.idempotency_key = 'payment:' || COALESCE(p.order_id, p.id) || ':refund') <> 0)`,
  },
  {
    name: 'every FAILED payment whose order debited has exactly one REFUND',
    sql: `SELECT p.id FROM payments p
          WHERE p.status = 'FAILED'
            AND (SELECT count(*) FROM wallet_transactions t WHERE t.payment_id = COALESCE(p.order_id, p.id) AND t.type = 'PAYMENT') <>
                (SELECT count(*) FROM wallet_transactions t WHERE t.idempotency_key = 'payment:' || COALESCE(p.order_id, p.id) || ':refund')`,
  },
  {
    name: 'no payment stays PENDING with money taken for more than 10 minutes (a stuck saga)',
    sql: `SELECT p.id FROM payments p
          WHERE p.status = 'PENDING' AND p.updated_at < now() - interval '10 minutes'
            AND EXISTS (SELECT 1 FROM wallet_transactions t WHERE t.payment_id = COALESCE(p.order_id, p.id) AND t.type = 'PAYMENT')`,
  },
  // --- Orders of several seats (issue 21) ---
  {
    name: 'an order is all or nothing: its seats’ payments are all given up or none is',
    sql: `SELECT COALESCE(order_id, id) AS order_id FROM payments GROUP BY 1
          HAVING count(*) FILTER (WHERE status = 'FAILED') NOT IN (0, count(*))`,
  },
  {
    name: 'money out = seats sold × price, per order: the debit is the sum of its seats’ prices and names exactly its seats',
    sql: `SELECT o.order_id, t.amount, o.total FROM (
            SELECT COALESCE(p.order_id, p.id) AS order_id, sum(r.price) AS total, sum(p.amount) AS recorded,
                   array_agg(p.reservation_id ORDER BY p.reservation_id) AS seats
            FROM payments p JOIN reservations r ON r.id = p.reservation_id GROUP BY 1
          ) o JOIN wallet_transactions t ON t.payment_id = o.order_id AND t.type = 'PAYMENT'
          WHERE t.amount <> o.total OR o.recorded <> o.total
             OR (t.reservation_ids IS NOT NULL AND (SELECT array_agg(x ORDER BY x) FROM unnest(t.reservation_ids) x) <> o.seats)`,
  },
  {
    name: 'a sold seat was paid by its own order: a CONFIRMED reservation names a payment of it, COMPLETED or refunded',
    sql: `SELECT r.id FROM reservations r LEFT JOIN payments p ON p.id = r.payment_id
          WHERE r.status = 'CONFIRMED' AND (p.id IS NULL OR p.reservation_id <> r.id OR p.status NOT IN ('COMPLETED'))`,
  },
  {
    // Past its deadline + grace a hold is bookable anyway; its journey's timer converges the row. One
    // left HELD for long means a journey that can no longer run (stuck on a failing task, or lost).
    name: 'no hold stays HELD 10 minutes past its deadline (its journey never released it)',
    sql: `SELECT id, journey_id FROM reservations WHERE status = 'HELD' AND held_until < now() - interval '10 minutes'`,
  },
  {
    name: 'a reservation has at most one COMPLETED payment',
    sql: `SELECT reservation_id FROM payments WHERE status = 'COMPLETED' GROUP BY reservation_id HAVING count(*) > 1`,
  },
  {
    // Issue 20: a charge's request key is the ledger's unique key, scoped to its user (charge:<user>:<key>).
    name: 'a keyed wallet charge carries its own user in its ledger key',
    sql: `SELECT id, user_id FROM wallet_transactions
          WHERE type = 'CHARGE' AND idempotency_key IS NOT NULL AND left(idempotency_key, 44) <> 'charge:' || user_id::text || ':'`,
  },
  {
    // Issue 20: the receipt a payment's Idempotency-Key replays for good is a payment that did complete.
    name: 'an idempotency record answered 201 for a payment names a COMPLETED payment',
    sql: `SELECT i.user_id, i.key FROM idempotency_records i
          LEFT JOIN payments p ON p.id::text = i.response_body->>'paymentId'
          WHERE i.endpoint = 'POST /payments' AND i.status_code = 201 AND (p.id IS NULL OR p.status <> 'COMPLETED')`,
  },
  // --- After the sale (issue 22) ---
  {
    name: 'a ticket is refunded at most once and never more than was paid',
    sql: `SELECT p.id, p.amount, p.refunded_amount, l.refunds, l.total FROM payments p
          LEFT JOIN (
            SELECT payment_id, count(*) AS refunds, sum(amount) AS total FROM wallet_transactions
            WHERE type = 'REFUND' AND idempotency_key LIKE 'ticket:%' GROUP BY payment_id
          ) l ON l.payment_id = p.id
          WHERE (p.status IN ('REFUNDED', 'PARTIALLY_REFUNDED') AND (
                   p.refunded_amount > p.amount
                   OR COALESCE(l.total, 0) <> p.refunded_amount
                   OR COALESCE(l.refunds, 0) <> (CASE WHEN p.refunded_amount > 0 THEN 1 ELSE 0 END)
                   OR (SELECT count(*) FROM wallet_transactions t WHERE t.payment_id = COALESCE(p.order_id, p.id) AND t.type = 'PAYMENT') <> 1
                   OR (SELECT count(*) FROM reservations r WHERE r.id = p.reservation_id AND r.status = 'CANCELLED') <> 1))
             OR (p.status NOT IN ('REFUNDED', 'PARTIALLY_REFUNDED') AND l.refunds IS NOT NULL)`,
  },
  {
    name: 'money in equals money out plus what stays in wallets',
    sql: `SELECT charged, kept, in_wallets FROM (
            SELECT COALESCE(sum(amount) FILTER (WHERE type = 'CHARGE'), 0) AS charged,
                   COALESCE(sum(amount) FILTER (WHERE type = 'PAYMENT'), 0) - COALESCE(sum(amount) FILTER (WHERE type = 'REFUND'), 0) AS kept,
                   (SELECT COALESCE(sum(balance), 0) FROM wallets) AS in_wallets
            FROM wallet_transactions
          ) books WHERE charged <> kept + in_wallets`,
  },
  {
    name: 'a seat whose ticket was cancelled is bookable again (no seat stays with a refunded reservation)',
    sql: `SELECT s.id, s.status, p.reservation_id FROM payments p JOIN seats s ON s.reservation_id = p.reservation_id
          WHERE p.status IN ('REFUNDED', 'PARTIALLY_REFUNDED')`,
  },
];

export interface Violation {
  invariant: string;
  rows: unknown[];
}

export async function findViolations(db: DataSource): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const check of CHECKS) {
    const rows: unknown[] = await db.query(check.sql);
    if (rows.length) violations.push({ invariant: check.name, rows: rows.slice(0, 20) });
  }
  return violations;
}
