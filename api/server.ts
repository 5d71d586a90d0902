import { serve } from '@hono/node-server';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { createDataSource } from '../db/data-source';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { startTracing } from '../lib/tracing';
import { createApp } from './app';
import { createMetrics } from './metrics';
import { requestIdInterceptor } from './temporal-context';

/**
 * How long a request may wait for Temporal (a hold, a payment, a leave). Without a deadline it waits
 * as long as the cause lasts: the SDK retries an unreachable server for ~20 s, and an update whose
 * worker or database is down waits until they are back (a hold waited 5 minutes, until the HTTP
 * server gave up, in a PostgreSQL outage). Long enough for a payment's saga on a loaded box (p99
 * ~0.2 s, TOOLCHAIN.md), and longer than a rolling restart delays a hold: a worker stopped with
 * SIGTERM sits on the journey tasks in its hands for its whole shutdown grace (10 s,
 * worker/create-worker.ts) before another worker takes them; at 10 s, test/e2e/scale-out.test.ts
 * saw such holds answer 503 one run in three.
 */
const TEMPORAL_DEADLINE_MS = 15_000;
const retry = defaultGrpcRetryOptions();

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, 'api');
  const db = createDataSource(config.DATABASE_URL, { applicationName: 'ovation-api' });
  await db.initialize();
  const redis = createRedis(config.REDIS_URL);
  // Lazy: the API starts (and /readyz reports it) while Temporal is still coming up.
  const connection = Connection.lazy({
    address: config.TEMPORAL_ADDRESS,
    // The SDK's retries of an unreachable server, each back-off capped at 1 s so that none carries a
    // request seconds past its deadline (by default they grow to 5 s).
    interceptors: [makeGrpcRetryInterceptor({ ...retry, delayFunction: (attempt, status) => Math.min(retry.delayFunction(attempt, status), 1000) })],
    // Back within 2 s of a restarted server: gRPC's reconnect back-off otherwise grows to 2 minutes.
    channelArgs: { 'grpc.max_reconnect_backoff_ms': 2000 },
  });
  const tracing = startTracing('api', config);
  const temporal = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    interceptors: { workflow: [requestIdInterceptor] },
    plugins: tracing ? [tracing.plugin] : [],
  });
  const app = createApp({ config, db, redis, temporal, logger, metrics: createMetrics(), tracing: Boolean(tracing) });

  // Every Temporal call a request makes shares the request's deadline, so a request answers 503
  // instead of waiting as long as an outage lasts.
  const fetch: typeof app.fetch = (request, env, ctx) => connection.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, async () => app.fetch(request, env, ctx));
  const server = serve({ fetch, port: config.PORT, hostname: '0.0.0.0' }, ({ port }) => {
    logger.info({ port }, 'Ovation API listening');
  });

  // Graceful shutdown: stop accepting, let in-flight requests finish, then close the clients.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'API draining');
    server.close(async () => {
      await Promise.allSettled([db.destroy(), redis.quit(), connection.close(), tracing?.shutdown()]);
      logger.info('API stopped');
      process.exit(0);
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  console.error('API failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
