import type { MiddlewareHandler } from 'hono';
import { createRoute, z } from '@hono/zod-openapi';
import { CatalogStore } from '../../db/stores/catalog';
import { DomainError } from '../../lib/domain-error';
import { Journeys } from '../../lib/journeys';
import { parseToken } from '../../queue/token';
import type { FairStart } from '../../queue/fair-start';
import { etaSeconds, preQueueRetryAfterSeconds, retryAfterSeconds } from '../../queue/poll-interval';
import { closedError, WaitingRoom, type QueueTicket } from '../../queue/waiting-room';
import { queueKeys } from '../../queue/keys';
import { ADMISSION_HELD_FIELD, type AdmissionHeldReason } from '../../workflows/definitions';
import { requireUser } from '../auth';
import type { AppDeps, AppEnv, RouteDeps } from '../deps';
import { checkTicket, queueToken } from '../queue-guard';
import { RateLimit } from '../rate-limit';
import { router, secured } from '../router';
import { bearer, bearerAndQueueToken, problems, rateLimited, Uuid } from '../schemas';
import { runInTemporalScope } from '../temporal-context';

const Ticket = z
  .object({
    token: z.string(),
    concertId: z.string(),
    status: z.enum(['PRE_QUEUE', 'WAITING', 'ACTIVE', 'EXPIRED', 'COMPLETED', 'LEFT', 'NO_SHOW', 'QUEUE_POSITION_EXPIRED', 'CANCELLED', 'SOLD_OUT']).openapi({
      description:
        'PRE_QUEUE: joined before the sales open (`salesOpenAt`): no position yet; at the opening every pre-queued fan ' +
        'is placed by a random permutation published afterwards (GET /admin/concerts/{concertId}/queue/seed), ahead of ' +
        'everyone who joins later. NO_SHOW: admitted, but made no request within NO_SHOW_SECONDS, so the window was ' +
        'given to the next fan. CANCELLED or SOLD_OUT: the concert’s queue closed while this fan waited; the fan has ' +
        'left the queue. A waiting fan who stops polling for longer than QUEUE_POSITION_TTL_SECONDS loses the place: ' +
        'the next poll answers 410 QUEUE_POSITION_EXPIRED (join again for a new place at the back); the status value ' +
        'QUEUE_POSITION_EXPIRED itself appears in no 200 answer.',
    }),
    position: z.number().int().openapi({ description: '1-based among those waiting; 0 while PRE_QUEUE and once active' }),
    etaSeconds: z.number().int(),
    activeUntil: z.string().optional(),
    salesOpenAt: z.string().optional().openapi({ description: 'When the sales open, while PRE_QUEUE' }),
    reason: z.enum(['PAUSED_BY_OPERATOR', 'ALL_SEATS_HELD', 'ADMITTED_UP_TO_SEATS_LEFT']).optional().openapi({
      description:
        'Only while WAITING and nobody is being admitted: the operator paused the queue; every seat left is held (admission ' +
        'resumes when a hold lapses or is cancelled, or the concert sells out and this fan reads SOLD_OUT); or as many fans are ' +
        'choosing seats as there are seats left. The fan keeps the place. At most a second old',
    }),
  })
  .openapi('QueueToken');
const json = { 'application/json': { schema: Ticket } };

const join = createRoute({
  method: 'post',
  path: '/concerts/{concertId}/queue-tokens',
  tags: ['Queue'],
  summary: 'Join the concert’s waiting queue (or get my live token back)',
  description: 'A closed queue joins nobody: 409 `CONCERT_CANCELLED` (the concert is cancelled) or `SOLD_OUT`.',
  security: bearer,
  request: { params: z.object({ concertId: Uuid }) },
  responses: {
    201: { description: 'A new token', content: json },
    200: { description: 'My live token, unchanged', content: json },
    ...problems(400, 401, 404, 409, 413, 503),
    ...rateLimited,
  },
});

const current = createRoute({
  method: 'get',
  path: '/queue-tokens/current',
  tags: ['Queue'],
  summary: 'My token’s status, position and ETA; poll no sooner than Retry-After while WAITING or PRE_QUEUE',
  description:
    'Each poll keeps the fan’s place: a waiting fan whose last request is older than QUEUE_POSITION_TTL_SECONDS ' +
    '(several times the longest Retry-After) is dropped when the head of the queue reaches them, and then reads 410 ' +
    '`QUEUE_POSITION_EXPIRED`. A token replaced by a newer one of the same fan (after joining again) reads 401 ' +
    '`QUEUE_TOKEN_INVALID`; someone else’s token 403 `FORBIDDEN`.',
  security: bearerAndQueueToken,
  responses: {
    200: { description: 'OK', content: json, headers: z.object({ 'Retry-After': z.string().optional() }) },
    ...problems(401, 403, 410, 503),
    ...rateLimited,
  },
});

const leave = createRoute({
  method: 'delete',
  path: '/queue-tokens/current',
  tags: ['Queue'],
  summary: 'Leave the queue, or end an active session (its live holds are released)',
  security: bearerAndQueueToken,
  responses: { 200: { description: 'Left', content: json }, ...problems(401, 403, 413, 503) },
});

/** How long a process reuses a concert's "why nobody is admitted" before reading it again. */
const HELD_REASON_FRESH_MS = 1_000;

/**
 * Why a concert's waiting fans are held back, as its admission controller published it (a field of
 * the queue's settings hash): read at most once a second per concert and process, however many fans
 * poll, so the poll stays one round trip. Concurrent reads of a stale entry share one request.
 */
class AdmissionHeldReasons {
  private readonly known = new Map<string, { at: number; reason: Promise<AdmissionHeldReason | undefined> }>();
  constructor(private readonly redis: AppDeps['redis']) {}

  of(concertId: string): Promise<AdmissionHeldReason | undefined> {
    const now = Date.now();
    const entry = this.known.get(concertId);
    if (entry && now - entry.at < HELD_REASON_FRESH_MS) return entry.reason;
    const reason = this.redis
      .hget(queueKeys(concertId).settings, ADMISSION_HELD_FIELD)
      .then((r) => (r ?? undefined) as AdmissionHeldReason | undefined)
      // The reason is a courtesy: a failed read answers without it (and is tried again next time).
      .catch(() => {
        this.known.delete(concertId);
        return undefined;
      });
    this.known.set(concertId, { at: now, reason });
    return reason;
  }
}

/** The status script checks the poll's queue token itself (queue-guard.ts reads its answer). */
const checkedByTheStatusScript: MiddlewareHandler<AppEnv> = (_c, next) => next();

export function queueRoutes(deps: RouteDeps) {
  const app = router();
  const room = new WaitingRoom(deps.redis);
  const catalog = new CatalogStore(deps.db);
  const journeys = new Journeys(deps.temporal, deps.config);
  // A fan of the concert is here: its schedules are known before the fan's first hold (schedule-refs.ts).
  const { schedules } = deps.useCases;
  // Concerts are never deleted and their opening never moves: a positive answer can be kept.
  const knownConcerts = new Map<string, FairStart | null>();
  const auth = requireUser(deps.config.AUTH_SECRET);
  const heldReasons = new AdmissionHeldReasons(deps.redis);

  const view = (t: QueueTicket) => {
    const rate = t.admitPerSecond ?? deps.config.QUEUE_ADMIT_PER_SECOND;
    return {
      token: t.token,
      concertId: t.concertId,
      status: t.status,
      position: t.position,
      etaSeconds: etaSeconds(t.position, rate),
      ...(t.activeUntil ? { activeUntil: new Date(t.activeUntil).toISOString() } : {}),
      ...(t.status === 'PRE_QUEUE' && t.opensAt ? { salesOpenAt: new Date(t.opensAt).toISOString() } : {}),
    };
  };
  const maxRetryAfter = deps.config.QUEUE_MAX_RETRY_AFTER_SECONDS;

  // Joining and polling are the endpoints a rush hammers: both are rate-limited (see rate-limit.ts),
  // the limits counted by the join and status scripts themselves, so each is one Redis round trip.
  const joinLimit = new RateLimit('join', deps.config);
  const pollLimit = new RateLimit('poll', deps.config);
  const guards = {
    Bearer: auth,
    QueueToken: queueToken(room, { requireActive: false }),
  };
  // The poll checks its queue token inside the status script, with its rate limits: one round trip.
  const pollGuards = { Bearer: auth, QueueToken: checkedByTheStatusScript };

  return app
    .openapi(secured(join, guards), async (c) => {
      const { concertId } = c.req.valid('param');
      const count = joinLimit.count(c);
      const blocked = joinLimit.blockedFor(concertId, count);
      if (blocked !== null) throw joinLimit.refusal(blocked);
      let counted = count;
      if (!knownConcerts.has(concertId)) {
        // First sight of this concert in this process: count the join before asking PostgreSQL
        // (a flood of unknown ids stays limited), then join without counting it twice.
        const refused = await room.countArrival(concertId, count);
        if (refused) throw joinLimit.refuse(concertId, count, refused);
        const opening = await catalog.fairStart(concertId);
        if (!opening) throw new DomainError('NOT_FOUND', 'no such concert');
        knownConcerts.set(concertId, opening.seed ? { opensAtMs: opening.opensAtMs, seed: opening.seed } : null);
        schedules.warm(concertId);
        counted = { ...count, perUser: 0, perAddress: 0 };
      }
      const outcome = await room.arrive(concertId, c.get('userId'), counted, Date.now(), knownConcerts.get(concertId) ?? null);
      if (outcome.kind === 'rate-limited') throw joinLimit.refuse(concertId, count, outcome);
      if (outcome.kind === 'closed') throw closedError(outcome.reason);
      if (outcome.ticket.wakeController) {
        // Without the wake the fan would wait for a controller that sleeps: on failure the mark goes
        // back, so the retried join (or the next fan's) wakes it. In the request's Temporal scope, as
        // every Temporal call: its deadline, and the client's context store disabled again after it.
        await runInTemporalScope(deps.temporal, c.get('requestId'), () => journeys.wakeAdmission(concertId)).catch(async (err: unknown) => {
          await room.markControllerAsleep(concertId).catch(() => undefined);
          throw err;
        });
      }
      return c.json(view(outcome.ticket), outcome.ticket.created ? 201 : 200);
    })
    .openapi(secured(current, pollGuards), async (c) => {
      // The token check and the poll's rate limits in one script (queue-guard.ts checks the answer).
      const token = c.req.header('x-queue-token');
      const concertId = parseToken(token)?.concertId;
      const count = pollLimit.count(c);
      const blocked = concertId ? pollLimit.blockedFor(concertId, count) : null;
      if (blocked !== null) throw pollLimit.refusal(blocked);
      const polled = await room.poll(token, c.get('userId'), count);
      if (polled.kind === 'rate-limited') throw pollLimit.refuse(concertId!, count, polled);
      const ticket = checkTicket(polled.kind === 'forbidden' ? 'forbidden' : polled.ticket, c.get('userId'), { requireActive: false });
      if (ticket.status === 'QUEUE_POSITION_EXPIRED') {
        throw new DomainError('QUEUE_POSITION_EXPIRED', 'the place in the queue was lost: no poll for too long; join again');
      }
      schedules.warm(ticket.concertId);
      const body = view(ticket);
      if (ticket.status === 'WAITING') {
        const reason = await heldReasons.of(ticket.concertId);
        if (reason) Object.assign(body, { reason });
        const retryAfter = retryAfterSeconds(ticket.position, ticket.waiting, body.etaSeconds, deps.config.QUEUE_POLL_BUDGET_PER_SECOND, maxRetryAfter);
        c.header('Retry-After', String(retryAfter));
      } else if (ticket.status === 'PRE_QUEUE' && ticket.opensAt) {
        c.header('Retry-After', String(preQueueRetryAfterSeconds(ticket.opensAt, Date.now(), maxRetryAfter)));
      }
      return c.json(body, 200);
    })
    .openapi(secured(leave, guards), async (c) => {
      const ticket = c.get('ticket');
      if (ticket.status === 'WAITING' || ticket.status === 'PRE_QUEUE') {
        const after = await room.leaveWaiting(ticket.token, ticket.userId);
        // Admitted between the read and the leave: end the session like an active fan's.
        if (after === 'ACTIVE') await journeys.leave(checkTicket(await room.lookup(ticket.token, ticket.userId), ticket.userId, { requireActive: false }));
      } else if (ticket.status === 'ACTIVE') {
        await journeys.leave(ticket);
      } else if (ticket.status !== 'LEFT') {
        throw new DomainError('QUEUE_TOKEN_NOT_ACTIVE', `the queue token is ${ticket.status}`);
      }
      return c.json({ ...view(ticket), status: 'LEFT' as const, position: 0, etaSeconds: 0 }, 200);
    });
}
