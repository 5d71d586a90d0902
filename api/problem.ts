import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, ServiceError } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { DomainError } from '../lib/domain-error';
import { ErrorCodes, isErrorCode, type ErrorCode } from '../lib/error-codes';
import { isConnectionError } from '../db/pg-errors';
import { journeyClosed } from '../lib/journeys';

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
  RESERVATION_NOT_PAYABLE: 'The reservation cannot be paid',
  RESERVATION_NOT_HELD: 'The reservation is not held',
  INSUFFICIENT_BALANCE: 'The wallet balance is too low',
  PAYMENT_IN_PROGRESS: 'Another payment is in progress',
  IDEMPOTENCY_KEY_REUSED: 'The Idempotency-Key was used with another request',
  RATE_LIMITED: 'Too many requests',
  INTERNAL: 'Internal error',
  DEPENDENCY_UNAVAILABLE: 'A dependency is unavailable',
};

export function problemOf(code: ErrorCode, detail: string, status: number = ErrorCodes[code]): Problem {
  return { type: `https://ovation.example/problems/${code.toLowerCase().replace(/_/g, '-')}`, title: TITLES[code], status, detail, code };
}

export function problemResponse(c: Context, problem: Problem, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, { 'Content-Type': 'application/problem+json', ...headers });
}

/** The business refusal inside a Temporal failure chain (update failed → activity failed → application failure). */
function businessFailure(err: unknown): { code: ErrorCode; detail: string } | undefined {
  for (let cause: unknown = err; cause; cause = (cause as { cause?: unknown }).cause) {
    if (cause instanceof ApplicationFailure && isErrorCode(cause.type)) return { code: cause.type, detail: cause.message || cause.type };
    if (!(cause instanceof Error)) break;
  }
  return undefined;
}

function isRedisDown(err: unknown): boolean {
  const message = String((err as Error | null)?.message ?? '');
  return /Stream isn't writeable|Connection is closed|enableOfflineQueue|Command timed out|ECONNREFUSED|MaxRetriesPerRequestError|Reached the max retries/i.test(message);
}

/** gRPC UNAVAILABLE or DEADLINE_EXCEEDED from the Temporal client, wrapped or raw; nothing else. */
function isTemporalDown(err: unknown): boolean {
  const grpcCode = (e: unknown) => (e as { code?: unknown } | null)?.code;
  if (err instanceof ServiceError) {
    const code = grpcCode(err.cause);
    return code === undefined || code === 14 || code === 4;
  }
  return (grpcCode(err) === 14 || grpcCode(err) === 4) && typeof (err as { details?: unknown }).details === 'string';
}

/**
 * The server refuses an update while the workflow's task is being retried: here, after the worker
 * that ran it died mid-task, until another worker takes it (seconds). As a ServiceError, or raw (with
 * gRPC's numeric code) from an Update-with-Start.
 */
function isJourneyBetweenWorkers(err: unknown): boolean {
  const status = (err instanceof ServiceError ? err.cause : err) as { code?: unknown; message?: unknown } | null;
  return status?.code === 9 && /Workflow Task in failed state/i.test(String(status.message));
}

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
  if (err instanceof WorkflowUpdateFailedError || err instanceof TemporalFailure) {
    const refusal = businessFailure(err);
    if (refusal) return problemOf(refusal.code, refusal.detail);
  }
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return problemOf('QUEUE_TOKEN_NOT_ACTIVE', 'the fan journey of this token has ended');
  }
  if (journeyClosed(err)) return problemOf('QUEUE_TOKEN_NOT_ACTIVE', 'the fan journey has ended');
  // The request's Temporal deadline passed (api/server.ts): Temporal, the workers or a database behind
  // them did not answer. The update may still take effect once they do, so the client reads back.
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return problemOf('DEPENDENCY_UNAVAILABLE', 'the fan journey did not answer in time; the request may still take effect: read it back before retrying');
  }
  if (isJourneyBetweenWorkers(err)) return problemOf('DEPENDENCY_UNAVAILABLE', 'the fan journey is moving to another worker; retry in a few seconds');
  if (isConnectionError(err)) return problemOf('DEPENDENCY_UNAVAILABLE', 'PostgreSQL is unavailable');
  if (isRedisDown(err)) return problemOf('DEPENDENCY_UNAVAILABLE', 'Redis is unavailable');
  if (isTemporalDown(err)) return problemOf('DEPENDENCY_UNAVAILABLE', 'Temporal is unavailable');
  return problemOf('INTERNAL', 'an unexpected error occurred');
}
