import type { MiddlewareHandler } from 'hono';
import { DomainError } from '../lib/domain-error';
import { Lru } from '../lib/lru';
import { parseToken } from '../queue/token';
import type { QueueTicket, WaitingRoom } from '../queue/waiting-room';
import type { AppEnv } from './deps';

/** ACTIVE tickets remembered per process by `queueToken`'s `memoMs`; beyond, the least recently used are forgotten. */
const MEMO_ENTRIES = 50_000;

/**
 * Reads the `X-Queue-Token` of the authenticated user from Redis only (no Temporal round trip on the
 * hot path) and refuses it unless it is the user's own. `requireActive` also demands an ACTIVE
 * window; access ends at the window's end even if a timer is late.
 *
 * `memoMs` (read-only routes whose answer is itself that old, the seat map's snapshot): an ACTIVE
 * ticket read from Redis is reused for that long by this process, so a fan re-reading the map costs
 * no round trip. It is a copy of a read, never a decision: every process reads Redis for itself, the
 * window's end is checked on every use, and a token that ended (paid, left) is refused at most
 * `memoMs` later than a fresh read would, which is what a copy that old promises. Each read from Redis
 * records the fan's request (seenAt), so a fan served from the memo is still seen every `memoMs`.
 */
export function queueToken(room: WaitingRoom, opts: { requireActive: boolean; memoMs?: number; now?: () => number }): MiddlewareHandler<AppEnv> {
  const now = opts.now ?? Date.now;
  const memoMs = opts.memoMs ?? 0;
  // By token; an entry serves only the ticket's own user (anyone else's request reads Redis and is refused).
  const memo = memoMs > 0 ? new Lru<string, { ticket: QueueTicket; readAt: number }>(MEMO_ENTRIES) : null;
  return async (c, next) => {
    const userId = c.get('userId');
    const token = c.req.header('x-queue-token');
    const at = now();
    const kept = memo && token ? memo.get(token) : undefined;
    if (kept && kept.ticket.userId === userId && at - kept.readAt <= memoMs && (kept.ticket.activeUntil ?? 0) > at) {
      c.set('ticket', kept.ticket);
      return next();
    }
    const ticket = checkTicket(await room.lookup(token, userId, at), userId, opts);
    if (memo && token && ticket.status === 'ACTIVE') memo.set(token, { ticket, readAt: at });
    c.set('ticket', ticket);
    await next();
  };
}

/**
 * The guard of a route whose use case checks the queue token in its own script (a hold: the token's
 * check and the seat gate's claim are one round trip, api/use-cases/hold.ts). Here only its shape: a
 * missing or malformed token is refused before the body is read, as by `queueToken`.
 */
export function queueTokenCheckedByUseCase(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!parseToken(c.req.header('x-queue-token'))) throw invalidQueueToken();
    await next();
  };
}

export function invalidQueueToken(): DomainError {
  return new DomainError('QUEUE_TOKEN_INVALID', 'the queue token is missing, malformed, unknown or replaced by a newer one');
}

/** The refusals of `queueToken`, for a ticket read by another script (the status poll's). */
export function checkTicket(ticket: QueueTicket | 'forbidden' | null, userId: string, opts: { requireActive: boolean }): QueueTicket {
  if (!ticket) throw invalidQueueToken();
  if (ticket === 'forbidden' || ticket.userId !== userId) throw new DomainError('FORBIDDEN', 'the queue token belongs to someone else');
  if (opts.requireActive && ticket.status !== 'ACTIVE') {
    throw new DomainError('QUEUE_TOKEN_NOT_ACTIVE', `the queue token is ${ticket.status}`);
  }
  return ticket;
}

/** A token admits its holder to one concert only. */
export function assertTicketFor(ticket: QueueTicket, concertId: string): void {
  if (ticket.concertId !== concertId) throw new DomainError('FORBIDDEN', 'the queue token is for another concert');
}
