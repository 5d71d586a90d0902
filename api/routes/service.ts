import { createRoute, z } from '@hono/zod-openapi';
import type { AppDeps } from '../deps';
import { problemOf, problemResponse } from '../problem';
import { router } from '../router';
import { problems } from '../schemas';

const READY_TIMEOUT_MS = 1500;

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['Service'],
  summary: 'Liveness',
  responses: { 200: { description: 'Alive', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } } },
});

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['Service'],
  summary: 'Readiness: PostgreSQL, Redis and Temporal answer',
  responses: {
    200: { description: 'Ready', content: { 'application/json': { schema: z.object({ status: z.literal('ready'), checks: z.record(z.string(), z.string()) }) } } },
    ...problems(503),
  },
});

function within<T>(ms: number, work: Promise<T>): Promise<T> {
  return Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

export function serviceRoutes(deps: AppDeps) {
  const app = router();
  const checks: Record<string, () => Promise<unknown>> = {
    postgres: () => deps.db.query('SELECT 1'),
    redis: () => deps.redis.ping(),
    temporal: () => deps.temporal.connection.workflowService.getSystemInfo({}),
  };

  app.get('/metrics', async (c) => c.body(await deps.metrics.exposition(), 200, { 'Content-Type': deps.metrics.registry.contentType }));

  return app
    .openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200))
    .openapi(readyz, async (c) => {
      const results = await Promise.all(
        Object.entries(checks).map(async ([name, check]) => {
          try {
            await within(READY_TIMEOUT_MS, check());
            return [name, 'ok'] as const;
          } catch {
            return [name, 'unavailable'] as const;
          }
        }),
      );
      const down = results.filter(([, state]) => state !== 'ok').map(([name]) => name);
      if (down.length) return problemResponse(c, problemOf('DEPENDENCY_UNAVAILABLE', `not ready: ${down.join(', ')} unavailable`)) as never;
      return c.json({ status: 'ready' as const, checks: Object.fromEntries(results) }, 200);
    });
}
