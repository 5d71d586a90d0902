import { defaultPayloadConverter } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { REQUEST_ID_HEADER } from '../workflows/definitions';

/** The workflow interceptor modules bundled with the workflows (a prebuilt bundle must include them too). */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('../workflows/request-context')];

/**
 * Adds the id of the request that caused an activity (carried in its headers by
 * workflows/request-context.ts) to the activity's log lines, beside the workflow id, run id and
 * activity type Temporal adds.
 */
export const requestContextInterceptor: ActivityInterceptorsFactory = () => {
  let requestId: string | undefined;
  return {
    inbound: {
      execute(input, next) {
        const header = input.headers[REQUEST_ID_HEADER];
        requestId = header ? defaultPayloadConverter.fromPayload<string>(header) : undefined;
        return next(input);
      },
    },
    outbound: {
      getLogAttributes: (input, next) => next(requestId ? { requestId, ...input } : input),
    },
  };
};
