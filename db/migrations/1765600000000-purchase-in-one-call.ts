import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The common case of a purchase (SaleStore.purchase, db/stores/sales.ts) as one function: a first
 * attempt of an order whose seats are all still held by the buyer and whose wallet covers it debits
 * the total, records the payments COMPLETED and the ledger's PAYMENT, and sells the seats, in one
 * round trip instead of the four of a transaction around two statements (issue 25: each round trip
 * between the worker and PostgreSQL costs both processes CPU). The wallet's row lock comes first, as
 * in every money path: the order's payments are then only looked for (the transaction and the
 * give-up that would record them take that lock first too), and its seats are locked after. It
 * returns no row, having changed nothing, in any other case: the caller's transaction tells those
 * cases apart.
 */
export class PurchaseInOneCall1765600000000 implements MigrationInterface {
  name = 'PurchaseInOneCall1765600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION purchase_whole(p_order uuid, p_user uuid, p_payments uuid[], p_reservations uuid[], p_debit_key varchar)
      RETURNS TABLE (amount bigint, balance_after bigint) LANGUAGE plpgsql AS $$
      DECLARE
        v_balance bigint;
        v_amount bigint;
        v_held int;
      BEGIN
        SELECT w.balance INTO v_balance FROM wallets w WHERE w.user_id = p_user FOR UPDATE;
        IF NOT FOUND THEN
          RETURN;
        END IF;
        -- A payment of this order already recorded: a retry, or an order given up.
        PERFORM 1 FROM payments p WHERE p.id = p_order OR p.order_id = p_order;
        IF FOUND THEN
          RETURN;
        END IF;
        SELECT count(*), sum(held.price) INTO v_held, v_amount FROM (
          SELECT r.price FROM reservations r
          WHERE r.id = ANY(p_reservations) AND r.user_id = p_user AND r.status = 'HELD'
          ORDER BY r.id FOR UPDATE
        ) held;
        IF v_held <> cardinality(p_reservations) OR v_balance < v_amount THEN
          RETURN;
        END IF;
        UPDATE wallets SET balance = v_balance - v_amount, updated_at = now() WHERE user_id = p_user;
        INSERT INTO payments (id, user_id, reservation_id, amount, status, order_id)
        SELECT seat.id, p_user, seat.reservation_id, r.price, 'COMPLETED', p_order
        FROM unnest(p_payments, p_reservations) AS seat (id, reservation_id) JOIN reservations r ON r.id = seat.reservation_id;
        UPDATE reservations r SET status = 'CONFIRMED', payment_id = seat.id, updated_at = now()
        FROM unnest(p_payments, p_reservations) AS seat (id, reservation_id)
        WHERE r.id = seat.reservation_id;
        UPDATE seats s SET status = 'SOLD', held_until = NULL
        FROM reservations r
        WHERE r.id = ANY(p_reservations) AND s.id = r.seat_id AND s.reservation_id = r.id;
        INSERT INTO wallet_transactions (user_id, type, amount, balance_after, payment_id, idempotency_key, reservation_ids)
        VALUES (p_user, 'PAYMENT', v_amount, v_balance - v_amount, p_order, p_debit_key, p_reservations);
        RETURN QUERY SELECT v_amount, v_balance - v_amount;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP FUNCTION IF EXISTS purchase_whole(uuid, uuid, uuid[], uuid[], varchar)');
  }
}
