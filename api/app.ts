import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OpenAPIHono } from '@hono/zod-openapi';
import { httpInstrumentationMiddleware } from '@hono/otel';
import { bodyLimit } from 'hono/body-limit';
import { defineQueueScripts } from '../queue/scripts';
import type { AppDeps, AppEnv } from './deps';
import { swaggerUi } from './docs';
import { problemOf, problemResponse, toProblem } from './problem';
import { RateLimited } from './rate-limit';
import { temporalScope } from './temporal-context';
import { adminRoutes } from './routes/admin';
import { catalogRoutes } from './routes/catalog';
import { paymentRoutes } from './routes/payments';
import { queueRoutes } from './routes/queue';
import { reservationRoutes } from './routes/reservations';
import { serviceRoutes } from './routes/service';
import { ticketRoutes } from './routes/tickets';
import { usersRoutes } from './routes/users';
import { walletRoutes } from './routes/wallet';
import { createUseCases } from './use-cases';

const MAX_BODY_BYTES = 64 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The whole HTTP API over its dependencies; only `server.ts` listens. */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  defineQueueScripts(deps.redis);
  const app = new OpenAPIHono<AppEnv>();

  if (deps.tracing) app.use('*', httpInstrumentationMiddleware({ serviceName: 'ovation-api' }));
  // Request id (accepted from the caller when sane, else generated), one log line and metrics per request.
  app.use('*', async (c, next) => {
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    // On Node's server the header goes straight onto the outgoing message (merged with the answer's
    // own headers when they are written): Hono's c.header() would turn every answer's headers into
    // a web Headers object, which the server then converts back, on every request.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing) outgoing.setHeader('X-Request-Id', requestId);
    else c.header('X-Request-Id', requestId);
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = c.req.routePath && c.req.routePath !== '/*' ? c.req.routePath : 'unmatched';
    const series = deps.metrics.httpSeries(c.req.method, route, c.res.status);
    series.requests.inc();
    series.duration.observe(seconds);
    if (deps.logger.isLevelEnabled('info')) {
      deps.logger.info({ requestId, method: c.req.method, route, path: c.req.path, status: c.res.status, ms: Math.round(seconds * 1000) }, 'request');
    }
  });
  // The body limit reads the body as a stream, which makes the server build a web Request for it: only
  // a chunked body needs that. An HTTP/1.x request with neither Content-Length nor Transfer-Encoding
  // has no body (RFC 9112 §6.3), whatever its method (a join is a bodiless POST, sent without a length
  // by most clients); with a Content-Length the number is compared (Node's parser holds the body to
  // it). Requests that did not come off an HTTP/1.x socket (HTTP/2, in-process) keep the stream check.
  const tooLarge = (c: Parameters<typeof problemResponse>[0]) => problemResponse(c, problemOf('VALIDATION_FAILED', `the body exceeds ${MAX_BODY_BYTES} bytes`, 413));
  const limitStreamedBody = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  app.use('*', (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (incoming?.httpVersionMajor !== 1) return limitStreamedBody(c, next);
    const length = incoming.headers['content-length'];
    if (length !== undefined) return Number(length) > MAX_BODY_BYTES ? Promise.resolve(tooLarge(c)) : next();
    return incoming.headers['transfer-encoding'] === undefined ? next() : limitStreamedBody(c, next);
  });
  // Only the routes that call Temporal run in its deadline and carry the request id to it (a hold
  // scopes its own call: a refused one never reaches Temporal).
  const temporal = temporalScope(deps.temporal);
  app.on(['POST'], ['/payments'], temporal);
  app.on(['DELETE'], ['/reservations/*', '/queue-tokens/current'], temporal);
  app.use('/admin/*', temporal);

  app.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'QueueToken', { type: 'apiKey', in: 'header', name: 'X-Queue-Token' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'AdminKey', { type: 'apiKey', in: 'header', name: 'X-Admin-Key' });

  const routeDeps = { ...deps, useCases: createUseCases(deps) };
  for (const routes of [serviceRoutes, usersRoutes, walletRoutes, catalogRoutes, queueRoutes, reservationRoutes, paymentRoutes, ticketRoutes, adminRoutes]) {
    app.route('/', routes(routeDeps));
  }

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Ovation API', version: '1.0.0', description: 'Concert ticketing that sells seats fairly under a rush.' },
  });
  app.route('/', swaggerUi('/openapi.json'));

  app.notFound((c) => problemResponse(c, problemOf('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    if (err instanceof RateLimited) return problemResponse(c, toProblem(err), { 'Retry-After': String(err.retryAfterSeconds) });
    const problem = toProblem(err);
    if (problem.status >= 500) deps.logger.error({ err, requestId: c.get('requestId') }, 'request failed');
    return problemResponse(c, problem);
  });
  return app;
}
