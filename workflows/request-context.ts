/**
 * Workflow interceptors (a module the worker bundles beside the workflows): the id of the request
 * that sent an update is kept for the code that handles it, passed on to the activities it
 * schedules, and added to the workflow's log lines (Temporal already adds the workflow id and run
 * id). Per update, not per workflow: a journey or a controller lives through many requests, and
 * the work its own timers do belongs to none of them.
 *
 * No AsyncLocalStorage of our own: this module is loaded once per workflow, and every enabled
 * AsyncLocalStorage on the workflow thread is visited for every promise any workflow creates, so
 * one per cached journey made each promise cost O(cached journeys). The SDK already tracks which
 * update the running code serves (`currentUpdateInfo()`, one storage shared by all workflows);
 * the request id is looked up by that update's id.
 */
import {
  currentUpdateInfo,
  defaultPayloadConverter,
  type Next,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type { Payload } from '@temporalio/common';
import { REQUEST_ID_HEADER } from './definitions';

/** Update id → the id of the request that sent it, while its handler runs. */
const requestIds = new Map<string, string>();

function requestIdIn(headers: Record<string, Payload>): string | undefined {
  const header = headers[REQUEST_ID_HEADER];
  return header ? defaultPayloadConverter.fromPayload<string>(header) : undefined;
}

/** The request id of the update whose handler is running now, if any. */
function currentRequestId(): string | undefined {
  const updateId = currentUpdateInfo()?.id;
  return updateId === undefined ? undefined : requestIds.get(updateId);
}

/** The same input, its headers carrying the current request id on to the activity. */
function carried<T extends { headers: Record<string, Payload> }>(input: T): T {
  const requestId = currentRequestId();
  return requestId ? { ...input, headers: { ...input.headers, [REQUEST_ID_HEADER]: defaultPayloadConverter.toPayload(requestId) } } : input;
}

const inbound: WorkflowInboundCallsInterceptor = {
  async handleUpdate(input, next) {
    const requestId = requestIdIn(input.headers);
    if (!requestId) return next(input);
    requestIds.set(input.updateId, requestId);
    try {
      return await next(input);
    } finally {
      requestIds.delete(input.updateId);
    }
  },
};

const outbound: WorkflowOutboundCallsInterceptor = {
  scheduleActivity: (input, next) => next(carried(input)),
  scheduleLocalActivity: (input, next) => next(carried(input)),
  getLogAttributes(input, next: Next<WorkflowOutboundCallsInterceptor, 'getLogAttributes'>) {
    const requestId = currentRequestId();
    return next(requestId ? { requestId, ...input } : input);
  },
};

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [inbound], outbound: [outbound] });
