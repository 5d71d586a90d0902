import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { DomainError } from '../lib/domain-error';
import type { IdempotencyStore } from '../db/stores/idempotency';
import type { AppEnv } from './deps';
import { isTransient, problemOf, problemResponse, toProblem } from './problem';

export interface Answer {
  status: number;
  body: unknown;
}

/**
 * Runs a money- or seat-moving request under its optional `Idempotency-Key`: the same key from the
 * same user on the same endpoint replays the first final answer (status and body) and changes
 * nothing; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED.
 *
 * `run` receives the key so that the use case derives its ids from it: a re-run addresses the same
 * hold, payment or ledger row. An answer that is not final (a 5xx, a 429: the outcome is unknown or
 * the request was not taken) is not stored; the key stays taken, "in doubt", and the next request with
 * it runs again and converges on what really happened (`run` is told it `resumed` such a key: only then
 * can an effect of the key exist already). Without a key a retry is a new request.
 *
 * Keys are scoped to the authenticated user, or to `owner` where the caller is no user (the operator).
 */
export async function idempotent(
  c: Context<AppEnv>,
  store: IdempotencyStore,
  endpoint: string,
  request: unknown,
  run: (key?: string, resumed?: boolean) => Promise<Answer>,
  owner: string = c.get('userId'),
): Promise<Response> {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return respond(c, await run());
  if (key.length < 1 || key.length > 128) throw new DomainError('VALIDATION_FAILED', 'Idempotency-Key must be 1 to 128 characters');
  const userId = owner;
  const hash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
  const claim = await store.claim(userId, endpoint, key, hash);
  if (claim.kind === 'mismatch') {
    return respond(c, { status: 422, body: problemOf('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request') });
  }
  if (claim.kind === 'replay') return respond(c, { status: claim.status, body: claim.body }, true);
  let answer: Answer;
  try {
    answer = await run(key, claim.resumed === true);
  } catch (err) {
    const problem = toProblem(err);
    if (isTransient(problem)) {
      // Never freed: the effect may have committed. The retry re-runs with the same ids.
      await store.markInDoubt(userId, endpoint, key).catch(() => undefined);
      throw err;
    }
    answer = { status: problem.status, body: problem };
  }
  // If the answer cannot be recorded the client gets a 5xx for an effect that happened: the key stays
  // in doubt so that the retry re-runs at once and finds that effect.
  await store.complete(userId, endpoint, key, answer.status, answer.body).catch(async (err: unknown) => {
    await store.markInDoubt(userId, endpoint, key).catch(() => undefined);
    throw err;
  });
  return respond(c, answer);
}

function respond(c: Context<AppEnv>, answer: Answer, replayed = false): Response {
  const replay: Record<string, string> = replayed ? { 'Idempotent-Replayed': 'true' } : {};
  if (answer.status >= 400) return problemResponse(c, answer.body as Parameters<typeof problemResponse>[1], replay);
  return c.body(JSON.stringify(answer.body), answer.status as 200, { 'Content-Type': 'application/json', ...replay });
}
