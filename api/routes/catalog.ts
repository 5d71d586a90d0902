import { createRoute, z } from '@hono/zod-openapi';
import { CatalogStore, type ScheduleRef } from '../../db/stores/catalog';
import { DomainError } from '../../lib/domain-error';
import { WaitingRoom } from '../../queue/waiting-room';
import { requireUser } from '../auth';
import type { AppDeps } from '../deps';
import { assertTicketFor, queueToken } from '../queue-guard';
import { router } from '../router';
import { bearerAndQueueToken, limitQuery, problems, Uuid } from '../schemas';

const ConcertList = z
  .object({
    items: z.array(
      z.object({
        concertId: z.string(),
        title: z.string(),
        description: z.string().optional(),
        schedules: z.array(z.object({ scheduleId: z.string(), startsAt: z.string() })),
      }),
    ),
  })
  .openapi('ConcertList');

const ScheduleList = z
  .object({
    items: z.array(
      z.object({
        scheduleId: z.string(),
        startsAt: z.string(),
        bookingOpensAt: z.string(),
        bookingClosesAt: z.string(),
        totalSeats: z.number().int(),
        availableSeats: z.number().int(),
      }),
    ),
  })
  .openapi('ScheduleList');

const SeatPage = z
  .object({
    scheduleId: z.string(),
    items: z.array(z.object({ seatId: z.string(), seatNumber: z.number().int(), price: z.number().int(), status: z.enum(['AVAILABLE', 'HELD', 'SOLD']) })),
    nextCursor: z.string().optional(),
  })
  .openapi('SeatPage');

const listConcerts = createRoute({
  method: 'get',
  path: '/concerts',
  tags: ['Catalog'],
  summary: 'Concerts with their schedules',
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: ConcertList } } }, ...problems(503) },
});

const listSchedules = createRoute({
  method: 'get',
  path: '/concerts/{concertId}/schedules',
  tags: ['Catalog'],
  summary: 'Bookable dates (booking window open now) with available-seat counts',
  security: bearerAndQueueToken,
  request: { params: z.object({ concertId: Uuid }) },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: ScheduleList } } }, ...problems(400, 401, 403, 503) },
});

const listSeats = createRoute({
  method: 'get',
  path: '/schedules/{scheduleId}/seats',
  tags: ['Catalog'],
  summary: 'Seats of a schedule by number, in pages',
  security: bearerAndQueueToken,
  request: {
    params: z.object({ scheduleId: Uuid }),
    query: z.object({
      status: z.enum(['AVAILABLE', 'HELD', 'SOLD']).optional(),
      limit: limitQuery(1000, 5000),
      cursor: z.string().regex(/^\d{1,9}$/).optional().openapi({ description: 'nextCursor of the previous page' }),
    }),
  },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: SeatPage } } }, ...problems(400, 401, 403, 404, 503) },
});

export function catalogRoutes(deps: AppDeps) {
  const app = router();
  const catalog = new CatalogStore(deps.db);
  const room = new WaitingRoom(deps.redis);
  const admitted = [requireUser(deps.config.AUTH_SECRET), queueToken(room, { requireActive: true })] as const;
  const grace = deps.config.HOLD_GRACE_SECONDS;
  // A schedule's concert and size never change: the lookup is cached for the process's life.
  const schedules = new Map<string, ScheduleRef>();

  app.use('/concerts/:concertId/schedules', ...admitted);
  app.use('/schedules/:scheduleId/seats', ...admitted);

  return app
    .openapi(listConcerts, async (c) => c.json({ items: await catalog.listConcerts() }, 200))
    .openapi(listSchedules, async (c) => {
      const { concertId } = c.req.valid('param');
      assertTicketFor(c.get('ticket'), concertId);
      return c.json({ items: await catalog.openSchedules(concertId, grace) }, 200);
    })
    .openapi(listSeats, async (c) => {
      const { scheduleId } = c.req.valid('param');
      const { status, limit, cursor } = c.req.valid('query');
      const schedule = await scheduleRef(catalog, schedules, scheduleId);
      assertTicketFor(c.get('ticket'), schedule.concertId);
      const page = await catalog.seats(scheduleId, { status, limit, after: cursor ? Number(cursor) : 0, graceSeconds: grace });
      return c.json({ scheduleId, ...page }, 200);
    });
}

export async function scheduleRef(catalog: CatalogStore, cache: Map<string, ScheduleRef>, scheduleId: string): Promise<ScheduleRef> {
  let schedule = cache.get(scheduleId);
  if (!schedule) {
    const found = await catalog.schedule(scheduleId);
    if (!found) throw new DomainError('NOT_FOUND', 'no such schedule');
    cache.set(scheduleId, (schedule = found));
  }
  return schedule;
}
