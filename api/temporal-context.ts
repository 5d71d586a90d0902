import { AsyncLocalStorage } from 'node:async_hooks';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Headers } from '@temporalio/common';
import type { Client, Connection, WorkflowClientInterceptor } from '@temporalio/client';
import type { MiddlewareHandler } from 'hono';
import { REQUEST_ID_HEADER } from '../workflows/definitions';
import type { AppEnv } from './deps';

/**
 * How long a request may wait for Temporal (a hold, a payment, a leave). Without a deadline it waits
 * as long as the cause lasts: the SDK retries an unreachable server for ~20 s, and an update whose
 * worker or database is down waits until they are back (a hold waited 5 minutes, until the HTTP
 * server gave up, in a PostgreSQL outage). Long enough for a payment's saga on a loaded box (p99
 * ~0.2 s, TOOLCHAIN.md), and longer than a rolling restart delays a hold: a worker stopped with
 * SIGTERM sits on the journey tasks in its hands for its whole shutdown grace (10 s,
 * worker/create-worker.ts) before another worker takes them; at 10 s, test/e2e/scale-out.test.ts
 * saw such holds answer 503 one run in three.
 */
export const TEMPORAL_DEADLINE_MS = 15_000;

/** The id of the request whose Temporal calls are in flight, carried across their awaits. */
const requestIds = new AsyncLocalStorage<string>();

/** Runs a request's Temporal calls in its scope (`runInTemporalScope`). */
export type TemporalScope = <T>(fn: () => Promise<T>) => Promise<T>;

/** Requests inside `runInTemporalScope` right now, in this process. */
let inScope = 0;

/**
 * Runs `fn` (a request's Temporal calls) in the Temporal deadline and with the request id the client
 * interceptor below reads. Only those calls: an AsyncLocalStorage context costs on every promise of
 * the process while any is enabled (Node 20's async hooks), and the join, poll, seat and refused-hold
 * paths never reach Temporal. So once no request is inside, both stores are disabled again (hooks
 * off), and the next request's `run` enables them. Nothing reads them outside a request's scope.
 */
export function runInTemporalScope<T>(temporal: Client, requestId: string, fn: () => Promise<T>): Promise<T> {
  inScope++;
  const left = () => {
    if (--inScope > 0) return;
    requestIds.disable();
    callContext(temporal)?.disable();
  };
  let scoped: Promise<T>;
  try {
    scoped = requestIds.run(requestId, () => temporal.connection.withDeadline(deadline(temporal), fn));
  } catch (err) {
    left();
    throw err;
  }
  return scoped.finally(left);
}

/** `runInTemporalScope` as middleware, for routes whose every request calls Temporal. */
export function temporalScope(temporal: Client): MiddlewareHandler<AppEnv> {
  return (c, next) => runInTemporalScope(temporal, c.get('requestId'), next);
}

function callContext(temporal: Client) {
  // Every Connection has the store; ConnectionLike (the client's view of it) just does not name it.
  return (temporal.connection as Partial<Pick<Connection, 'callContextStorage'>>).callContextStorage;
}

/** Ours, or an earlier one the caller already set (a test, an embedding server): never a later one. */
function deadline(temporal: Client): number {
  const ours = Date.now() + TEMPORAL_DEADLINE_MS;
  const outer = callContext(temporal)?.getStore()?.deadline;
  return outer === undefined ? ours : Math.min(ours, new Date(outer).getTime());
}

function withRequestId(headers: Headers): Headers {
  const requestId = requestIds.getStore();
  return requestId ? { ...headers, [REQUEST_ID_HEADER]: defaultPayloadConverter.toPayload(requestId) } : headers;
}

/**
 * Puts the current request's id in the headers of every start and update the API sends, so the
 * journey's log lines and its activities' (workflows/request-context.ts) name the request that
 * caused them: one id joins the API's request log to the worker's.
 */
export const requestIdInterceptor: WorkflowClientInterceptor = {
  start: (input, next) => next({ ...input, headers: withRequestId(input.headers) }),
  startWithDetails: (input, next) => next({ ...input, headers: withRequestId(input.headers) }),
  startUpdate: (input, next) => next({ ...input, headers: withRequestId(input.headers) }),
  startUpdateWithStart: (input, next) =>
    next({ ...input, workflowStartHeaders: withRequestId(input.workflowStartHeaders), updateHeaders: withRequestId(input.updateHeaders) }),
};
