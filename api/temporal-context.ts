import { defaultPayloadConverter } from '@temporalio/common';
import type { Headers } from '@temporalio/common';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { getContext } from 'hono/context-storage';
import { REQUEST_ID_HEADER } from '../workflows/definitions';
import type { AppEnv } from './deps';

/** The id of the request being served (`contextStorage()` keeps it across awaits), if any. */
function currentRequestId(): string | undefined {
  try {
    return getContext<AppEnv>().get('requestId');
  } catch {
    return undefined; // outside a request: start-up, the worker
  }
}

function withRequestId(headers: Headers): Headers {
  const requestId = currentRequestId();
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
