import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { SeatStatus } from '../entities';
import { rows } from '../sql';
import { inTransaction } from '../transaction';

export interface NewSchedule {
  startsAt: Date;
  bookingOpensAt: Date;
  bookingClosesAt: Date;
  seatCount: number;
  price: number;
}

export interface ScheduleSummary {
  scheduleId: string;
  startsAt: string;
  bookingOpensAt: string;
  bookingClosesAt: string;
  totalSeats: number;
}

export interface ScheduleRef {
  scheduleId: string;
  concertId: string;
  totalSeats: number;
}

export interface SeatView {
  seatId: string;
  seatNumber: number;
  price: number;
  status: SeatStatus;
}

/** A HELD seat past its deadline + grace is bookable, so every read shows it AVAILABLE. */
const BOOKABLE = `(s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until < now() - make_interval(secs => $GRACE)))`;

export class CatalogStore {
  constructor(private readonly db: DataSource) {}

  /**
   * A concert with its schedules and every seat (1..N per schedule), in one transaction. With `ids`
   * (derived from an operator's Idempotency-Key) a repeated creation finds the concert the first one
   * made and answers it, never a duplicate.
   */
  async createConcert(
    c: { title: string; description?: string; schedules: NewSchedule[]; salesOpenAt?: Date; queueSeed?: string },
    ids?: { concertId: string; scheduleIds: string[] },
  ): Promise<{ concertId: string; schedules: ScheduleSummary[]; existed: boolean }> {
    const concertId = ids?.concertId ?? randomUUID();
    const schedules: ScheduleSummary[] = [];
    const existed = await inTransaction(this.db, async (tx) => {
      const inserted = await rows(
        tx,
        `INSERT INTO concerts (id, title, description, sales_open_at, queue_seed) VALUES ($1, $2, $3, coalesce($4, now()), $5)
         ON CONFLICT (id) DO NOTHING RETURNING 1`,
        [concertId, c.title, c.description ?? null, c.salesOpenAt ?? null, c.queueSeed ?? null],
      );
      if (inserted.length === 0) return true;
      for (const [i, s] of c.schedules.entries()) {
        const scheduleId = ids?.scheduleIds[i] ?? randomUUID();
        await tx.query(
          `INSERT INTO concert_schedules (id, concert_id, starts_at, booking_opens_at, booking_closes_at, total_seats)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [scheduleId, concertId, s.startsAt, s.bookingOpensAt, s.bookingClosesAt, s.seatCount],
        );
        // One statement for all the seats: 50,000 of them take well under a second.
        await tx.query(
          `INSERT INTO seats (schedule_id, number, price) SELECT $1, n, $2 FROM generate_series(1, $3::int) AS n`,
          [scheduleId, s.price, s.seatCount],
        );
        schedules.push({
          scheduleId,
          startsAt: s.startsAt.toISOString(),
          bookingOpensAt: s.bookingOpensAt.toISOString(),
          bookingClosesAt: s.bookingClosesAt.toISOString(),
          totalSeats: s.seatCount,
        });
      }
      return false;
    });
    if (existed) return { concertId, schedules: await this.scheduleSummaries(concertId, ids?.scheduleIds ?? []), existed };
    return { concertId, schedules, existed };
  }

  /** The schedules of a concert, in the order of `order` (ids), then by start. */
  private async scheduleSummaries(concertId: string, order: string[]): Promise<ScheduleSummary[]> {
    const found: Array<{ id: string; starts_at: Date; booking_opens_at: Date; booking_closes_at: Date; total_seats: number }> = await this.db.query(
      'SELECT id, starts_at, booking_opens_at, booking_closes_at, total_seats FROM concert_schedules WHERE concert_id = $1 ORDER BY starts_at, id',
      [concertId],
    );
    const rank = (id: string) => (order.includes(id) ? order.indexOf(id) : order.length);
    return found
      .sort((a, b) => rank(a.id) - rank(b.id))
      .map((r) => ({
        scheduleId: r.id,
        startsAt: r.starts_at.toISOString(),
        bookingOpensAt: r.booking_opens_at.toISOString(),
        bookingClosesAt: r.booking_closes_at.toISOString(),
        totalSeats: r.total_seats,
      }));
  }

  async concertIds(): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.db.query('SELECT id FROM concerts ORDER BY created_at');
    return rows.map((r) => r.id);
  }

  /** A concert's opening and the seed of its pre-queue's order (null: no such concert). */
  async fairStart(concertId: string): Promise<{ opensAtMs: number; seed: string | null } | null> {
    const [row]: Array<{ opens_at_ms: string; queue_seed: string | null }> = await this.db.query(
      'SELECT (extract(epoch FROM sales_open_at) * 1000)::bigint AS opens_at_ms, queue_seed FROM concerts WHERE id = $1',
      [concertId],
    );
    return row ? { opensAtMs: Number(row.opens_at_ms), seed: row.queue_seed } : null;
  }

  async concertExists(concertId: string): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM concerts WHERE id = $1', [concertId]);
    return rows.length > 0;
  }

  /**
   * One page of concerts, oldest first, each with its schedules: keyset-paged on (created_at, id)
   * through their index, so a page costs its own rows whatever the catalog's size.
   */
  async listConcerts(q: { limit: number; cursor?: ConcertCursor } = { limit: 100 }): Promise<{ items: ConcertSummary[]; nextCursor?: string }> {
    const rows: Array<{ id: string; title: string; description: string | null; created: string; schedules: Array<{ scheduleId: string; startsAtMs: number }> }> =
      await this.db.query(
        `WITH page AS (
           SELECT id, title, description, created_at FROM concerts
           WHERE $1::timestamptz IS NULL OR (created_at, id) > ($1::timestamptz, $2::uuid)
           ORDER BY created_at, id LIMIT $3
         )
         SELECT c.id, c.title, c.description,
                to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created,
                -- Epoch milliseconds, not the timestamp's JSON text: that text says "BC" for year 0000,
                -- which JavaScript's Date cannot read.
                COALESCE(json_agg(json_build_object('scheduleId', s.id, 'startsAtMs', extract(epoch FROM s.starts_at) * 1000) ORDER BY s.starts_at)
                         FILTER (WHERE s.id IS NOT NULL), '[]') AS schedules
         FROM page c LEFT JOIN concert_schedules s ON s.concert_id = c.id
         GROUP BY c.id, c.title, c.description, c.created_at ORDER BY c.created_at, c.id`,
        [q.cursor?.createdAt ?? null, q.cursor?.id ?? null, q.limit + 1],
      );
    const items = rows.slice(0, q.limit).map((r) => ({
      concertId: r.id,
      title: r.title,
      ...(r.description !== null ? { description: r.description } : {}),
      schedules: r.schedules.map((s) => ({ scheduleId: s.scheduleId, startsAt: new Date(Number(s.startsAtMs)).toISOString() })),
    }));
    const last = rows[q.limit - 1];
    return { items, ...(rows.length > q.limit && last ? { nextCursor: encodeConcertCursor({ createdAt: last.created, id: last.id }) } : {}) };
  }

  /** Schedules whose booking window is open now, with live available-seat counts. */
  async openSchedules(concertId: string, graceSeconds: number): Promise<Array<ScheduleSummary & { availableSeats: number }>> {
    const rows: Array<{ id: string; starts_at: Date; booking_opens_at: Date; booking_closes_at: Date; total_seats: number; available: string }> =
      await this.db.query(
        `SELECT cs.id, cs.starts_at, cs.booking_opens_at, cs.booking_closes_at, cs.total_seats,
                (SELECT count(*) FROM seats s WHERE s.schedule_id = cs.id AND ${BOOKABLE.replace('$GRACE', '$2')}) AS available
         FROM concert_schedules cs
         WHERE cs.concert_id = $1 AND cs.booking_opens_at <= now() AND cs.booking_closes_at > now()
         ORDER BY cs.starts_at`,
        [concertId, graceSeconds],
      );
    return rows.map((r) => ({
      scheduleId: r.id,
      startsAt: r.starts_at.toISOString(),
      bookingOpensAt: r.booking_opens_at.toISOString(),
      bookingClosesAt: r.booking_closes_at.toISOString(),
      totalSeats: r.total_seats,
      availableSeats: Number(r.available),
    }));
  }

  async schedule(scheduleId: string): Promise<ScheduleRef | null> {
    const rows: Array<{ concert_id: string; total_seats: number }> = await this.db.query(
      'SELECT concert_id, total_seats FROM concert_schedules WHERE id = $1',
      [scheduleId],
    );
    return rows.length ? { scheduleId, concertId: rows[0].concert_id, totalSeats: rows[0].total_seats } : null;
  }

  /** Every schedule of a concert, with its size. */
  async schedulesOf(concertId: string): Promise<ScheduleRef[]> {
    const rows: Array<{ id: string; total_seats: number }> = await this.db.query('SELECT id, total_seats FROM concert_schedules WHERE concert_id = $1', [concertId]);
    return rows.map((r) => ({ scheduleId: r.id, concertId, totalSeats: r.total_seats }));
  }

  /** Seats ordered by number, after seat number `after`, optionally only those with a status. */
  async seats(scheduleId: string, q: { status?: SeatStatus; limit: number; after: number; graceSeconds: number }): Promise<{ items: SeatView[]; nextCursor?: string }> {
    const rows: Array<{ id: string; number: number; price: string; status: SeatStatus }> = await this.db.query(
      `SELECT * FROM (
         SELECT s.id, s.number, s.price,
                CASE WHEN ${BOOKABLE.replace('$GRACE', '$3')} THEN 'AVAILABLE' ELSE s.status END AS status
         FROM seats s WHERE s.schedule_id = $1 AND s.number > $2
       ) v
       WHERE $4::text IS NULL OR v.status = $4::text
       ORDER BY v.number LIMIT $5`,
      [scheduleId, q.after, q.graceSeconds, q.status ?? null, q.limit + 1],
    );
    const items = rows.slice(0, q.limit).map((r) => ({ seatId: String(r.id), seatNumber: r.number, price: Number(r.price), status: r.status }));
    return { items, nextCursor: rows.length > q.limit ? String(items[items.length - 1].seatNumber) : undefined };
  }

  /**
   * `openSchedules` as its JSON response body (`{"items":[...]}`), built by PostgreSQL, so the API
   * forwards one string instead of parsing rows and serializing them again.
   */
  async openSchedulesJson(concertId: string, graceSeconds: number): Promise<string> {
    const rows: Array<{ body: string }> = await this.db.query(
      `SELECT '{"items":[' || coalesce(string_agg(
                '{"scheduleId":"' || cs.id || '","startsAt":"' || ${ISO('cs.starts_at')} ||
                '","bookingOpensAt":"' || ${ISO('cs.booking_opens_at')} || '","bookingClosesAt":"' || ${ISO('cs.booking_closes_at')} ||
                '","totalSeats":' || cs.total_seats ||
                ',"availableSeats":' || (SELECT count(*) FROM seats s WHERE s.schedule_id = cs.id AND ${BOOKABLE.replace('$GRACE', '$2')}) || '}',
                ',' ORDER BY cs.starts_at), '') || ']}' AS body
         FROM concert_schedules cs
         WHERE cs.concert_id = $1 AND cs.booking_opens_at <= now() AND cs.booking_closes_at > now()`,
      [concertId, graceSeconds],
    );
    return rows[0].body;
  }

  /**
   * `seats` as its JSON response body (`{"scheduleId":…,"items":[…],"nextCursor":…}`), built by
   * PostgreSQL. Every value spliced in is a number, a UUID or a status the table constrains, so none
   * needs escaping.
   */
  async seatPageJson(scheduleId: string, q: { status?: SeatStatus; limit: number; after: number; graceSeconds: number }): Promise<string> {
    const rows: Array<{ body: string }> = await this.db.query(
      `WITH page AS (
         SELECT v.*, row_number() OVER (ORDER BY v.number) AS rn FROM (
           SELECT s.id, s.number, s.price,
                  CASE WHEN ${BOOKABLE.replace('$GRACE', '$3')} THEN 'AVAILABLE' ELSE s.status END AS status
           FROM seats s WHERE s.schedule_id = $1 AND s.number > $2
         ) v
         WHERE $4::text IS NULL OR v.status = $4::text
         ORDER BY v.number LIMIT $5 + 1
       )
       SELECT '{"scheduleId":"' || $1::text || '","items":[' ||
              coalesce((SELECT string_agg('{"seatId":"' || id || '","seatNumber":' || number || ',"price":' || price || ',"status":"' || status || '"}', ',' ORDER BY number)
                        FROM page WHERE rn <= $5), '') || ']' ||
              coalesce((SELECT ',"nextCursor":"' || number || '"' FROM page WHERE rn = $5 AND EXISTS (SELECT 1 FROM page WHERE rn > $5)), '') ||
              '}' AS body`,
      [scheduleId, q.after, q.graceSeconds, q.status ?? null, q.limit],
    );
    return rows[0].body;
  }
}

/** A timestamptz as JavaScript's `toISOString()` writes it (UTC, milliseconds, `Z`). */
function ISO(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

export interface ConcertSummary {
  concertId: string;
  title: string;
  description?: string;
  schedules: Array<{ scheduleId: string; startsAt: string }>;
}

/** Where the next page of concerts starts: after this concert (its creation time, to the microsecond, and id). */
export interface ConcertCursor {
  createdAt: string;
  id: string;
}

export function encodeConcertCursor(cursor: ConcertCursor): string {
  return Buffer.from(`${cursor.createdAt}|${cursor.id}`).toString('base64url');
}

/** The cursor a page answered, or null for anything else (never an error from PostgreSQL). */
export function decodeConcertCursor(cursor: string): ConcertCursor | null {
  const [createdAt, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (extra !== undefined || !createdAt || !id || !/^(19[7-9]\d|[2-9]\d{3})-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(createdAt)) return null;
  // A real instant (no 30 February): PostgreSQL would refuse it with an error, not an empty page.
  const ms = Date.parse(`${createdAt.slice(0, 23)}Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 23) !== createdAt.slice(0, 23)) return null;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) return null;
  return { createdAt, id };
}
