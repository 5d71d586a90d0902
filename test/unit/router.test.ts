import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../api/deps';
import { router, secured } from '../../api/router';

const route = createRoute({
  method: 'post',
  path: '/things',
  security: [{ Bearer: [], QueueToken: [] }],
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: z.object({ checks: z.array(z.string()) }) } } } },
});

describe('auth attached from a route’s OpenAPI security (review D5)', () => {
  it('runs the guard of every declared scheme, in the declared order, before the handler', async () => {
    const guard =
      (name: string): MiddlewareHandler<AppEnv> =>
      async (c, next) => {
        c.header('x-checks', [c.res.headers.get('x-checks'), name].filter(Boolean).join(','));
        await next();
      };
    const app = router().openapi(secured(route, { Bearer: guard('Bearer'), QueueToken: guard('QueueToken') }), (c) => c.json({ checks: [] }, 200));
    const res = await app.request('/things', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-checks')).toBe('Bearer,QueueToken');
  });

  it('a guard that refuses stops the request before the handler', async () => {
    let reached = false;
    const refuse: MiddlewareHandler<AppEnv> = async (c) => c.text('no', 401);
    const app = router().openapi(secured(route, { Bearer: refuse, QueueToken: async (_c, next) => next() }), (c) => {
      reached = true;
      return c.json({ checks: [] }, 200);
    });
    expect((await app.request('/things', { method: 'POST' })).status).toBe(401);
    expect(reached).toBe(false);
  });

  it('a declared scheme without a guard is refused when the routes are built, not left open', () => {
    expect(() => secured(route, { Bearer: async (_c, next) => next() })).toThrow(/no guard for security scheme QueueToken/);
  });
});
