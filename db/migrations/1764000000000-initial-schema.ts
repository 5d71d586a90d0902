import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole domain of DESIGN.md with its invariants held by the schema itself: balances never go
 * negative, a ledger key lands once, a seat number exists once per schedule, a seat has at most one
 * live (HELD or CONFIRMED) reservation, and a reservation at most one COMPLETED payment.
 */
export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        name varchar(100) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE wallets (
        user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        balance bigint NOT NULL DEFAULT 0 CONSTRAINT wallet_balance_not_negative CHECK (balance >= 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE wallet_transactions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES wallets(user_id) ON DELETE CASCADE,
        type varchar(10) NOT NULL CHECK (type IN ('CHARGE', 'PAYMENT', 'REFUND')),
        amount bigint NOT NULL CHECK (amount > 0),
        balance_after bigint NOT NULL CHECK (balance_after >= 0),
        payment_id uuid,
        idempotency_key varchar(200) CONSTRAINT wallet_transactions_idempotency_key_unique UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX wallet_transactions_user_newest ON wallet_transactions (user_id, id DESC)`);

    await db.query(`
      CREATE TABLE concerts (
        id uuid PRIMARY KEY,
        title varchar(200) NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE concert_schedules (
        id uuid PRIMARY KEY,
        concert_id uuid NOT NULL REFERENCES concerts(id) ON DELETE CASCADE,
        starts_at timestamptz NOT NULL,
        booking_opens_at timestamptz NOT NULL,
        booking_closes_at timestamptz NOT NULL,
        total_seats int NOT NULL CHECK (total_seats > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK (booking_opens_at < booking_closes_at)
      )`);
    await db.query(`CREATE INDEX concert_schedules_concert ON concert_schedules (concert_id, starts_at)`);

    await db.query(`
      CREATE TABLE seats (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        schedule_id uuid NOT NULL REFERENCES concert_schedules(id) ON DELETE CASCADE,
        number int NOT NULL CHECK (number >= 1),
        price bigint NOT NULL CHECK (price >= 0),
        status varchar(10) NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'SOLD')),
        held_until timestamptz,
        reservation_id uuid,
        CONSTRAINT seats_number_unique_per_schedule UNIQUE (schedule_id, number),
        CHECK ((status = 'AVAILABLE') = (reservation_id IS NULL)),
        CHECK (status <> 'HELD' OR held_until IS NOT NULL)
      )`);

    await db.query(`
      CREATE TABLE reservations (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        concert_id uuid NOT NULL REFERENCES concerts(id) ON DELETE CASCADE,
        schedule_id uuid NOT NULL REFERENCES concert_schedules(id) ON DELETE CASCADE,
        seat_id bigint NOT NULL REFERENCES seats(id) ON DELETE CASCADE,
        seat_number int NOT NULL,
        price bigint NOT NULL CHECK (price >= 0),
        status varchar(10) NOT NULL CHECK (status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED')),
        held_until timestamptz NOT NULL,
        journey_id varchar(200) NOT NULL,
        payment_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // The database itself refuses a double booking, whatever the code above it does.
    await db.query(`
      CREATE UNIQUE INDEX reservations_one_live_per_seat ON reservations (seat_id)
      WHERE status IN ('HELD', 'CONFIRMED')`);
    await db.query(`CREATE INDEX reservations_user_newest ON reservations (user_id, created_at DESC, id DESC)`);

    await db.query(`
      CREATE TABLE payments (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        reservation_id uuid NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
        amount bigint NOT NULL CHECK (amount >= 0),
        status varchar(10) NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED')),
        failure_code varchar(40),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE UNIQUE INDEX payments_one_completed_per_reservation ON payments (reservation_id)
      WHERE status = 'COMPLETED'`);
    await db.query(`CREATE INDEX payments_user ON payments (user_id, created_at DESC)`);

    await db.query(`
      CREATE TABLE idempotency_records (
        user_id uuid NOT NULL,
        endpoint varchar(64) NOT NULL,
        key varchar(128) NOT NULL,
        request_hash char(64) NOT NULL,
        status_code int,
        response_body jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, endpoint, key)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of [
      'idempotency_records',
      'payments',
      'reservations',
      'seats',
      'concert_schedules',
      'concerts',
      'wallet_transactions',
      'wallets',
      'users',
    ]) {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
