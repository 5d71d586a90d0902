import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { SeatStatus } from '../../db/entities';
import { CatalogStore, decodeConcertCursor } from '../../db/stores/catalog';
import { DomainError } from '../../lib/domain-error';
import { WaitingRoom } from '../../queue/waiting-room';
import { requireUser } from '../auth';
import type { AppEnv, RouteDeps } from '../deps';
import { assertTicketFor, queueToken } from '../queue-guard';
import { headersDocumentedOnly, router, secured } from '../router';
import { matchesIfNoneMatch, Snapshots, type Snapshot } from '../snapshot';
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
    nextCursor: z.string().optional().openapi({ description: 'Present when more concerts follow: pass it as `cursor` for the next page' }),
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

/** How old a seat map or a schedule's available-seat count may be when served. */
export const SNAPSHOT_MAX_AGE_MS = 250;
const SNAPSHOT_NOTE =
  `Served from a snapshot of the seat states at most ${SNAPSHOT_MAX_AGE_MS} ms old: a seat shown AVAILABLE may already be held ` +
  '(a hold then answers 409 SEAT_UNAVAILABLE). The body carries a strong ETag; send it back in If-None-Match to get 304 while nothing changed.';
const conditional = z.object({
  'if-none-match': z.string().optional().openapi({ description: 'The ETag of the copy the client holds: 304 when it is still current' }),
});
const etagHeader = z.object({ ETag: z.string().openapi({ description: 'Strong entity tag of this body' }) });

const listConcerts = createRoute({
  method: 'get',
  path: '/concerts',
  tags: ['Catalog'],
  summary: 'Concerts with their schedules, oldest first, a page at a time',
  request: { query: z.object({ limit: limitQuery(100, 100), cursor: z.string().max(200).optional() }) },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: ConcertList } } }, ...problems(400, 503) },
});

const listSchedules = createRoute({
  method: 'get',
  path: '/concerts/{concertId}/schedules',
  tags: ['Catalog'],
  summary: 'Bookable dates (booking window open now) with available-seat counts',
  description: SNAPSHOT_NOTE,
  security: bearerAndQueueToken,
  request: { params: z.object({ concertId: Uuid }), headers: conditional },
  responses: {
    200: { description: 'OK', content: { 'application/json': { schema: ScheduleList } }, headers: etagHeader },
    304: { description: 'Not Modified: the entity tag in If-None-Match is current', headers: etagHeader },
    ...problems(400, 401, 403, 503),
  },
});

const listSeats = createRoute({
  method: 'get',
  path: '/schedules/{scheduleId}/seats',
  tags: ['Catalog'],
  summary: 'Seats of a schedule by number, in pages',
  description: SNAPSHOT_NOTE,
  security: bearerAndQueueToken,
  request: {
    headers: conditional,
    params: z.object({ scheduleId: Uuid }),
    query: z.object({
      status: z.enum(['AVAILABLE', 'HELD', 'SOLD']).optional(),
      limit: limitQuery(1000, 5000),
      cursor: z.string().regex(/^\d{1,9}$/).optional().openapi({ description: 'nextCursor of the previous page' }),
    }),
  },
  responses: {
    200: { description: 'OK', content: { 'application/json': { schema: SeatPage } }, headers: etagHeader },
    304: { description: 'Not Modified: the entity tag in If-None-Match is current', headers: etagHeader },
    ...problems(400, 401, 403, 404, 503),
  },
});

export function catalogRoutes(deps: RouteDeps) {
  const app = router();
  const catalog = new CatalogStore(deps.db);
  const room = new WaitingRoom(deps.redis);
  // The token's check is as old as the answers may be (SNAPSHOT_MAX_AGE_MS): a re-read costs no round trip.
  const tokenCheck = queueToken(room, { requireActive: true, memoMs: SNAPSHOT_MAX_AGE_MS, now: deps.clock });
  const guards = { Bearer: requireUser(deps.config.AUTH_SECRET), QueueToken: tokenCheck };
  const grace = deps.config.HOLD_GRACE_SECONDS;
  const { schedules } = deps.useCases;
  // The two views a rush reads most, as PostgreSQL-built bodies shared for at most 250 ms (snapshot.ts).
  const seatPages = new Snapshots<string>(
    (key) => {
      const [scheduleId, status, after, limit] = key.split(' ');
      return catalog.seatPageJson(scheduleId, { status: (status || undefined) as SeatStatus | undefined, after: Number(after), limit: Number(limit), graceSeconds: grace });
    },
    { maxAgeMs: SNAPSHOT_MAX_AGE_MS, maxKeys: 2_000, now: deps.clock },
  );
  const openSchedules = new Snapshots<string>((concertId) => catalog.openSchedulesJson(concertId, grace), {
    maxAgeMs: SNAPSHOT_MAX_AGE_MS,
    maxKeys: 1_000,
    now: deps.clock,
  });
  const send = (c: Context<AppEnv>, snapshot: Snapshot) => {
    const headers = { ETag: snapshot.etag, 'Cache-Control': 'private, no-cache' };
    if (matchesIfNoneMatch(c.req.header('if-none-match'), snapshot.etag)) return plainResponse(c, null, 304, headers);
    return plainResponse(c, snapshot.body, 200, { ...headers, 'Content-Type': 'application/json' });
  };

  return app
    .openapi(listConcerts, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const decoded = cursor ? decodeConcertCursor(cursor) : undefined;
      if (decoded === null) throw new DomainError('VALIDATION_FAILED', 'cursor: not a cursor this API returned');
      return c.json(await catalog.listConcerts({ limit, cursor: decoded }), 200);
    })
    .openapi(headersDocumentedOnly(app, secured(listSchedules, guards)), async (c) => {
      const { concertId } = c.req.valid('param');
      assertTicketFor(c.get('ticket'), concertId);
      return send(c, await openSchedules.get(concertId)) as never;
    })
    .openapi(headersDocumentedOnly(app, secured(listSeats, guards)), async (c) => {
      const { scheduleId } = c.req.valid('param');
      const { status, limit, cursor } = c.req.valid('query');
      const schedule = await schedules.get(scheduleId);
      assertTicketFor(c.get('ticket'), schedule.concertId);
      return send(c, await seatPages.get(`${scheduleId} ${status ?? ''} ${cursor ? Number(cursor) : 0} ${limit}`)) as never;
    });
}

/**
 * The answer with its headers as a plain object, which Node's server writes as they are: c.body()
 * builds a web Headers object for more than one header, and the server converts it back, on every
 * request (the X-Request-Id is then on the outgoing message, api/app.ts). Elsewhere (in-process
 * requests) c.body(), which keeps the headers set before.
 */
function plainResponse(c: Context<AppEnv>, body: string | null, status: 200 | 304, headers: Record<string, string>): Response {
  if ((c.env as { outgoing?: unknown } | undefined)?.outgoing) return new Response(body, { status, headers });
  return body === null ? c.body(null, status, headers) : c.body(body, status as 200, headers);
}
