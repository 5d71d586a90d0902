import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { createDataSource } from '../db/data-source';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { createApp } from './app';
import { createMetrics } from './metrics';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, 'api');
  const db = createDataSource(config.DATABASE_URL, { applicationName: 'ovation-api' });
  await db.initialize();
  const redis = createRedis(config.REDIS_URL);
  // Lazy: the API starts (and /readyz reports it) while Temporal is still coming up.
  const connection = Connection.lazy({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const app = createApp({ config, db, redis, temporal, logger, metrics: createMetrics() });

  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: '0.0.0.0' }, ({ port }) => {
    logger.info({ port }, 'Ovation API listening');
  });

  // Graceful shutdown: stop accepting, let in-flight requests finish, then close the clients.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'API draining');
    server.close(async () => {
      await Promise.allSettled([db.destroy(), redis.quit(), connection.close()]);
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
