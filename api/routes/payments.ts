import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { IdempotencyStore } from '../../db/stores/idempotency';
import { ReservationStore } from '../../db/stores/reservations';
import { DomainError } from '../../lib/domain-error';
import { journeyClosed, Journeys } from '../../lib/journeys';
import { LatencyWindow } from '../../queue/latency-window';
import { WaitingRoom } from '../../queue/waiting-room';
import { requireUser } from '../auth';
import type { AppDeps } from '../deps';
import { idempotent } from '../idempotency';
import { toProblem } from '../problem';
import { assertTicketFor, queueToken } from '../queue-guard';
import { router } from '../router';
import { bearerAndQueueToken, idempotencyHeader, problems, Uuid } from '../schemas';
import { ownReservation } from './reservations';

const PayRequest = z.object({ reservationId: Uuid }).openapi('PayRequest');
const Payment = z
  .object({
    paymentId: z.string(),
    reservationId: z.string(),
    amount: z.number().int(),
    status: z.literal('COMPLETED'),
    balance: z.number().int(),
  })
  .openapi('Payment');

const pay = createRoute({
  method: 'post',
  path: '/payments',
  tags: ['Payments'],
  summary: 'Pay a held reservation from my wallet',
  security: bearerAndQueueToken,
  request: { headers: idempotencyHeader, body: { required: true, content: { 'application/json': { schema: PayRequest } } } },
  responses: { 201: { description: 'Paid', content: { 'application/json': { schema: Payment } } }, ...problems(400, 401, 403, 404, 409, 413, 422, 503) },
});

export function paymentRoutes(deps: AppDeps) {
  const app = router();
  const room = new WaitingRoom(deps.redis);
  const reservations = new ReservationStore(deps.db, deps.config.HOLD_GRACE_SECONDS);
  const idempotency = new IdempotencyStore(deps.db);
  const journeys = new Journeys(deps.temporal, deps.config, new LatencyWindow(deps.redis));

  app.use('/payments', requireUser(deps.config.AUTH_SECRET), queueToken(room, { requireActive: true }));

  return app.openapi(pay, async (c) => {
    const body = c.req.valid('json');
    return idempotent(c, idempotency, 'POST /payments', body, async () => {
      const reservation = await ownReservation(reservations, body.reservationId, c.get('userId'));
      assertTicketFor(c.get('ticket'), reservation.concertId);
      if (reservation.status === 'EXPIRED') throw new DomainError('HOLD_EXPIRED', 'the hold expired before the payment');
      if (reservation.status !== 'HELD') throw new DomainError('RESERVATION_NOT_PAYABLE', `the reservation is ${reservation.status}`);
      try {
        const receipt = await journeys.pay(reservation.journeyId, { reservationId: reservation.reservationId, paymentId: randomUUID() });
        deps.metrics.payments.inc({ outcome: 'completed' });
        return { status: 201, body: receipt };
      } catch (err) {
        deps.metrics.payments.inc({ outcome: toProblem(err).code.toLowerCase() });
        if (!journeyClosed(err)) throw err;
        // The journey that held it has ended (paid, expired or left): the row says how.
        const now = await ownReservation(reservations, body.reservationId, c.get('userId'));
        if (now.status === 'CONFIRMED' || now.status === 'CANCELLED') throw new DomainError('RESERVATION_NOT_PAYABLE', `the reservation is ${now.status}`);
        throw new DomainError('HOLD_EXPIRED', 'the hold expired before the payment');
      }
    }) as never;
  });
}
