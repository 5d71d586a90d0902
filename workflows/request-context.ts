/**
 * Workflow interceptors (a module the worker bundles beside the workflows): the id of the request
 * that sent an update is kept for the code that handles it, passed on to the activities it
 * schedules, and added to the workflow's log lines (Temporal already adds the workflow id and run
 * id). Per update, not per workflow: a journey or a controller lives through many requests, and
 * the work its own timers do belongs to none of them.
 */
import {
  AsyncLocalStorage,
  defaultPayloadConverter,
  type Next,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type { Payload } from '@temporalio/common';
import { REQUEST_ID_HEADER } from './definitions';

const currentRequest = new AsyncLocalStorage<string>();

function requestIdIn(headers: Record<string, Payload>): string | undefined {
  const header = headers[REQUEST_ID_HEADER];
  return header ? defaultPayloadConverter.fromPayload<string>(header) : undefined;
}

/** Runs `next` with the request id of these headers, if they carry one. */
function within<T>(headers: Record<string, Payload>, next: () => T): T {
  const requestId = requestIdIn(headers);
  return requestId ? currentRequest.run(requestId, next) : next();
}

/** The same input, its headers carrying the current request id on to the activity. */
function carried<T extends { headers: Record<string, Payload> }>(input: T): T {
  const requestId = currentRequest.getStore();
  return requestId ? { ...input, headers: { ...input.headers, [REQUEST_ID_HEADER]: defaultPayloadConverter.toPayload(requestId) } } : input;
}

const inbound: WorkflowInboundCallsInterceptor = {
  handleUpdate: (input, next) => within(input.headers, () => next(input)),
};

const outbound: WorkflowOutboundCallsInterceptor = {
  scheduleActivity: (input, next) => next(carried(input)),
  scheduleLocalActivity: (input, next) => next(carried(input)),
  getLogAttributes(input, next: Next<WorkflowOutboundCallsInterceptor, 'getLogAttributes'>) {
    const requestId = currentRequest.getStore();
    return next(requestId ? { requestId, ...input } : input);
  },
};

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [inbound], outbound: [outbound] });
