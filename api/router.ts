import { createRoute, OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './deps';
import { problemOf, problemResponse } from './problem';

/** A sub-app whose request validation failures answer 400 VALIDATION_FAILED as problem+json. */
export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const detail = result.error.issues
          .map((issue) => `${issue.path.length ? issue.path.join('.') : result.target}: ${issue.message}`)
          .join('; ');
        return problemResponse(c, problemOf('VALIDATION_FAILED', detail));
      }
    },
  });
}

/** The middleware that enforces each OpenAPI security scheme (by its name in the components). */
export type Guards = Partial<Record<string, MiddlewareHandler<AppEnv>>>;

/**
 * The route with the middleware its OpenAPI `security` declares, in the declared order (Bearer
 * before QueueToken: the token's owner is checked against the authenticated user). What the
 * document promises is what is enforced: a route cannot declare a scheme and miss its check, and a
 * scheme without a guard is a start-up error, not an open door.
 */
export function secured<R extends RouteConfig>(route: R, guards: Guards): R {
  const security = route.security ?? [];
  if (security.length > 1) throw new Error(`${route.method} ${route.path}: alternative security requirements are not supported`);
  const middleware = Object.keys(security[0] ?? {}).map((scheme) => {
    const guard = guards[scheme];
    if (!guard) throw new Error(`${route.method} ${route.path}: no guard for security scheme ${scheme}`);
    return guard;
  });
  // The route's own middleware (its abuse limit) runs once the caller is authenticated and before the
  // queue token is checked: a refused request costs no Redis round trip (a looping script's 429s).
  const [authenticate, ...rest] = middleware;
  return createRoute({ ...route, middleware: [...(authenticate ? [authenticate] : []), ...asArray(route.middleware), ...rest] }) as R;
}

/** The route with an abuse limit's middleware, run once the user is known (see `secured`). */
export function limited<R extends RouteConfig>(route: R, limit: { middleware: MiddlewareHandler<AppEnv> }): R {
  return { ...route, middleware: [...asArray(route.middleware), limit.middleware] } as R;
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/**
 * The route as documented (its request headers included), served without validating those headers:
 * the header validator copies every request's headers into a web Headers object first (a fifth of a
 * seat map 304's cost). For routes whose handler reads its few optional headers by name and checks
 * them itself (If-None-Match simply does not match; an Idempotency-Key's length is checked by
 * `idempotent`, the same 400 VALIDATION_FAILED).
 */
export function headersDocumentedOnly<R extends RouteConfig>(app: OpenAPIHono<AppEnv>, route: R): R {
  // As `openapi()` registers a route: without the middleware that enforces it.
  app.openAPIRegistry.registerPath({ ...route, middleware: undefined });
  return { ...route, hide: true, request: { ...route.request, headers: undefined } };
}
