import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
import { DomainError } from '../lib/domain-error';
import { ErrorCodes, type ErrorCode } from '../lib/error-codes';
import { isConnectionError } from '../db/pg-errors';
import { classifyTemporal } from '../lib/temporal-errors';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
}

const TITLES: Record<ErrorCode, string> = {
  VALIDATION_FAILED: 'The request is not valid',
  UNAUTHENTICATED: 'Authentication is required',
  QUEUE_TOKEN_INVALID: 'The queue token is not valid',
  QUEUE_TOKEN_NOT_ACTIVE: 'The queue token is not active',
  FORBIDDEN: 'Not allowed',
  NOT_FOUND: 'Not found',
  SEAT_UNAVAILABLE: 'The seat is not available',
  HOLD_EXPIRED: 'The hold has expired',
  HOLD_LIMIT_REACHED: 'Too many live holds',
  PURCHASE_LIMIT_REACHED: 'Purchase limit reached',
  RESERVATION_NOT_PAYABLE: 'The reservation cannot be paid',
  RESERVATION_NOT_HELD: 'The reservation is not held',
  INSUFFICIENT_BALANCE: 'The wallet balance is too low',
  CONCERT_CANCELLED: 'The concert is cancelled',
  SOLD_OUT: 'The concert is sold out',
  PAYMENT_IN_PROGRESS: 'Another payment is in progress',
  SALES_NOT_OPEN: 'The sales have not opened yet',
  QUEUE_POSITION_EXPIRED: 'The place in the queue was lost',
  IDEMPOTENCY_KEY_REUSED: 'The Idempotency-Key was used with another request',
  RATE_LIMITED: 'Too many requests',
  INTERNAL: 'Internal error',
  DEPENDENCY_UNAVAILABLE: 'A dependency is unavailable',
  CANCELLATION_CLOSED: 'The cancellation cut-off has passed',
  TICKET_ALREADY_CANCELLED: 'The ticket was already cancelled',
  TICKET_NOT_PAID: 'The reservation is not a paid ticket',
};

export function problemOf(code: ErrorCode, detail: string, status: number = ErrorCodes[code]): Problem {
  return { type: `https://ovation.example/problems/${code.toLowerCase().replace(/_/g, '-')}`, title: TITLES[code], status, detail, code };
}

/** A problem as problem+json; a transient one (429, 503) says when to retry. */
export function problemResponse(c: Context, problem: Problem, headers: Record<string, string> = {}): Response {
  const retry: Record<string, string> = problem.status === 429 || problem.status === 503 ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {};
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, { 'Content-Type': 'application/problem+json', ...retry, ...headers });
}

/**
 * ioredis rejects with plain `Error`s when Redis is unreachable (no class to test), so these are its
 * exact messages (test/unit/problem.test.ts provokes each from the real library, so an upgrade that
 * rewords one fails there); `MaxRetriesPerRequestError` has a class, and socket failures a `code`.
 */
const REDIS_UNREACHABLE = new Set(['Connection is closed.', 'Command timed out', "Stream isn't writeable and enableOfflineQueue options is false"]);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * A Redis Cluster client's (lib/redis.ts) plain errors: the slot's master unreachable through every
 * redirection, no node ready yet, the slot map unreadable (ClusterAllFailedError, a RedisError).
 */
const CLUSTER_UNREACHABLE = [/^Too many Cluster redirections\. /, /^Cluster isn't ready and enableOfflineQueue options is false$/, /^Failed to refresh slots cache\.$/];

export function isRedisDown(err: unknown): boolean {
  if (err instanceof MaxRetriesPerRequestError) return true;
  if (!(err instanceof Error)) return false;
  if (REDIS_UNREACHABLE.has(err.message)) return true;
  if (CLUSTER_UNREACHABLE.some((message) => message.test(err.message))) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && SOCKET_CODES.has(code);
}

const UNKNOWN_OUTCOME = 'the request did not finish in time and may still take effect: retry it with the same Idempotency-Key, or read it back';

/** Every error, whatever threw it, as a problem with a stable code. Unknown errors are INTERNAL. */
export function toProblem(err: unknown): Problem {
  if (err instanceof DomainError) return problemOf(err.code, err.message);
  if (err instanceof HTTPException) {
    if (err.status === 413) return problemOf('VALIDATION_FAILED', 'the request body is too large', 413);
    // A body that is not JSON (415 from the validator) is bad input like any other: 400.
    if (err.status === 415) return problemOf('VALIDATION_FAILED', 'the body must be application/json');
    if (err.status === 401) return problemOf('UNAUTHENTICATED', err.message || 'authentication is required');
    if (err.status < 500) return problemOf('VALIDATION_FAILED', err.message || 'the request is not valid', err.status);
  }
  const temporal = classifyTemporal(err);
  switch (temporal?.kind) {
    case 'refused':
      return problemOf(temporal.code, temporal.detail);
    case 'journey-closed':
      return problemOf('QUEUE_TOKEN_NOT_ACTIVE', 'the fan journey of this token has ended');
    case 'outcome-unknown':
      return problemOf('DEPENDENCY_UNAVAILABLE', UNKNOWN_OUTCOME);
    case 'overloaded':
      return problemOf('RATE_LIMITED', 'Temporal is refusing work for load; retry after Retry-After seconds');
    case 'unavailable':
      return problemOf('DEPENDENCY_UNAVAILABLE', 'Temporal or the fan journey cannot take the request now; retry in a few seconds');
  }
  if (isConnectionError(err)) return problemOf('DEPENDENCY_UNAVAILABLE', 'PostgreSQL is unavailable');
  if (isRedisDown(err)) return problemOf('DEPENDENCY_UNAVAILABLE', 'Redis is unavailable');
  return problemOf('INTERNAL', 'an unexpected error occurred');
}

/**
 * Not a final answer: the request was not taken (429) or its outcome is unknown (5xx). An idempotency
 * key is never settled on such an answer; the client retries with the same key.
 */
export function isTransient(problem: Problem): boolean {
  return problem.status >= 500 || problem.status === 429;
}

/** Seconds a client waits before retrying a transient answer. */
export const RETRY_AFTER_SECONDS = 1;
