import type { DataSource } from 'typeorm';
import type { ReservationStatus } from '../entities';
import { prepared, preparedRows } from '../sql';

export interface ReservationView {
  reservationId: string;
  concertId: string;
  scheduleId: string;
  seatId: string;
  seatNumber: number;
  price: number;
  status: ReservationStatus;
  heldUntil: string;
  paymentId?: string;
  createdAt: string;
  userId: string;
  journeyId: string;
}

interface Row {
  id: string;
  user_id: string;
  concert_id: string;
  schedule_id: string;
  seat_id: string;
  seat_number: number;
  price: string;
  status: ReservationStatus;
  held_until: Date;
  payment_id: string | null;
  journey_id: string;
  created_at: Date;
  expired: boolean;
}

const COLUMNS = `id, user_id, concert_id, schedule_id, seat_id, seat_number, price, status, held_until, payment_id, journey_id, created_at,
  (status = 'HELD' AND held_until < now() - make_interval(secs => $GRACE)) AS expired`;

/** `ReservationStore.get`'s statement, read before every payment ($1 the reservation, $2 the grace in seconds). */
const ONE_RESERVATION = prepared(`SELECT ${COLUMNS.replace('$GRACE', '$2')} FROM reservations WHERE id = $1`);

/** Reads of reservations. A HELD one past its deadline + grace reads EXPIRED even before its timer ran. */
export class ReservationStore {
  constructor(
    private readonly db: DataSource,
    private readonly graceSeconds: number,
  ) {}

  async get(reservationId: string): Promise<ReservationView | null> {
    const rows = await preparedRows<Row>(this.db, ONE_RESERVATION, [reservationId, this.graceSeconds]);
    return rows.length ? toView(rows[0]) : null;
  }

  async listForUser(userId: string, q: { status?: ReservationStatus; limit: number; cursor?: { createdAt: string; id: string } }): Promise<{ items: ReservationView[]; nextCursor?: string }> {
    const rows: Row[] = await this.db.query(
      `SELECT * FROM (
         SELECT ${COLUMNS.replace('$GRACE', '$2')} FROM reservations
         WHERE user_id = $1 AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
       ) r
       WHERE $6::text IS NULL OR (CASE WHEN r.expired THEN 'EXPIRED' ELSE r.status END) = $6::text
       ORDER BY created_at DESC, id DESC LIMIT $5`,
      [userId, this.graceSeconds, q.cursor?.createdAt ?? null, q.cursor?.id ?? null, q.limit + 1, q.status ?? null],
    );
    const items = rows.slice(0, q.limit).map(toView);
    const last = items[items.length - 1];
    const nextCursor = rows.length > q.limit && last ? Buffer.from(`${last.createdAt}|${last.reservationId}`).toString('base64url') : undefined;
    return { items, nextCursor };
  }
}

export function decodeReservationCursor(cursor: string): { createdAt: string; id: string } | null {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/.test(id)) return null;
  return { createdAt, id };
}

function toView(r: Row): ReservationView {
  return {
    reservationId: r.id,
    userId: r.user_id,
    concertId: r.concert_id,
    scheduleId: r.schedule_id,
    seatId: String(r.seat_id),
    seatNumber: r.seat_number,
    price: Number(r.price),
    status: r.expired ? 'EXPIRED' : r.status,
    heldUntil: r.held_until.toISOString(),
    ...(r.payment_id ? { paymentId: r.payment_id } : {}),
    createdAt: r.created_at.toISOString(),
    journeyId: r.journey_id,
  };
}
