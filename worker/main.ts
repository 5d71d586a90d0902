import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { createDataSource } from '../db/data-source';
import { CatalogStore } from '../db/stores/catalog';
import { loadConfig } from '../lib/config';
import { Journeys } from '../lib/journeys';
import { createLogger } from '../lib/logger';
import { createRedis, redisReady } from '../lib/redis';
import { createWorker } from './create-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, 'worker');
  // The SDK's own logs (workflow and activity logs carry workflowId, runId, activity type) go through pino.
  const sdkLevels: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' };
  Runtime.install({
    logger: new DefaultLogger(sdkLevels[config.LOG_LEVEL] ?? 'INFO', ({ level, message, meta }) => {
      logger[level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error')]({ ...meta }, message);
    }),
  });
  const db = createDataSource(config.DATABASE_URL, { applicationName: 'ovation-worker' });
  await db.initialize();
  const redis = createRedis(config.REDIS_URL);
  await redisReady(redis);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });

  const worker = await createWorker({ config, db, redis, connection, clientConnection });

  // Every concert's admission controller runs (idempotent); new concerts get theirs when created.
  const journeys = new Journeys(new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE }), config);
  const concerts = await new CatalogStore(db).concertIds();
  await Promise.all(concerts.map((id) => journeys.ensureAdmission(id)));
  logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, concerts: concerts.length }, 'worker running');

  // The SDK's runtime shuts the worker down gracefully on SIGINT/SIGTERM: in-flight tasks finish first.
  await worker.run();
  await Promise.allSettled([db.destroy(), redis.quit(), clientConnection.close(), connection.close()]);
  logger.info('worker stopped');
}

main().catch((err) => {
  console.error('worker failed:', err);
  process.exit(1);
});
