import { createRoute, z } from '@hono/zod-openapi';
import { decodeReservationCursor } from '../../db/stores/reservations';
import { DomainError } from '../../lib/domain-error';
import { WaitingRoom } from '../../queue/waiting-room';
import { requireUser } from '../auth';
import type { RouteDeps } from '../deps';
import { idempotent } from '../idempotency';
import { queueToken, queueTokenCheckedByUseCase } from '../queue-guard';
import { ActionLimit, actionLimits } from '../rate-limit';
import { headersDocumentedOnly, limited, router, secured, type Guards } from '../router';
import { bearer, bearerAndQueueToken, idempotencyHeader, limitQuery, problems, rateLimited, Uuid } from '../schemas';
import { runInTemporalScope, type TemporalScope } from '../temporal-context';
import { HOLD_ENDPOINT } from '../use-cases/hold';
import { ownReservation, publicView } from '../use-cases/views';

export { ownReservation, publicView };

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
  description:
    '409 SEAT_UNAVAILABLE when the seat is held or sold, 409 HOLD_LIMIT_REACHED at MAX_HOLDS_PER_FAN live holds in ' +
    'this session, 409 PURCHASE_LIMIT_REACHED when the fan’s seats in this concert (sold plus live holds, across all ' +
    'their sessions) are at the concert’s purchase limit (`maxSeatsPerFan`).',
  security: bearerAndQueueToken,
  request: { headers: idempotencyHeader, body: { required: true, content: { 'application/json': { schema: HoldRequest } } } },
  responses: { 201: { description: 'Held', content: json }, ...problems(400, 401, 403, 404, 409, 413, 422, 503), ...rateLimited },
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
  request: { headers: idempotencyHeader, params: z.object({ reservationId: Uuid }) },
  responses: { 200: { description: 'Cancelled', content: json }, ...problems(400, 401, 403, 404, 409, 413, 422, 503), ...rateLimited },
});

/** The queue token is checked for its owner here; the use case decides what a non-ACTIVE one may still do. */
export function reservationGuards(deps: RouteDeps): Guards {
  return { Bearer: requireUser(deps.config.AUTH_SECRET), QueueToken: queueToken(new WaitingRoom(deps.redis), { requireActive: false }) };
}

/**
 * The hold's use case checks the queue token in the same script that claims the seat's gate (one
 * round trip for a contested seat's loser), and decides what a non-ACTIVE one may still do (replay a
 * resumed key's hold).
 */
function holdGuards(deps: RouteDeps): Guards {
  return { Bearer: requireUser(deps.config.AUTH_SECRET), QueueToken: queueTokenCheckedByUseCase() };
}

export function reservationRoutes(deps: RouteDeps) {
  const app = router();
  const { reservations, idempotency, holdSeat, cancelHold } = deps.useCases;
  const guards = reservationGuards(deps);
  // Holds and their cancellations spend one budget: a hold/cancel loop is two journey updates a seat
  // and sells nothing (bench abuse-loop), while a fan who buys makes a few of either.
  const holdsAndCancels = new ActionLimit(deps.redis, 'hold', actionLimits(deps.config, 'hold'));

  return app
    .openapi(headersDocumentedOnly(app, secured(limited(hold, { middleware: holdsAndCancels.handedToHandler }), holdGuards(deps))), async (c) => {
      const body = c.req.valid('json');
      const limit = c.get('actionCount');
      // A keyed request claims its key in PostgreSQL first: the limit is taken before that.
      if (c.req.header('idempotency-key') !== undefined) await limit.take();
      const holder = { userId: c.get('userId'), queueToken: c.req.header('x-queue-token'), limit };
      const temporalScope: TemporalScope = (fn) => runInTemporalScope(deps.temporal, c.get('requestId'), fn);
      return idempotent(c, idempotency, HOLD_ENDPOINT, body, async (key, resumed) => ({
        status: 201,
        body: await holdSeat(holder, body, key === undefined ? undefined : { key, resumed: resumed === true }, temporalScope),
      })) as never;
    })
    .openapi(secured(list, guards), async (c) => {
      const { status, limit, cursor } = c.req.valid('query');
      const decoded = cursor ? decodeReservationCursor(cursor) : undefined;
      if (decoded === null) throw new DomainError('VALIDATION_FAILED', 'cursor: not a cursor this API returned');
      const page = await reservations.listForUser(c.get('userId'), { status, limit, cursor: decoded });
      return c.json({ items: page.items.map(publicView), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
    })
    .openapi(secured(read, guards), async (c) => {
      const reservation = await ownReservation(reservations, c.req.valid('param').reservationId, c.get('userId'));
      return c.json(publicView(reservation), 200);
    })
    .openapi(secured(limited(cancel, holdsAndCancels), guards), async (c) => {
      const { reservationId } = c.req.valid('param');
      return idempotent(c, idempotency, 'DELETE /reservations/{reservationId}', { reservationId }, async () => ({
        status: 200,
        body: await cancelHold(c.get('userId'), reservationId),
      })) as never;
    });
}
