import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../deps';
import { idempotent } from '../idempotency';
import { ActionLimit, actionLimits } from '../rate-limit';
import { limited, router, secured } from '../router';
import { bearerAndQueueToken, idempotencyHeader, problems, rateLimited, Uuid } from '../schemas';
import { PAY_ENDPOINT } from '../use-cases/pay';
import { reservationGuards } from './reservations';

/** Most seats one order may name in the schema; the live-hold limit (MAX_HOLDS_PER_FAN) is the real bound. */
const MAX_ORDER_IDS = 100;

const PayRequest = z
  .object({
    reservationId: Uuid.optional().openapi({ description: 'Pay one held seat (an order of one).' }),
    reservationIds: z
      .array(Uuid)
      .min(1)
      .max(MAX_ORDER_IDS)
      .optional()
      .openapi({ description: 'Pay several held seats of this session in one order: 1 to MAX_HOLDS_PER_FAN (4) distinct ids.' }),
  })
  .refine((body) => (body.reservationId === undefined) !== (body.reservationIds === undefined), {
    message: 'give either reservationId or reservationIds',
  })
  .refine((body) => !body.reservationIds || new Set(body.reservationIds).size === body.reservationIds.length, {
    message: 'reservationIds must name each seat once',
    path: ['reservationIds'],
  })
  .openapi('PayRequest');
const Payment = z
  .object({
    paymentId: z.string(),
    reservationId: z.string().openapi({ description: 'The order’s first seat (its only one in a one-seat order).' }),
    reservationIds: z
      .array(z.string())
      .optional()
      .openapi({ description: 'Every seat the order bought, in the order the request named them (absent only in answers recorded before orders of several seats existed).' }),
    amount: z.number().int().openapi({ description: 'The order’s total: one debit of the wallet.' }),
    status: z.literal('COMPLETED'),
    balance: z.number().int(),
  })
  .openapi('Payment');

const pay = createRoute({
  method: 'post',
  path: '/payments',
  tags: ['Payments'],
  summary: 'Pay one held reservation, or an order of several, from my wallet',
  description:
    '`{ "reservationId" }` pays one held seat; `{ "reservationIds": [...] }` pays 1 to MAX_HOLDS_PER_FAN (4) of the ' +
    'fan’s live holds of this session as one order, all or nothing: one debit of the total (one PAYMENT ledger entry ' +
    'naming the reservations), every seat confirmed in one database transaction, and on any failure the money goes back ' +
    'and no seat is sold (the holds stay until their deadlines). 409 HOLD_EXPIRED when a seat’s hold expired, ' +
    '409 RESERVATION_NOT_PAYABLE when one is paid, cancelled or held in another session, 409 INSUFFICIENT_BALANCE when ' +
    'the wallet does not cover the total (nothing debited). After success every seat is SOLD, the reservations ' +
    'CONFIRMED, the other live holds released and the queue token COMPLETED. With an Idempotency-Key a retry answers ' +
    'the same receipt, also after the session ended.',
  security: bearerAndQueueToken,
  request: { headers: idempotencyHeader, body: { required: true, content: { 'application/json': { schema: PayRequest } } } },
  responses: { 201: { description: 'Paid', content: { 'application/json': { schema: Payment } } }, ...problems(400, 401, 403, 404, 409, 413, 422, 503), ...rateLimited },
});

export function paymentRoutes(deps: RouteDeps) {
  const app = router();
  const { idempotency, pay: payReservation } = deps.useCases;
  const payLimit = new ActionLimit(deps.redis, 'pay', actionLimits(deps.config, 'pay'));
  return app.openapi(secured(limited(pay, payLimit), reservationGuards(deps)), async (c) => {
    const body = c.req.valid('json');
    return idempotent(c, idempotency, PAY_ENDPOINT, body, async (key) => ({
      status: 201,
      body: await payReservation(c.get('ticket'), body.reservationIds ?? body.reservationId!, key),
    })) as never;
  });
}
