import { ApplicationFailure } from '@temporalio/activity';
import { DomainError } from '../lib/domain-error';

/**
 * Activities say what is retryable: a business refusal becomes a non-retryable ApplicationFailure
 * typed with its stable code; anything else (an outage, a timeout) is thrown as it is and retried.
 */
export async function refusalsAreFinal<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof DomainError) throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
    throw err;
  }
}
