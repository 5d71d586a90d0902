import { createRoute, z } from '@hono/zod-openapi';
import type { RouteDeps } from '../deps';
import { idempotent } from '../idempotency';
import { ActionLimit, actionLimits } from '../rate-limit';
import { limited, router, secured } from '../router';
import { bearerAndQueueToken, idempotencyHeader, problems, rateLimited, Uuid } from '../schemas';
import { PAY_ENDPOINT } from '../use-cases/pay';
import { reservationGuards } from './reservations';

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
      body: await payReservation(c.get('ticket'), body.reservationId, key),
    })) as never;
  });
}
