import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { DomainError } from '../lib/domain-error';
import type { IdempotencyStore } from '../db/stores/idempotency';
import type { AppEnv } from './deps';
import { problemOf, toProblem } from './problem';

export interface Answer {
  status: number;
  body: unknown;
}

/**
 * Runs a money- or seat-moving POST under its optional `Idempotency-Key`: the same key from the same
 * user on the same endpoint replays the first non-5xx answer (status and body) and changes nothing;
 * the same key with another body is 422 IDEMPOTENCY_KEY_REUSED.
 */
export async function idempotent(c: Context<AppEnv>, store: IdempotencyStore, endpoint: string, request: unknown, run: () => Promise<Answer>): Promise<Response> {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return respond(c, await run());
  if (key.length < 1 || key.length > 128) throw new DomainError('VALIDATION_FAILED', 'Idempotency-Key must be 1 to 128 characters');
  const userId = c.get('userId');
  const hash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
  const claim = await store.claim(userId, endpoint, key, hash);
  if (claim.kind === 'mismatch') {
    return respond(c, { status: 422, body: problemOf('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request') });
  }
  if (claim.kind === 'replay') return respond(c, { status: claim.status, body: claim.body }, true);
  let answer: Answer;
  try {
    answer = await run();
  } catch (err) {
    const problem = toProblem(err);
    if (problem.status >= 500) {
      await store.abandon(userId, endpoint, key).catch(() => undefined);
      throw err;
    }
    answer = { status: problem.status, body: problem };
  }
  await store.complete(userId, endpoint, key, answer.status, answer.body);
  return respond(c, answer);
}

function respond(c: Context<AppEnv>, answer: Answer, replayed = false): Response {
  const isProblem = answer.status >= 400;
  const headers: Record<string, string> = { 'Content-Type': isProblem ? 'application/problem+json' : 'application/json' };
  if (replayed) headers['Idempotent-Replayed'] = 'true';
  return c.body(JSON.stringify(answer.body), answer.status as 200, headers);
}
