import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CatalogStore } from '../../db/stores/catalog';
import { IdempotencyStore } from '../../db/stores/idempotency';
import { TicketStore } from '../../db/stores/tickets';
import { AfterSale } from '../../lib/after-sale';
import { DEFAULT_REFUND_POLICY, policyProblem } from '../../lib/refund-policy';
import { DomainError } from '../../lib/domain-error';
import { Journeys } from '../../lib/journeys';
import { WaitingRoom } from '../../queue/waiting-room';
import { MAX_REFUND_RATE_PER_SECOND, type QueueState } from '../../workflows/definitions';
import { MAX_ADMIT_PER_SEAT } from '../../workflows/queue-settings';
import { requireAdmin } from '../auth';
import type { AppDeps } from '../deps';
import { idempotent } from '../idempotency';
import { router } from '../router';
import { requestScopedId, uuidV5 } from '../use-cases/request-ids';
import { adminKey, idempotencyHeader, IsoTime, problems, Text, Uuid } from '../schemas';

const DAY = 24 * 3600 * 1000;
/** The operator's Idempotency-Keys are scoped to this id (the records' owner), as a fan's are to the fan. */
export const OPERATOR_ID = '00000000-0000-0000-0000-000000000000';
const CREATE_CONCERT_ENDPOINT = 'POST /admin/concerts';

const RefundPolicy = z
  .object({
    cutoffHours: z.number().min(0).max(24 * 365).openapi({ description: 'No cancellation within this many hours of the show (409 CANCELLATION_CLOSED)' }),
    tiers: z
      .array(
        z.object({
          hoursBefore: z.number().min(0).max(24 * 365),
          feePercent: z.number().int().min(0).max(100),
        }),
      )
      .min(1)
      .max(20)
      .openapi({ description: 'The tier with the greatest hoursBefore the fan is still at or above sets the fee; { hoursBefore: N, feePercent: 0 } is a full refund until N hours before' }),
  })
  .openapi('RefundPolicy', {
    description: `A fan’s refund when they cancel a paid ticket, copied onto each payment at purchase. Default: ${JSON.stringify(DEFAULT_REFUND_POLICY)}`,
  });

const NewConcert = z
  .object({
    title: Text(1, 200),
    refundPolicy: RefundPolicy.optional(),
    description: Text(0, 5000).optional(),
    schedules: z
      .array(
        z.object({
          startsAt: IsoTime,
          bookingOpensAt: IsoTime.optional(),
          bookingClosesAt: IsoTime.optional(),
          seatCount: z.number().int().min(1).max(100_000),
          price: z.number().int().min(0).max(100_000_000),
        }),
      )
      .min(1)
      .max(100),
  })
  .openapi('NewConcert');

const CreatedConcert = z
  .object({
    concertId: z.string(),
    schedules: z.array(
      z.object({ scheduleId: z.string(), startsAt: z.string(), bookingOpensAt: z.string(), bookingClosesAt: z.string(), totalSeats: z.number().int() }),
    ),
  })
  .openapi('CreatedConcert');

const AdmitRate = z.number().gt(0).max(10_000);
const AdmitPerSeat = z.number().gt(0).max(MAX_ADMIT_PER_SEAT).openapi({
  description:
    'Admitted fans per seat left to buy (bookable plus held): the queue keeps at most ceil(seats left × this) fans active. ' +
    'Default QUEUE_ADMIT_PER_SEAT_FACTOR (1: no more fans choosing than seats to choose from); raise it for a crowd that often leaves without buying',
});

const SeatsLeft = z
  .object({
    bookable: z.number().int().openapi({ description: 'Available, or held past the hold’s deadline + grace' }),
    held: z.number().int().openapi({ description: 'Held by a live hold: back on sale if it lapses or is cancelled' }),
  })
  .openapi('SeatsLeft', { description: 'The seats left to buy in the concert’s schedules on sale, as the controller’s last tick counted them' });

export const AdmissionHeld = z.enum(['PAUSED_BY_OPERATOR', 'ALL_SEATS_HELD', 'ADMITTED_UP_TO_SEATS_LEFT']).openapi('AdmissionHeld', {
  description:
    'Why waiting fans are not admitted while the queue is open: the operator paused it; every seat left is held (admission ' +
    'resumes when a hold lapses or is cancelled); or as many fans are active as the seats left allow (admitPerSeat)',
});

const QueueSettings = z
  .object({
    admitPerSecond: AdmitRate.optional(),
    maxActive: z.number().int().min(1).max(1_000_000).optional(),
    paused: z.boolean().optional(),
    adaptive: z.boolean().optional().openapi({ description: 'When true, the controller moves admitPerSecond within the bounds by itself' }),
    minAdmitPerSecond: AdmitRate.optional(),
    maxAdmitPerSecond: AdmitRate.optional(),
    admitPerSeat: AdmitPerSeat.optional(),
  })
  .refine((s) => s.minAdmitPerSecond === undefined || s.maxAdmitPerSecond === undefined || s.minAdmitPerSecond <= s.maxAdmitPerSecond, {
    message: 'minAdmitPerSecond must not exceed maxAdmitPerSecond',
    path: ['minAdmitPerSecond'],
  })
  .openapi('QueueSettings');

const RateAdjustment = z
  .object({ at: z.string(), from: z.number(), to: z.number(), reason: z.string() })
  .openapi('RateAdjustment', { description: 'The adaptive valve’s last change of admitPerSecond: when, from, to, and why' });

const QueueView = z
  .object({
    admitPerSecond: z.number(),
    maxActive: z.number().int(),
    paused: z.boolean(),
    waiting: z.number().int(),
    active: z.number().int(),
    adaptive: z.boolean(),
    minAdmitPerSecond: z.number(),
    maxAdmitPerSecond: z.number(),
    lastAdjustment: RateAdjustment.optional(),
    admitPerSeat: z.number().optional(),
    seatsLeft: SeatsLeft.optional(),
    admissionHeld: AdmissionHeld.optional(),
    soldOut: z.boolean().optional().openapi({ description: 'Every seat is sold: the queue is closed (SOLD_OUT) and its controller has ended' }),
  })
  .openapi('QueueView');

const ShowCancellationRequest = z
  .object({
    scheduleId: Uuid.optional().openapi({ description: 'Cancel only this schedule; without it, the whole concert' }),
    ratePerSecond: z.number().min(1).max(MAX_REFUND_RATE_PER_SECOND).default(200).openapi({ description: 'Tickets refunded per second at most' }),
    batchSize: z.number().int().min(1).max(1000).default(100).openapi({ description: 'Tickets per batch (one SQL transaction each)' }),
  })
  .openapi('ShowCancellationRequest');

const ShowCancellation = z
  .object({
    concertId: z.string(),
    scheduleId: z.string().optional(),
    scheduleIds: z.array(z.string()),
    status: z.enum(['CLOSING', 'REFUNDING', 'COMPLETED']),
    ratePerSecond: z.number(),
    total: z.number().int().openapi({ description: 'Paid tickets when the cancellation began' }),
    refunded: z.number().int(),
    remaining: z.number().int(),
    amount: z.number().int().openapi({ description: 'KRW refunded so far' }),
    failures: z.number().int().openapi({ description: 'Batch attempts that failed and were retried' }),
    lastFailure: z.string().optional(),
    journeysEnded: z.number().int(),
    startedAt: z.string(),
    finishedAt: z.string().optional(),
  })
  .openapi('ShowCancellation');

const cancellationQuery = z.object({ scheduleId: Uuid.optional() });

const cancelShow = createRoute({
  method: 'post',
  path: '/admin/concerts/{concertId}/cancellation',
  tags: ['Operators'],
  summary: 'Call off a concert (or one schedule): sales close, live journeys end, every paid ticket is refunded in full',
  description: '202 with the progress when it started, 200 with the progress when it was already under way or done (idempotent).',
  security: adminKey,
  request: { params: z.object({ concertId: Uuid }), body: { required: false, content: { 'application/json': { schema: ShowCancellationRequest } } } },
  responses: {
    200: { description: 'Already cancelled or being cancelled', content: { 'application/json': { schema: ShowCancellation } } },
    202: { description: 'Cancellation started', content: { 'application/json': { schema: ShowCancellation } } },
    ...problems(400, 401, 404, 413, 503),
  },
});

const readCancellation = createRoute({
  method: 'get',
  path: '/admin/concerts/{concertId}/cancellation',
  tags: ['Operators'],
  summary: 'Progress of a show’s cancellation (the final report once it completed)',
  security: adminKey,
  request: { params: z.object({ concertId: Uuid }), query: cancellationQuery },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: ShowCancellation } } }, ...problems(400, 401, 404, 503) },
});

const steerCancellation = createRoute({
  method: 'put',
  path: '/admin/concerts/{concertId}/cancellation',
  tags: ['Operators'],
  summary: 'Change the refund rate of a running show cancellation',
  security: adminKey,
  request: {
    params: z.object({ concertId: Uuid }),
    query: cancellationQuery,
    body: { required: true, content: { 'application/json': { schema: z.object({ ratePerSecond: z.number().min(1).max(MAX_REFUND_RATE_PER_SECOND) }).openapi('RefundRate') } } },
  },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: ShowCancellation } } }, ...problems(400, 401, 404, 413, 503) },
});

const createConcert = createRoute({
  method: 'post',
  path: '/admin/concerts',
  tags: ['Operators'],
  summary: 'Create a concert with its schedules and seats, and open its queue',
  description:
    'With an Idempotency-Key a retry (say after a 503) answers the same concert, never a duplicate. The queue admits ' +
    'from the first join even when its admission controller could not be started with the concert (Temporal away): ' +
    'the first join starts it.',
  security: adminKey,
  request: { headers: idempotencyHeader, body: { required: true, content: { 'application/json': { schema: NewConcert } } } },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: CreatedConcert } } }, ...problems(400, 401, 413, 422, 503) },
});

const concertParam = z.object({ concertId: Uuid });

const readQueue = createRoute({
  method: 'get',
  path: '/admin/concerts/{concertId}/queue',
  tags: ['Operators'],
  summary: 'The queue’s settings and counts',
  security: adminKey,
  request: { params: concertParam },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: QueueView } } }, ...problems(400, 401, 404, 503) },
});

const steerQueue = createRoute({
  method: 'put',
  path: '/admin/concerts/{concertId}/queue',
  tags: ['Operators'],
  summary: 'Change the admission rate or capacity, pause or resume, turn the adaptive valve on or off and set its bounds, live',
  security: adminKey,
  request: { params: concertParam, body: { required: true, content: { 'application/json': { schema: QueueSettings } } } },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: QueueView } } }, ...problems(400, 401, 404, 413, 503) },
});

export function adminRoutes(deps: AppDeps) {
  const app = router();
  const catalog = new CatalogStore(deps.db);
  const journeys = new Journeys(deps.temporal, deps.config);
  const room = new WaitingRoom(deps.redis);
  const tickets = new TicketStore(deps.db);
  const afterSale = new AfterSale(deps.temporal, deps.config.TEMPORAL_TASK_QUEUE);
  const idempotency = new IdempotencyStore(deps.db);

  // The operators' namespace is guarded as a whole, not route by route (every route here declares
  // AdminKey): an unknown /admin path answers 401 like a known one, so a caller without the key
  // learns nothing of which operator routes exist.
  app.use('/admin/*', requireAdmin(deps.config.ADMIN_API_KEY));

  /** The controller's settings and its valve's last move, with the live counts from Redis. */
  const queueView = async (concertId: string, state: QueueState) => {
    const counts = await room.counts(concertId);
    const { admitPerSecond, maxActive, paused, adaptive, minAdmitPerSecond, maxAdmitPerSecond, lastAdjustment, admitPerSeat, seatsLeft, admissionHeld, soldOut } = state;
    return {
      admitPerSecond, maxActive, paused, adaptive, minAdmitPerSecond, maxAdmitPerSecond, ...counts, ...(lastAdjustment && { lastAdjustment }),
      ...(admitPerSeat !== undefined && { admitPerSeat }), ...(seatsLeft && { seatsLeft }), ...(admissionHeld && { admissionHeld }), ...(soldOut && { soldOut }),
    };
  };
  const controllerMissing = (err: unknown): never => {
    if (err instanceof WorkflowNotFoundError) throw new DomainError('NOT_FOUND', 'no such concert queue');
    throw err;
  };

  return app
    .openapi(createConcert, async (c) => {
      const body = c.req.valid('json');
      const problem = body.refundPolicy && policyProblem(body.refundPolicy);
      if (problem) throw new DomainError('VALIDATION_FAILED', problem);
      const now = Date.now();
      const schedules = body.schedules.map((s) => {
        const startsAt = new Date(s.startsAt);
        const bookingOpensAt = s.bookingOpensAt ? new Date(s.bookingOpensAt) : new Date(now);
        const bookingClosesAt = s.bookingClosesAt ? new Date(s.bookingClosesAt) : new Date(Math.max(startsAt.getTime(), now + DAY));
        if (bookingOpensAt >= bookingClosesAt) throw new DomainError('VALIDATION_FAILED', 'bookingOpensAt must be before bookingClosesAt');
        return { startsAt, bookingOpensAt, bookingClosesAt, seatCount: s.seatCount, price: s.price };
      });
      return idempotent(
        c,
        idempotency,
        CREATE_CONCERT_ENDPOINT,
        body,
        async (key) => {
          // With a key, the ids are the key's: a retry finds the concert the first attempt made.
          const concertId = requestScopedId(OPERATOR_ID, CREATE_CONCERT_ENDPOINT, key);
          const ids = key === undefined ? undefined : { concertId, scheduleIds: schedules.map((_, i) => uuidV5(`${concertId}\nschedule\n${i}`)) };
          // The controller's wake mark goes first: from the moment the concert is visible, the first
          // join takes the mark and starts its admission (signal-with-start), whether or not the
          // start below gets through. So there is never a concert nobody can be admitted to.
          await room.markControllerAsleep(concertId);
          const created = await catalog.createConcert({ title: body.title, description: body.description, schedules }, ids ?? { concertId, scheduleIds: schedules.map(() => randomUUID()) });
          if (body.refundPolicy) await tickets.setRefundPolicy(created.concertId, body.refundPolicy);
          await journeys.ensureAdmission(created.concertId);
          return { status: 201, body: { concertId: created.concertId, schedules: created.schedules } };
        },
        OPERATOR_ID,
      ) as never;
    })
    .openapi(readQueue, async (c) => {
      const { concertId } = c.req.valid('param');
      const state = await journeys.queueState(concertId).catch(controllerMissing);
      return c.json(await queueView(concertId, state), 200);
    })
    .openapi(steerQueue, async (c) => {
      const { concertId } = c.req.valid('param');
      const state = await journeys.updateQueue(concertId, c.req.valid('json')).catch(controllerMissing);
      return c.json(await queueView(concertId, state), 200);
    })
    .openapi(cancelShow, async (c) => {
      const { concertId } = c.req.valid('param');
      // Without a body (none is required) every default applies.
      const parsed = ShowCancellationRequest.safeParse(c.req.valid('json') ?? {});
      if (!parsed.success) throw new DomainError('VALIDATION_FAILED', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const body = parsed.data;
      if (!(await tickets.scheduleIds(concertId, body.scheduleId)).length) throw new DomainError('NOT_FOUND', 'no such concert or schedule');
      const { started } = await afterSale.cancelShow({ concertId, ...body });
      return c.json(await afterSale.showProgress(concertId, body.scheduleId), started ? 202 : 200);
    })
    .openapi(readCancellation, async (c) => {
      const { concertId } = c.req.valid('param');
      return c.json(await afterSale.showProgress(concertId, c.req.valid('query').scheduleId), 200);
    })
    .openapi(steerCancellation, async (c) => {
      const { concertId } = c.req.valid('param');
      return c.json(await afterSale.setRefundRate(concertId, c.req.valid('query').scheduleId, c.req.valid('json').ratePerSecond), 200);
    });
}
