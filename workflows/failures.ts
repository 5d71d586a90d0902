import { ActivityFailure, ApplicationFailure, TemporalFailure } from '@temporalio/workflow';
import { isErrorCode, type ErrorCode } from '../lib/error-codes';

/** A business refusal that ends an update (never the workflow) with a stable code the API maps. */
export function refuse(code: ErrorCode, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
}

/** The business code inside an activity's failure, if it refused for a business reason. */
export function businessCode(err: unknown): ErrorCode | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && isErrorCode(cause.type)) return cause.type;
  return undefined;
}

/**
 * What an update handler rethrows: the activity's business refusal as our own failure, or the
 * original Temporal failure. A plain Error would fail the workflow task and retry forever instead.
 */
export function asUpdateFailure(err: unknown): TemporalFailure {
  const code = businessCode(err);
  if (code) return refuse(code, (err instanceof ActivityFailure ? err.cause?.message : (err as Error).message) ?? code);
  if (err instanceof TemporalFailure) return err;
  return ApplicationFailure.create({ type: 'INTERNAL', message: String(err), nonRetryable: true });
}
