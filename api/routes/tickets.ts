import { createRoute, z } from '@hono/zod-openapi';
import { IdempotencyStore } from '../../db/stores/idempotency';
import { decodeTicketCursor, TicketStore } from '../../db/stores/tickets';
import { AfterSale } from '../../lib/after-sale';
import { DomainError } from '../../lib/domain-error';
import { requireUser } from '../auth';
import type { AppDeps } from '../deps';
import { idempotent } from '../idempotency';
import { ActionLimit, actionLimits } from '../rate-limit';
import { limited, router, secured } from '../router';
import { bearer, idempotencyHeader, limitQuery, problems, rateLimited, Uuid } from '../schemas';

const Refund = z
  .object({
    amount: z.number().int().openapi({ description: 'KRW given back to the wallet' }),
    fee: z.number().int().openapi({ description: 'KRW kept under the refund policy (0 for a show the operator cancelled)' }),
    reason: z.enum(['FAN_CANCELLED', 'SHOW_CANCELLED']),
    refundedAt: z.string(),
  })
  .openapi('Refund');

const Ticket = z
  .object({
    reservationId: z.string(),
    concertId: z.string(),
    concertTitle: z.string(),
    scheduleId: z.string(),
    startsAt: z.string(),
    seatNumber: z.number().int(),
    price: z.number().int(),
    status: z.enum(['CONFIRMED', 'CANCELLED']),
    paymentId: z.string(),
    paidAt: z.string(),
    showCancelled: z.boolean().openapi({ description: 'The operator called this show off; its tickets are refunded in full' }),
    refund: Refund.optional(),
  })
  .openapi('Ticket');
const TicketPage = z.object({ items: z.array(Ticket), nextCursor: z.string().optional() }).openapi('TicketPage');

const TicketCancellation = z
  .object({
    reservationId: z.string(),
    paymentId: z.string(),
    status: z.literal('CANCELLED'),
    paymentStatus: z.enum(['REFUNDED', 'PARTIALLY_REFUNDED']),
    paid: z.number().int(),
    refunded: z.number().int(),
    fee: z.number().int(),
    refundedAt: z.string(),
  })
  .openapi('TicketCancellation');

const list = createRoute({
  method: 'get',
  path: '/tickets',
  tags: ['Tickets'],
  summary: 'My paid tickets, kept or cancelled, newest purchase first',
  security: bearer,
  request: { query: z.object({ limit: limitQuery(50, 100), cursor: z.string().max(200).optional() }) },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: TicketPage } } }, ...problems(400, 401, 503) },
});

const cancel = createRoute({
  method: 'post',
  path: '/tickets/{reservationId}/cancellation',
  tags: ['Tickets'],
  summary: 'Give a paid ticket back: refunded under the concert’s refund policy, the seat back on sale',
  description:
    '409 CANCELLATION_CLOSED within the policy’s cut-off before the show, 409 TICKET_ALREADY_CANCELLED for a ticket ' +
    'already cancelled, 409 TICKET_NOT_PAID for a reservation that was never paid. Concurrent requests for one ticket ' +
    'share one cancellation and one refund.',
  security: bearer,
  request: { params: z.object({ reservationId: Uuid }), headers: idempotencyHeader },
  responses: {
    200: { description: 'Cancelled and refunded', content: { 'application/json': { schema: TicketCancellation } } },
    ...problems(400, 401, 403, 404, 409, 413, 422, 503),
    ...rateLimited,
  },
});

/**
 * A fan's paid tickets after the sale: "my tickets", and giving one back. The cancellation runs as a
 * Temporal workflow per ticket (lib/after-sale.ts); the checks here only answer early what the
 * workflow's transaction would refuse anyway.
 */
export function ticketRoutes(deps: AppDeps) {
  const app = router();
  const tickets = new TicketStore(deps.db);
  const idempotency = new IdempotencyStore(deps.db);
  const afterSale = new AfterSale(deps.temporal, deps.config.TEMPORAL_TASK_QUEUE);
  const guards = { Bearer: requireUser(deps.config.AUTH_SECRET) };
  const cancelLimit = new ActionLimit(deps.redis, 'ticket-cancel', actionLimits(deps.config, 'ticket-cancel'));

  return app
    .openapi(secured(list, guards), async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const decoded = cursor ? decodeTicketCursor(cursor) : undefined;
      if (decoded === null) throw new DomainError('VALIDATION_FAILED', 'cursor: not a cursor this API returned');
      const page = await tickets.listForUser(c.get('userId'), limit, decoded);
      return c.json({ items: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
    })
    .openapi(secured(limited(cancel, cancelLimit), guards), async (c) => {
      const { reservationId } = c.req.valid('param');
      const userId = c.get('userId');
      return idempotent(c, idempotency, 'POST /tickets/{reservationId}/cancellation', { reservationId }, async () => {
        const requestedAt = new Date();
        const { concertId } = await tickets.assertCancellable(reservationId, userId, requestedAt);
        const result = await afterSale.cancelTicket({ reservationId, userId, concertId, requestedAt: requestedAt.toISOString() });
        return { status: 200, body: result };
      }) as never;
    });
}
