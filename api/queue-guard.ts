import type { MiddlewareHandler } from 'hono';
import { DomainError } from '../lib/domain-error';
import { parseToken } from '../queue/token';
import type { QueueTicket, WaitingRoom } from '../queue/waiting-room';
import type { AppEnv } from './deps';

/**
 * Reads the `X-Queue-Token` of the authenticated user from Redis only (no Temporal round trip on the
 * hot path) and refuses it unless it is the user's own. `requireActive` also demands an ACTIVE
 * window; access ends at the window's end even if a timer is late.
 */
export function queueToken(room: WaitingRoom, opts: { requireActive: boolean }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const userId = c.get('userId');
    c.set('ticket', checkTicket(await room.lookup(c.req.header('x-queue-token'), userId), userId, opts));
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
