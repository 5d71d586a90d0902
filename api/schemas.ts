import { z } from '@hono/zod-openapi';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'SEAT_UNAVAILABLE' }),
  })
  .openapi('Problem');

/** Error responses of a route, each `application/problem+json`. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, { description: PROBLEM_DESCRIPTIONS[status] ?? 'Error', content: { 'application/problem+json': { schema: ProblemSchema } } }]),
  );
}

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHENTICATED or QUEUE_TOKEN_INVALID',
  403: 'FORBIDDEN or QUEUE_TOKEN_NOT_ACTIVE',
  404: 'NOT_FOUND',
  409: 'A state conflict (seat taken, hold expired, balance too low, ...)',
  413: 'The body is too large',
  422: 'IDEMPOTENCY_KEY_REUSED',
  429: 'RATE_LIMITED',
  500: 'INTERNAL',
  503: 'DEPENDENCY_UNAVAILABLE',
};

/** 429 RATE_LIMITED, with the `Retry-After` (seconds) a client waits before trying again. */
export const rateLimited = {
  429: {
    description: 'RATE_LIMITED: too many requests from this user or address; retry after Retry-After seconds',
    headers: z.object({ 'Retry-After': z.string().openapi({ description: 'Seconds to wait before the next attempt', example: '1' }) }),
    content: { 'application/problem+json': { schema: ProblemSchema } },
  },
};

export const Uuid = z.string().uuid();

/**
 * Free text stored verbatim: any Unicode except what PostgreSQL text cannot hold — NUL, and a lone
 * surrogate (half of a UTF-16 pair, which JSON can carry as `\ud800` but UTF-8 cannot encode: it would be
 * stored as U+FFFD, not as sent).
 */
export const Text = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain the NUL character')
    .refine((s) => !/\p{Cs}/u.test(s), 'must be well-formed Unicode (no lone surrogate)');
export const IsoTime = z.string().datetime({ offset: true });

export const limitQuery = (fallback: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback).openapi({ param: { name: 'limit', in: 'query' }, example: fallback });

export const bearer = [{ Bearer: [] }];
export const bearerAndQueueToken = [{ Bearer: [], QueueToken: [] }];
export const adminKey = [{ AdminKey: [] }];

export const idempotencyHeader = z.object({
  'idempotency-key': z.string().min(1).max(128).optional().openapi({ description: 'Replays the first answer for a repeated key' }),
});
