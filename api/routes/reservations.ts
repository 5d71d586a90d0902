import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { CatalogStore, type ScheduleRef } from '../../db/stores/catalog';
import { IdempotencyStore } from '../../db/stores/idempotency';
import { decodeReservationCursor, ReservationStore, type ReservationView } from '../../db/stores/reservations';
import { DomainError } from '../../lib/domain-error';
import { journeyClosed, Journeys } from '../../lib/journeys';
import { SeatGate } from '../../queue/seat-gate';
import { LatencyWindow } from '../../queue/latency-window';
import { WaitingRoom } from '../../queue/waiting-room';
import { requireUser } from '../auth';
import type { AppDeps } from '../deps';
import { idempotent } from '../idempotency';
import { toProblem } from '../problem';
import { assertTicketFor, queueToken } from '../queue-guard';
import { router } from '../router';
import { bearer, bearerAndQueueToken, idempotencyHeader, limitQuery, problems, Uuid } from '../schemas';
import { scheduleRef } from './catalog';

const Status = z.enum(['HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED']);
const Reservation = z
  .object({
    reservationId: z.string(),
    scheduleId: z.string(),
    seatId: z.string(),
    seatNumber: z.number().int(),
    price: z.number().int(),
    status: Status,
    heldUntil: z.string(),
    paymentId: z.string().optional(),
  })
  .openapi('Reservation');
const ReservationPage = z.object({ items: z.array(Reservation), nextCursor: z.string().optional() }).openapi('ReservationPage');
const HoldRequest = z
  .object({ scheduleId: Uuid, seatNumber: z.number().int().min(1).max(1_000_000) })
  .openapi('HoldRequest');
const json = { 'application/json': { schema: Reservation } };

const hold = createRoute({
  method: 'post',
  path: '/reservations',
  tags: ['Reservations'],
  summary: 'Hold a seat for a few minutes',
  security: bearerAndQueueToken,
  request: { headers: idempotencyHeader, body: { required: true, content: { 'application/json': { schema: HoldRequest } } } },
  responses: { 201: { description: 'Held', content: json }, ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
});

const list = createRoute({
  method: 'get',
  path: '/reservations',
  tags: ['Reservations'],
  summary: 'My reservations, newest first',
  security: bearer,
  request: { query: z.object({ status: Status.optional(), limit: limitQuery(50, 100), cursor: z.string().max(200).optional() }) },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: ReservationPage } } }, ...problems(400, 401, 503) },
});

const read = createRoute({
  method: 'get',
  path: '/reservations/{reservationId}',
  tags: ['Reservations'],
  summary: 'One of my reservations',
  security: bearer,
  request: { params: z.object({ reservationId: Uuid }) },
  responses: { 200: { description: 'OK', content: json }, ...problems(400, 401, 403, 404, 503) },
});

const cancel = createRoute({
  method: 'delete',
  path: '/reservations/{reservationId}',
  tags: ['Reservations'],
  summary: 'Release my hold early',
  security: bearer,
  request: { params: z.object({ reservationId: Uuid }) },
  responses: { 200: { description: 'Cancelled', content: json }, ...problems(400, 401, 403, 404, 409, 413, 503) },
});

export function publicView(r: ReservationView) {
  const { reservationId, scheduleId, seatId, seatNumber, price, status, heldUntil, paymentId } = r;
  return { reservationId, scheduleId, seatId, seatNumber, price, status, heldUntil, ...(paymentId ? { paymentId } : {}) };
}

/** The caller's own reservation, or 404 / 403. */
export async function ownReservation(store: ReservationStore, reservationId: string, userId: string): Promise<ReservationView> {
  const reservation = await store.get(reservationId);
  if (!reservation) throw new DomainError('NOT_FOUND', 'no such reservation');
  if (reservation.userId !== userId) throw new DomainError('FORBIDDEN', 'the reservation belongs to someone else');
  return reservation;
}

export function reservationRoutes(deps: AppDeps) {
  const app = router();
  const { config, metrics } = deps;
  const room = new WaitingRoom(deps.redis);
  const gate = new SeatGate(deps.redis);
  const catalog = new CatalogStore(deps.db);
  const reservations = new ReservationStore(deps.db, config.HOLD_GRACE_SECONDS);
  const idempotency = new IdempotencyStore(deps.db);
  const journeys = new Journeys(deps.temporal, config, new LatencyWindow(deps.redis));
  const schedules = new Map<string, ScheduleRef>();
  const auth = requireUser(config.AUTH_SECRET);

  app.on('POST', '/reservations', auth, queueToken(room, { requireActive: true }));
  app.on(['GET', 'DELETE'], ['/reservations', '/reservations/*'], auth);

  return app
    .openapi(hold, async (c) => {
      const body = c.req.valid('json');
      const ticket = c.get('ticket');
      return idempotent(c, idempotency, 'POST /reservations', body, async () => {
        const schedule = await scheduleRef(catalog, schedules, body.scheduleId);
        assertTicketFor(ticket, schedule.concertId);
        if (body.seatNumber > schedule.totalSeats) throw new DomainError('NOT_FOUND', `seats are numbered 1..${schedule.totalSeats}`);
        const reservationId = randomUUID();
        // The gate closes until the hold's latest possible deadline + grace; losers stop here.
        const deadline = Math.min(Date.now() + config.HOLD_TTL_SECONDS * 1000, ticket.activeUntil ?? 0);
        const gateTtl = deadline - Date.now() + config.HOLD_GRACE_SECONDS * 1000;
        if (!(await gate.claim(ticket.concertId, body.scheduleId, body.seatNumber, reservationId, gateTtl))) {
          metrics.seatGateRefusals.inc();
          throw new DomainError('SEAT_UNAVAILABLE', 'the seat is held or sold');
        }
        try {
          const held = await journeys.hold(ticket, { scheduleId: body.scheduleId, seatNumber: body.seatNumber, reservationId });
          metrics.holds.inc({ outcome: 'held' });
          return { status: 201, body: { ...held, status: 'HELD' } };
        } catch (err) {
          metrics.holds.inc({ outcome: toProblem(err).code.toLowerCase() });
          await gate.release(ticket.concertId, body.scheduleId, body.seatNumber, reservationId).catch(() => undefined);
          throw err;
        }
      }) as never;
    })
    .openapi(list, async (c) => {
      const { status, limit, cursor } = c.req.valid('query');
      const decoded = cursor ? decodeReservationCursor(cursor) : undefined;
      if (decoded === null) throw new DomainError('VALIDATION_FAILED', 'cursor: not a cursor this API returned');
      const page = await reservations.listForUser(c.get('userId'), { status, limit, cursor: decoded });
      return c.json({ items: page.items.map(publicView), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
    })
    .openapi(read, async (c) => {
      const reservation = await ownReservation(reservations, c.req.valid('param').reservationId, c.get('userId'));
      return c.json(publicView(reservation), 200);
    })
    .openapi(cancel, async (c) => {
      const reservation = await ownReservation(reservations, c.req.valid('param').reservationId, c.get('userId'));
      if (reservation.status !== 'HELD') throw new DomainError('RESERVATION_NOT_HELD', `the reservation is ${reservation.status}`);
      try {
        await journeys.cancel(reservation.journeyId, reservation.reservationId);
      } catch (err) {
        if (journeyClosed(err)) throw new DomainError('RESERVATION_NOT_HELD', 'the reservation is no longer held');
        throw err;
      }
      return c.json({ ...publicView(reservation), status: 'CANCELLED' as const }, 200);
    });
}
