import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { findViolations } from '../../db/invariants';
import { sqlState } from '../../db/pg-errors';
import { HoldStore } from '../../db/stores/holds';
import { DomainError } from '../../lib/domain-error';
import type { Redis } from '../../lib/redis';
import { SeatGate } from '../../queue/seat-gate';
import {
  GRACE_SECONDS,
  codeOf,
  createOpenConcert,
  createUsers,
  deadlineIn,
  dropConcertKeys,
  hold,
  holdRequest,
  openDb,
  openRedis,
  settle,
  stores,
  type OpenConcert,
  type Stores,
} from './fixtures';
import { inParallel } from '../support/concurrency';

/**
 * Seat holds on the real Postgres test database (the truth) behind the real Redis seat gate (the
 * filter): one winner per seat whatever the concurrency, the deadline as data, idempotent steps, and
 * available-seat counts derived from the same predicate everywhere.
 */

let db: DataSource;
let redis: Redis;
let s: Stores;
let gate: SeatGate;
let fans: string[];
const concerts: OpenConcert[] = [];

const CONTENDERS = 200;
/** The suite's connections: a burst of transactions keeps to it (see the bypass test). */
const POOL = 40;

beforeAll(async () => {
  db = await openDb(POOL);
  redis = await openRedis();
  s = stores(db);
  gate = new SeatGate(redis);
  fans = await createUsers(s, CONTENDERS, 'holder');
});

afterAll(async () => {
  if (redis) {
    for (const c of concerts) await dropConcertKeys(redis, c.concertId);
    await redis.quit();
  }
  await db?.destroy();
});

async function newConcert(seats = 10, price = 50_000): Promise<OpenConcert> {
  const c = await createOpenConcert(s, seats, price);
  concerts.push(c);
  return c;
}

async function reservation(id: string): Promise<{ status: string; seat_id: string; updated_at: Date; created_at: Date } | undefined> {
  const found = await db.query('SELECT status, seat_id, created_at, updated_at FROM reservations WHERE id = $1', [id]);
  return found[0];
}

async function seat(c: OpenConcert, number: number): Promise<{ id: string; status: string; reservation_id: string | null }> {
  const found = await db.query('SELECT id, status, reservation_id FROM seats WHERE schedule_id = $1 AND number = $2', [c.scheduleIds[0], number]);
  return found[0];
}

async function liveReservations(c: OpenConcert, number: number): Promise<Array<{ id: string; status: string }>> {
  return db.query(
    `SELECT r.id, r.status FROM reservations r JOIN seats st ON st.id = r.seat_id
     WHERE st.schedule_id = $1 AND st.number = $2 AND r.status IN ('HELD', 'CONFIRMED')`,
    [c.scheduleIds[0], number],
  );
}

describe('one seat, many contenders', () => {
  it('lets exactly one of 200 concurrent attempts through the Redis gate and into a HELD reservation', async () => {
    const c = await newConcert();
    const seatNumber = 1;
    const ttlMs = 300_000 + GRACE_SECONDS * 1_000;

    const outcomes = await Promise.all(
      fans.map(async (userId) => {
        const reservationId = randomUUID();
        if (!(await gate.claim(c.concertId, c.scheduleIds[0], seatNumber, reservationId, ttlMs))) return { refusedByGate: true as const };
        return { refusedByGate: false as const, held: await hold(s, c, userId, seatNumber, { reservationId }) };
      }),
    );

    const refused = outcomes.filter((o) => o.refusedByGate).length;
    const winners = outcomes.flatMap((o) => (o.refusedByGate ? [] : [o.held]));
    expect(refused).toBe(CONTENDERS - 1);
    expect(winners).toHaveLength(1);
    expect(winners[0].status).toBe('HELD');
    expect(await gate.holder(c.concertId, c.scheduleIds[0], seatNumber)).toBe(winners[0].reservationId);
    expect(await liveReservations(c, seatNumber)).toEqual([{ id: winners[0].reservationId, status: 'HELD' }]);
    expect(await seat(c, seatNumber)).toMatchObject({ status: 'HELD', reservation_id: winners[0].reservationId });
  });

  it('still sells the seat once when 200 holds bypass the gate: 199 are refused SEAT_UNAVAILABLE by Postgres', async () => {
    const c = await newConcert();
    const seatNumber = 2;
    const attempts = fans.map((userId) => holdRequest(c, userId, seatNumber));

    // As many in flight as the pool has connections, as a worker's pool bounds its holds: 200 at once
    // would queue 160 for a connection, and on a loaded machine the last of them outwait the pool's
    // connection timeout (a plain Error, not a refusal), because the losers take their turns on the
    // seat's row lock one after the other.
    const outcomes = await inParallel(attempts, POOL, (a) => settle(s.holds.hold(a)));

    const won = outcomes.flatMap((o, i) => (o.ok ? [attempts[i].reservationId] : []));
    const errors = outcomes.flatMap((o) => (o.ok ? [] : [o.error]));
    expect(won).toHaveLength(1);
    expect(errors).toHaveLength(CONTENDERS - 1);
    for (const err of errors) {
      expect(err).toBeInstanceOf(DomainError);
      expect(codeOf(err)).toBe('SEAT_UNAVAILABLE');
    }
    // No loser left a row behind: the only reservation of this seat is the winner's.
    const rowsForSeat = await db.query(
      `SELECT r.id, r.status FROM reservations r JOIN seats st ON st.id = r.seat_id WHERE st.schedule_id = $1 AND st.number = $2`,
      [c.scheduleIds[0], seatNumber],
    );
    expect(rowsForSeat).toEqual([{ id: won[0], status: 'HELD' }]);
    expect(await seat(c, seatNumber)).toMatchObject({ status: 'HELD', reservation_id: won[0] });
  });

  it('has the database refuse a second live reservation for a seat even when inserted directly with SQL', async () => {
    const c = await newConcert();
    const first = await hold(s, c, fans[0], 3);
    // Straight through the pg pool under TypeORM: no store code, and no TypeORM error log.
    const pool = (db.driver as unknown as { master: Pool }).master;
    const insert = async (status: string) => {
      const client = await pool.connect();
      try {
        await client.query(
          `INSERT INTO reservations (id, user_id, concert_id, schedule_id, seat_id, seat_number, price, status, held_until, journey_id)
           VALUES ($1, $2, $3, $4, $5, 3, 50000, $6, now() + interval '5 minutes', 'direct-sql')`,
          [randomUUID(), fans[1], c.concertId, c.scheduleIds[0], first.seatId, status],
        );
      } finally {
        client.release();
      }
    };

    for (const status of ['HELD', 'CONFIRMED']) {
      const err = await insert(status).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(sqlState(err)).toBe('23505'); // unique_violation
      expect((err as { constraint?: string }).constraint).toBe('reservations_one_live_per_seat');
    }
    // The index is partial: ended reservations of the seat are allowed alongside the live one.
    await insert('EXPIRED');
    expect(await liveReservations(c, 3)).toEqual([{ id: first.reservationId, status: 'HELD' }]);
  });
});

describe('the deadline is data', () => {
  it('makes a hold past held_until + grace bookable, expiring the old reservation in the same transaction', async () => {
    const c = await newConcert();
    const stale = await hold(s, c, fans[0], 4, { heldUntil: deadlineIn(-10_000), graceSeconds: GRACE_SECONDS });

    // Every read already shows the seat AVAILABLE, before anyone converges the rows.
    const shown = await s.catalog.seats(c.scheduleIds[0], { limit: 10, after: 3, graceSeconds: GRACE_SECONDS });
    expect(shown.items[0]).toMatchObject({ seatNumber: 4, status: 'AVAILABLE' });

    const fresh = await hold(s, c, fans[1], 4);
    expect(fresh.status).toBe('HELD');
    const old = await reservation(stale.reservationId);
    const now = await reservation(fresh.reservationId);
    expect(old?.status).toBe('EXPIRED');
    // now() is the transaction's start: equal stamps mean one transaction did both.
    expect(old?.updated_at.getTime()).toBe(now?.created_at.getTime());
    expect(await seat(c, 4)).toMatchObject({ status: 'HELD', reservation_id: fresh.reservationId });
    expect(await liveReservations(c, 4)).toEqual([{ id: fresh.reservationId, status: 'HELD' }]);
  });

  it('keeps a hold past its deadline but still within the grace off sale', async () => {
    const c = await newConcert();
    const recent = await hold(s, c, fans[0], 5, { heldUntil: deadlineIn(-1_000), graceSeconds: GRACE_SECONDS });

    const attempt = await settle(hold(s, c, fans[1], 5));
    expect(attempt.ok).toBe(false);
    expect(codeOf(!attempt.ok && attempt.error)).toBe('SEAT_UNAVAILABLE');
    expect((await reservation(recent.reservationId))?.status).toBe('HELD');
    const shown = await s.catalog.seats(c.scheduleIds[0], { limit: 1, after: 4, graceSeconds: GRACE_SECONDS });
    expect(shown.items[0]).toMatchObject({ seatNumber: 5, status: 'HELD' });
  });
});

describe('idempotent steps', () => {
  it('answers a repeated hold with the same reservation id with the same row, taking nothing more', async () => {
    const c = await newConcert();
    const request = holdRequest(c, fans[0], 6);
    const first = await s.holds.hold(request);
    const again = await s.holds.hold({ ...request, heldUntil: deadlineIn(600_000) });

    expect(again).toEqual(first);
    expect(await liveReservations(c, 6)).toEqual([{ id: request.reservationId, status: 'HELD' }]);
  });

  it('answers concurrent retries of one hold (same reservation id) with that hold, not SEAT_UNAVAILABLE', async () => {
    // A local activity whose attempt timed out is retried while the first attempt may still run.
    const c = await newConcert();
    const request = holdRequest(c, fans[0], 7);

    const outcomes = await Promise.all(Array.from({ length: 10 }, () => settle(s.holds.hold(request))));

    expect(outcomes.map((o) => (o.ok ? o.value.reservationId : codeOf(o.error)))).toEqual(Array(10).fill(request.reservationId));
    expect(await liveReservations(c, 7)).toEqual([{ id: request.reservationId, status: 'HELD' }]);
  });

  it('releases once: a second release changes nothing', async () => {
    const c = await newConcert();
    const held = await hold(s, c, fans[0], 8);

    expect(await s.holds.release(held.reservationId, 'CANCELLED')).toBe(true);
    expect(await s.holds.release(held.reservationId, 'EXPIRED')).toBe(false);
    expect((await reservation(held.reservationId))?.status).toBe('CANCELLED');
    expect(await seat(c, 8)).toMatchObject({ status: 'AVAILABLE', reservation_id: null });
  });

  it('does not free the new holder’s seat when the taken-over reservation is released late', async () => {
    const c = await newConcert();
    const stale = await hold(s, c, fans[0], 9, { heldUntil: deadlineIn(-10_000) });
    const taker = await hold(s, c, fans[1], 9);

    // The stale hold's timer fires only now (a backlog): its release must not touch the seat.
    expect(await s.holds.release(stale.reservationId, 'EXPIRED')).toBe(false);
    expect(await seat(c, 9)).toMatchObject({ status: 'HELD', reservation_id: taker.reservationId });
    expect((await reservation(taker.reservationId))?.status).toBe('HELD');
    expect((await reservation(stale.reservationId))?.status).toBe('EXPIRED');
  });
});

describe('available-seat counts', () => {
  it('agree between the schedule list, the seat list and SQL after a burst of holds and releases', async () => {
    const seats = 60;
    const c = await newConcert(seats, 40_000);
    // Deterministic "random" seat choices, so a failure can be replayed.
    let x = 42;
    const next = () => {
      // mulberry32
      x = (x + 0x6d2b79f5) | 0;
      let t = Math.imul(x ^ (x >>> 15), 1 | x);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (t ^ (t >>> 14)) >>> 0;
    };

    // Two holds long past their deadline + grace (bookable, not yet converged by any timer).
    await hold(s, c, fans[198], 59, { heldUntil: deadlineIn(-60_000) });
    await hold(s, c, fans[199], 60, { heldUntil: deadlineIn(-60_000) });

    // 150 fans, as many in flight as the pool has connections (see the bypass test).
    const choices = fans.slice(0, 150).map((userId) => ({ userId, seatNumber: (next() % seats) + 1, releaseAfter: next() % 10 < 4 }));
    const burst = await inParallel(choices, POOL, async ({ userId, seatNumber, releaseAfter }) => {
      const attempt = await settle(hold(s, c, userId, seatNumber));
      if (!attempt.ok) {
        expect(codeOf(attempt.error)).toBe('SEAT_UNAVAILABLE');
        return { seatNumber, live: false };
      }
      if (releaseAfter) {
        expect(await s.holds.release(attempt.value.reservationId, 'CANCELLED')).toBe(true);
        return { seatNumber, live: false };
      }
      return { seatNumber, live: true };
    });
    // One seat within its grace: not bookable, though its deadline has passed.
    const withinGrace = burst.some((b) => b.seatNumber === 1) ? undefined : await hold(s, c, fans[197], 1, { heldUntil: deadlineIn(0) });

    const heldByBurst = new Set(burst.filter((b) => b.live).map((b) => b.seatNumber));
    const expected = seats - heldByBurst.size - (withinGrace ? 1 : 0);

    const [schedule] = await s.catalog.openSchedules(c.concertId, GRACE_SECONDS);
    const listed = await s.catalog.seats(c.scheduleIds[0], { status: 'AVAILABLE', limit: 1_000, after: 0, graceSeconds: GRACE_SECONDS });
    // Derived independently, from the reservations rather than the seats' status column.
    const [{ available }] = await db.query(
      `SELECT $2::int - count(DISTINCT r.seat_id)::int AS available FROM reservations r
       WHERE r.schedule_id = $1
         AND (r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until >= now() - make_interval(secs => $3)))`,
      [c.scheduleIds[0], seats, GRACE_SECONDS],
    );

    expect(heldByBurst.size).toBeGreaterThan(5); // the burst did hold seats
    process.stdout.write(`holds: burst left ${heldByBurst.size} live holds, ${expected} seats available\n`);
    expect(schedule).toMatchObject({ scheduleId: c.scheduleIds[0], totalSeats: seats, availableSeats: expected });
    expect(listed.items).toHaveLength(expected);
    expect(listed.nextCursor).toBeUndefined();
    expect(available).toBe(expected);
    for (const item of listed.items) expect(heldByBurst.has(item.seatNumber)).toBe(false);
  });
});

describe('large schedules', () => {
  it('creates a 50,000-seat schedule in one go', async () => {
    // Measured here: createConcert with one 50,000-seat schedule took 0.86–1.16 s over four runs on this
    // 2-vCPU machine shared with other test runs (one INSERT … SELECT generate_series); printed below.
    const started = Date.now();
    const c = await newConcert(50_000, 30_000);
    const tookMs = Date.now() - started;

    const [{ count }] = await db.query('SELECT count(*)::int AS count FROM seats WHERE schedule_id = $1', [c.scheduleIds[0]]);
    expect(count).toBe(50_000);
    process.stdout.write(`holds: created a 50,000-seat schedule in ${tookMs} ms\n`);
  });
});

describe('prepared statements', () => {
  it('a hold and a batch release are planned once per connection, then only bound and run', async () => {
    // Parsing and planning each call cost PostgreSQL a third of the hold's CPU (bench/README.md).
    const one = await openDb(1); // one connection: every statement below meets the same session
    try {
      const store = new HoldStore(one);
      const c = await newConcert();
      const held = [];
      for (const n of [1, 2, 3]) held.push(await store.hold(holdRequest(c, fans[0], n)));
      await store.releaseMany(held.map((h) => h.reservationId), 'CANCELLED');
      await store.releaseMany([held[0].reservationId], 'CANCELLED');
      const statements: Array<{ statement: string; runs: number }> = await one.query(
        'SELECT statement, generic_plans + custom_plans AS runs FROM pg_prepared_statements ORDER BY runs DESC',
      );
      expect(statements.map((p) => [p.statement.trim().split(/\s+/).slice(0, 5).join(' '), Number(p.runs)])).toEqual([
        ['WITH taken AS ( UPDATE', 3],
        ['WITH ended AS ( UPDATE', 2],
      ]);
    } finally {
      await one.destroy();
    }
  });
});

describe('invariants', () => {
  it('leaves no seat sold or held twice and the books balanced', async () => {
    expect(await findViolations(db)).toEqual([]);
  });
});

describe('releasing holds in batches, and the sweeper', () => {
  it('releases a journey’s holds in one statement, each only while it still holds its seat; a retry releases nothing twice', async () => {
    const c = await newConcert();
    const held = await Promise.all([1, 2, 3].map((n) => hold(s, c, fans[0], n)));
    // Seat 3's hold was taken over past its grace by another fan before the batch ran.
    await db.query(`UPDATE seats SET held_until = now() - interval '1 hour' WHERE reservation_id = $1`, [held[2].reservationId]);
    const taker = await hold(s, c, fans[1], 3);
    const ids = held.map((h) => h.reservationId);
    expect((await s.holds.releaseMany(ids, 'EXPIRED')).sort()).toEqual(ids.slice(0, 2).sort());
    for (const n of [1, 2]) expect(await seat(c, n)).toMatchObject({ status: 'AVAILABLE', reservation_id: null });
    expect(await seat(c, 3)).toMatchObject({ status: 'HELD', reservation_id: taker.reservationId });
    expect((await reservation(ids[0]))?.status).toBe('EXPIRED');
    expect(await s.holds.releaseMany(ids, 'EXPIRED')).toEqual([]);
    expect(await s.holds.releaseMany([], 'CANCELLED')).toEqual([]);
  });

  it('the sweeper expires only holds past their deadline + grace, in its own concert, and frees their seats', async () => {
    const c = await newConcert();
    const other = await newConcert();
    const stale = await hold(s, c, fans[0], 1, { heldUntil: deadlineIn(-(GRACE_SECONDS + 5) * 1000) });
    const fresh = await hold(s, c, fans[1], 2, { heldUntil: deadlineIn(-1000) }); // past the deadline, within the grace
    const elsewhere = await hold(s, other, fans[2], 1, { heldUntil: deadlineIn(-(GRACE_SECONDS + 5) * 1000) });
    expect(await s.holds.sweepExpired(c.concertId, GRACE_SECONDS, 100)).toBe(1);
    expect((await reservation(stale.reservationId))?.status).toBe('EXPIRED');
    expect(await seat(c, 1)).toMatchObject({ status: 'AVAILABLE', reservation_id: null });
    expect((await reservation(fresh.reservationId))?.status).toBe('HELD');
    expect((await reservation(elsewhere.reservationId))?.status).toBe('HELD');
    expect(await s.holds.sweepExpired(c.concertId, GRACE_SECONDS, 100)).toBe(0);
    await s.holds.sweepExpired(other.concertId, GRACE_SECONDS, 100);
  });
});
