import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CatalogStore } from '../../db/stores/catalog';
import { DomainError } from '../../lib/domain-error';
import { Journeys } from '../../lib/journeys';
import { WaitingRoom } from '../../queue/waiting-room';
import type { QueueState } from '../../workflows/definitions';
import { requireAdmin } from '../auth';
import type { AppDeps } from '../deps';
import { router } from '../router';
import { adminKey, IsoTime, problems, Text, Uuid } from '../schemas';

const DAY = 24 * 3600 * 1000;

const NewConcert = z
  .object({
    title: Text(1, 200),
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

const QueueSettings = z
  .object({
    admitPerSecond: AdmitRate.optional(),
    maxActive: z.number().int().min(1).max(1_000_000).optional(),
    paused: z.boolean().optional(),
    adaptive: z.boolean().optional().openapi({ description: 'When true, the controller moves admitPerSecond within the bounds by itself' }),
    minAdmitPerSecond: AdmitRate.optional(),
    maxAdmitPerSecond: AdmitRate.optional(),
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
  })
  .openapi('QueueView');

const createConcert = createRoute({
  method: 'post',
  path: '/admin/concerts',
  tags: ['Operators'],
  summary: 'Create a concert with its schedules and seats, and open its queue',
  security: adminKey,
  request: { body: { required: true, content: { 'application/json': { schema: NewConcert } } } },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: CreatedConcert } } }, ...problems(400, 401, 413, 503) },
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

  app.use('/admin/*', requireAdmin(deps.config.ADMIN_API_KEY));

  /** The controller's settings and its valve's last move, with the live counts from Redis. */
  const queueView = async (concertId: string, state: QueueState) => {
    const counts = await room.counts(concertId);
    const { admitPerSecond, maxActive, paused, adaptive, minAdmitPerSecond, maxAdmitPerSecond, lastAdjustment } = state;
    return { admitPerSecond, maxActive, paused, adaptive, minAdmitPerSecond, maxAdmitPerSecond, ...counts, ...(lastAdjustment && { lastAdjustment }) };
  };
  const controllerMissing = (err: unknown): never => {
    if (err instanceof WorkflowNotFoundError) throw new DomainError('NOT_FOUND', 'no such concert queue');
    throw err;
  };

  return app
    .openapi(createConcert, async (c) => {
      const body = c.req.valid('json');
      const now = Date.now();
      const schedules = body.schedules.map((s) => {
        const startsAt = new Date(s.startsAt);
        const bookingOpensAt = s.bookingOpensAt ? new Date(s.bookingOpensAt) : new Date(now);
        const bookingClosesAt = s.bookingClosesAt ? new Date(s.bookingClosesAt) : new Date(Math.max(startsAt.getTime(), now + DAY));
        if (bookingOpensAt >= bookingClosesAt) throw new DomainError('VALIDATION_FAILED', 'bookingOpensAt must be before bookingClosesAt');
        return { startsAt, bookingOpensAt, bookingClosesAt, seatCount: s.seatCount, price: s.price };
      });
      const created = await catalog.createConcert({ title: body.title, description: body.description, schedules });
      await journeys.ensureAdmission(created.concertId);
      return c.json(created, 201);
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
    });
}
