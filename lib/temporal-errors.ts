import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure, TemporalFailure, TimeoutFailure } from '@temporalio/common';
import { isErrorCode, type ErrorCode } from './error-codes';

/** gRPC status codes the API tells apart (grpc/status.proto). */
export const Grpc = {
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAVAILABLE: 14,
} as const;

/** The failure type the server gives an accepted update whose workflow completed before it did. */
const UPDATE_OUTLIVED_WORKFLOW = 'AcceptedUpdateCompletedWorkflow';
/** The server's failure for an update the workflow task completed without processing (it never ran). */
const UNPROCESSED_UPDATE = 'UnprocessedUpdate';

/**
 * What a failed Temporal call means for the request, read from the SDK's error classes and gRPC
 * status codes (never from message text, which an SDK or server upgrade may reword):
 * - `refused`: the workflow refused for a business reason (`code` from lib/error-codes.ts);
 * - `journey-closed`: the workflow has ended (not found, already completed, a start refused as duplicate);
 * - `outcome-unknown`: the request may have taken effect (the deadline passed, or a step timed out);
 * - `overloaded`: Temporal refused for load (RESOURCE_EXHAUSTED: updates in flight, namespace RPS);
 * - `unavailable`: Temporal, or the workflow's task, cannot take the request now (retry in seconds).
 */
export type TemporalOutcome =
  | { kind: 'refused'; code: ErrorCode; detail: string }
  | { kind: 'journey-closed' }
  | { kind: 'outcome-unknown' }
  | { kind: 'overloaded' }
  | { kind: 'unavailable' };

export function classifyTemporal(err: unknown): TemporalOutcome | undefined {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return { kind: 'outcome-unknown' };
  if (err instanceof WorkflowNotFoundError || err instanceof WorkflowExecutionAlreadyStartedError) return { kind: 'journey-closed' };
  if (err instanceof WorkflowUpdateFailedError || err instanceof TemporalFailure) {
    for (let cause: unknown = err; cause instanceof Error; cause = (cause as { cause?: unknown }).cause) {
      if (cause instanceof ApplicationFailure && isErrorCode(cause.type)) return { kind: 'refused', code: cause.type, detail: cause.message || cause.type };
      if (cause instanceof ApplicationFailure && cause.type === UPDATE_OUTLIVED_WORKFLOW) return { kind: 'journey-closed' };
      // The server dropped an update its worker's task did not answer (seen with 20 updates sent to one
      // journey at once, past its cap of 10 in flight): it never ran, so a retry is safe.
      if (cause instanceof ApplicationFailure && cause.type === UNPROCESSED_UPDATE) return { kind: 'unavailable' };
      // A step that timed out inside the journey may still commit (a late database write).
      if (cause instanceof TimeoutFailure) return { kind: 'outcome-unknown' };
    }
    return undefined;
  }
  const code = grpcCode(err);
  switch (code) {
    case Grpc.CANCELLED:
    case Grpc.DEADLINE_EXCEEDED:
      return { kind: 'outcome-unknown' };
    case Grpc.NOT_FOUND:
      return { kind: 'journey-closed' };
    case Grpc.RESOURCE_EXHAUSTED:
      return { kind: 'overloaded' };
    // The workflow's task is being retried (its worker died) or the run is being replaced: seconds.
    case Grpc.FAILED_PRECONDITION:
    case Grpc.ABORTED:
    case Grpc.UNAVAILABLE:
      return { kind: 'unavailable' };
    default:
      // A ServiceError without a gRPC status underneath: the client could not reach the server.
      return err instanceof ServiceError && code === undefined ? { kind: 'unavailable' } : undefined;
  }
}

/**
 * The gRPC status code of a Temporal client error: a ServiceError's cause, or the raw status that
 * Update-with-Start rethrows (numeric `code` plus string `details`, as @grpc/grpc-js builds it).
 */
export function grpcCode(err: unknown): number | undefined {
  const status = (err instanceof ServiceError ? err.cause : err) as { code?: unknown; details?: unknown } | null | undefined;
  if (typeof status?.code !== 'number') return undefined;
  if (!(err instanceof ServiceError) && typeof status.details !== 'string') return undefined;
  return status.code;
}

/** The call could not reach the journey because it has ended (not found, or completed as the update arrived). */
export const journeyEnded = (err: unknown): boolean => classifyTemporal(err)?.kind === 'journey-closed';
