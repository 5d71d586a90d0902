import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import { httpInstrumentationMiddleware } from '@hono/otel';
import { bodyLimit } from 'hono/body-limit';
import { contextStorage } from 'hono/context-storage';
import { defineQueueScripts } from '../queue/scripts';
import type { AppDeps, AppEnv } from './deps';
import { swaggerUi } from './docs';
import { problemOf, problemResponse, toProblem } from './problem';
import { adminRoutes } from './routes/admin';
import { catalogRoutes } from './routes/catalog';
import { paymentRoutes } from './routes/payments';
import { queueRoutes } from './routes/queue';
import { reservationRoutes } from './routes/reservations';
import { serviceRoutes } from './routes/service';
import { ticketRoutes } from './routes/tickets';
import { usersRoutes } from './routes/users';
import { walletRoutes } from './routes/wallet';

const MAX_BODY_BYTES = 64 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The whole HTTP API over its dependencies; only `server.ts` listens. */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  defineQueueScripts(deps.redis);
  const app = new OpenAPIHono<AppEnv>();

  // The request's context stays reachable across awaits: the Temporal client's interceptor reads the
  // request id from it (temporal-context.ts).
  app.use('*', contextStorage());
  if (deps.tracing) app.use('*', httpInstrumentationMiddleware({ serviceName: 'ovation-api' }));
  // Request id (accepted from the caller when sane, else generated), one log line and metrics per request.
  app.use('*', async (c, next) => {
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId);
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = c.req.routePath && c.req.routePath !== '/*' ? c.req.routePath : 'unmatched';
    const labels = { method: c.req.method, route, status: String(c.res.status) };
    deps.metrics.httpRequests.inc(labels);
    deps.metrics.httpDuration.observe(labels, seconds);
    deps.logger.info({ requestId, method: c.req.method, route, path: c.req.path, status: c.res.status, ms: Math.round(seconds * 1000) }, 'request');
  });
  // Not on requests that say they carry no body (`Content-Length: 0`, or a GET/HEAD with neither a
  // length nor a streamed body): there the limit makes the server build a body stream for nothing
  // (13 % of the API's CPU on the polling path, 19 % on the join path, a bodiless POST; measured).
  const limitBody = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => problemResponse(c, problemOf('VALIDATION_FAILED', `the body exceeds ${MAX_BODY_BYTES} bytes`, 413)) });
  app.use('*', (c, next) => {
    const length = c.req.header('content-length');
    const readOnly = c.req.method === 'GET' || c.req.method === 'HEAD';
    const bodiless = length === '0' || (readOnly && length === undefined && c.req.header('transfer-encoding') === undefined);
    return bodiless ? next() : limitBody(c, next);
  });

  app.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'QueueToken', { type: 'apiKey', in: 'header', name: 'X-Queue-Token' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'AdminKey', { type: 'apiKey', in: 'header', name: 'X-Admin-Key' });

  for (const routes of [serviceRoutes, usersRoutes, walletRoutes, catalogRoutes, queueRoutes, reservationRoutes, paymentRoutes, ticketRoutes, adminRoutes]) {
    app.route('/', routes(deps));
  }

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Ovation API', version: '1.0.0', description: 'Concert ticketing that sells seats fairly under a rush.' },
  });
  app.route('/', swaggerUi('/openapi.json'));

  app.notFound((c) => problemResponse(c, problemOf('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    const problem = toProblem(err);
    if (problem.status >= 500) deps.logger.error({ err, requestId: c.get('requestId') }, 'request failed');
    return problemResponse(c, problem);
  });
  return app;
}
