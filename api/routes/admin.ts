import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CatalogStore } from '../../db/stores/catalog';
import { IdempotencyStore } from '../../db/stores/idempotency';
import { PurchaseLimitStore } from '../../db/stores/purchase-limits';
import { TicketStore } from '../../db/stores/tickets';
import { AfterSale } from '../../lib/after-sale';
import { DEFAULT_REFUND_POLICY, policyProblem } from '../../lib/refund-policy';
import { DomainError } from '../../lib/domain-error';
import { Journeys } from '../../lib/journeys';
import { newQueueSeed } from '../../queue/fair-start';
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

const MaxSeatsPerFan = z
  .number()
  .int()
  .min(1)
  .max(1000)
  .openapi({
    description:
      'The purchase limit: seats one fan may have in this concert, sold plus live holds, across all their journeys and ' +
      're-queues (a hold beyond it is 409 PURCHASE_LIMIT_REACHED). Released, expired and cancelled holds and cancelled ' +
      'tickets give their seats back. Default: MAX_SEATS_PER_FAN (8).',
  });

const PurchaseLimit = z.object({ concertId: z.string(), maxSeatsPerFan: z.number().int() }).openapi('PurchaseLimit');

const NewConcert = z
  .object({
    title: Text(1, 200),
    refundPolicy: RefundPolicy.optional(),
    maxSeatsPerFan: MaxSeatsPerFan.optional(),
    description: Text(0, 5000).optional(),
    salesOpenAt: IsoTime.optional().openapi({
      description:
        'When the sales open (default: now, no pre-queue). Fans who join before it are pre-queued (status PRE_QUEUE, no ' +
        'position) and at the opening ordered by a random permutation of a secret seed, published after the opening by ' +
        'GET /admin/concerts/{concertId}/queue/seed; fans who join later queue behind them in arrival order.',
    }),
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
    maxSeatsPerFan: z.number().int(),
    salesOpenAt: z.string().optional(),
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

const readPurchaseLimit = createRoute({
  method: 'get',
  path: '/admin/concerts/{concertId}/purchase-limit',
  tags: ['Operators'],
  summary: 'The concert’s purchase limit per fan',
  security: adminKey,
  request: { params: concertParam },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: PurchaseLimit } } }, ...problems(400, 401, 404, 503) },
});

const setPurchaseLimit = createRoute({
  method: 'put',
  path: '/admin/concerts/{concertId}/purchase-limit',
  tags: ['Operators'],
  summary: 'Change the concert’s purchase limit per fan, live',
  description:
    'Applies to every hold from now on, in every journey of the concert. Lowering it below what a fan already has ' +
    'takes nothing back: that fan’s next hold is refused until they are under it again.',
  security: adminKey,
  request: { params: concertParam, body: { required: true, content: { 'application/json': { schema: z.object({ maxSeatsPerFan: MaxSeatsPerFan }).openapi('PurchaseLimitChange') } } } },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: PurchaseLimit } } }, ...problems(400, 401, 404, 413, 503) },
});

const QueueSeed = z
  .object({
    concertId: z.string(),
    salesOpenAt: z.string(),
    seed: z.string().nullable().openapi({ description: 'Hex; null for a concert created before pre-queues existed (it had none)' }),
    algorithm: z.string(),
  })
  .openapi('QueueSeed', {
    description:
      'The pre-queue’s order, reproducible by anyone: each pre-queued fan’s score is the first 52 bits of ' +
      'HMAC-SHA256(key = the seed’s bytes, message = the userId in UTF-8) divided by 2^52; fans are admitted by ' +
      'ascending score (ties by userId), then every later fan by arrival.',
  });

const readSeed = createRoute({
  method: 'get',
  path: '/admin/concerts/{concertId}/queue/seed',
  tags: ['Operators'],
  summary: 'The seed of the pre-queue’s random order, once the sales have opened',
  description: 'Secret until `salesOpenAt`: before it, 409 `SALES_NOT_OPEN`.',
  security: adminKey,
  request: { params: concertParam },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: QueueSeed } } }, ...problems(400, 401, 404, 409, 503) },
});

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
  description:
    'Answers once the change is in force: an admission tick already running under the old settings ends first, so after a ' +
    'pause’s 200 nobody is admitted until the queue is resumed.',
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
  const purchaseLimits = new PurchaseLimitStore(deps.db);

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
      const salesOpenAt = body.salesOpenAt ? new Date(body.salesOpenAt) : undefined;
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
          const created = await catalog.createConcert(
            { title: body.title, description: body.description, schedules, salesOpenAt, queueSeed: newQueueSeed() },
            ids ?? { concertId, scheduleIds: schedules.map(() => randomUUID()) },
          );
          if (body.refundPolicy) await tickets.setRefundPolicy(created.concertId, body.refundPolicy);
          const maxSeatsPerFan = body.maxSeatsPerFan ?? deps.config.MAX_SEATS_PER_FAN;
          await purchaseLimits.set(created.concertId, maxSeatsPerFan);
          await journeys.ensureAdmission(created.concertId);
          const opening = await catalog.fairStart(created.concertId);
          const opensAt = new Date(opening?.opensAtMs ?? now).toISOString();
          return { status: 201, body: { concertId: created.concertId, maxSeatsPerFan, salesOpenAt: opensAt, schedules: created.schedules } };
        },
        OPERATOR_ID,
      ) as never;
    })
    .openapi(readPurchaseLimit, async (c) => {
      const { concertId } = c.req.valid('param');
      const maxSeatsPerFan = await purchaseLimits.get(concertId);
      if (maxSeatsPerFan === null) throw new DomainError('NOT_FOUND', 'no such concert');
      return c.json({ concertId, maxSeatsPerFan }, 200);
    })
    .openapi(setPurchaseLimit, async (c) => {
      const { concertId } = c.req.valid('param');
      const { maxSeatsPerFan } = c.req.valid('json');
      if (!(await purchaseLimits.set(concertId, maxSeatsPerFan))) throw new DomainError('NOT_FOUND', 'no such concert');
      return c.json({ concertId, maxSeatsPerFan }, 200);
    })
    .openapi(readSeed, async (c) => {
      const { concertId } = c.req.valid('param');
      const opening = await catalog.fairStart(concertId);
      if (!opening) throw new DomainError('NOT_FOUND', 'no such concert');
      if (Date.now() < opening.opensAtMs) throw new DomainError('SALES_NOT_OPEN', 'the seed stays secret until the sales open');
      return c.json({
        concertId,
        salesOpenAt: new Date(opening.opensAtMs).toISOString(),
        seed: opening.seed,
        algorithm: 'HMAC-SHA256(seed, userId): first 52 bits / 2^52, ascending, ties by userId',
      }, 200);
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
