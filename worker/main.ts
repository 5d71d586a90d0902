import { Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { createDataSource } from '../db/data-source';
import { CatalogStore } from '../db/stores/catalog';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createRedis, redisReady } from '../lib/redis';
import { startTracing } from '../lib/tracing';
import { WaitingRoom } from '../queue/waiting-room';
import { createWorker } from './create-worker';
import { startIdempotencyPruning } from './idempotency-pruning';
import { createWorkerMetrics, sdkPrometheusExporter } from './metrics';
import { createMetricsApp, serveMetrics } from './metrics-server';

/** The worker's /metrics port (ours, with the SDK's merged in) and where the SDK's own exporter binds. */
function metricsSettings(env: NodeJS.ProcessEnv = process.env): { port: number; sdkAddress: string } {
  const port = Number(env.WORKER_METRICS_PORT ?? 9464);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`WORKER_METRICS_PORT must be a port number, got ${env.WORKER_METRICS_PORT}`);
  return { port, sdkAddress: env.WORKER_SDK_METRICS_ADDRESS || '127.0.0.1:9465' };
}

/**
 * Until the worker runs it holds no task, so a stop asked for while it starts ends it at once, as a
 * stop and not a failure. (Ctrl-C in `npm start` reaches every process of the terminal together: the
 * Temporal server could be gone before this worker had bundled its workflows, and it then failed on
 * the closed connection.) Once it runs, the SDK's runtime handles these signals: in-flight tasks finish.
 */
let running = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (running) return;
    console.log(`worker stopped by ${signal} before it ran`);
    process.exit(0);
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, 'worker');
  // The SDK's own logs (workflow and activity logs carry workflowId, runId, activity type) go through pino.
  const sdkLevels: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' };
  const sdkLogger = new DefaultLogger(sdkLevels[config.LOG_LEVEL] ?? 'INFO', ({ level, message, meta }) => {
    logger[level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error')]({ ...meta }, message);
  });
  // The SDK's worker metrics (task latencies, slots, pollers) through its runtime's Prometheus
  // exporter on localhost; /metrics below serves them merged with ours.
  const metricsAt = metricsSettings();
  let sdkMetricsUrl: string | undefined = `http://${metricsAt.sdkAddress}/metrics`;
  try {
    Runtime.install({ logger: sdkLogger, telemetryOptions: { metrics: sdkPrometheusExporter(metricsAt.sdkAddress) } });
  } catch (err) {
    // E.g. the port is taken by another worker on this host: run without the SDK's metrics.
    logger.error({ err, address: metricsAt.sdkAddress }, 'SDK metrics exporter failed to start; running without it');
    sdkMetricsUrl = undefined;
    Runtime.install({ logger: sdkLogger });
  }
  const metrics = createWorkerMetrics();
  const db = createDataSource(config.DATABASE_URL, { applicationName: 'ovation-worker' });
  await db.initialize();
  const redis = createRedis(config.REDIS_URL, config.REDIS_CLUSTER_NODES, { commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  await redisReady(redis);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });

  const tracing = startTracing('worker', config);
  const worker = await createWorker({ config, db, redis, connection, clientConnection, metrics, tracing });
  const metricsApp = createMetricsApp({
    registry: metrics.registry,
    merge: sdkMetricsUrl ? [sdkMetricsUrl] : [],
    onMergeError: (url, err) => logger.warn({ url, err: String(err) }, 'SDK metrics unavailable for this scrape'),
  });
  // A worker whose metrics port is taken (a second worker on one host) still works: it logs and goes on.
  const metricsServer = await serveMetrics(metricsApp, { port: metricsAt.port }).then(
    ({ server, port }) => {
      logger.info({ port, sdk: sdkMetricsUrl ?? null }, 'worker metrics on /metrics');
      return server;
    },
    (err) => {
      logger.error({ err, port: metricsAt.port }, 'worker metrics server failed to start; running without it');
      return undefined;
    },
  );

  // No controller is started here: a concert's controller sleeps while nobody waits and the first
  // join wakes it (or starts it again). Marking every concert's controller asleep costs one Redis
  // write each and no Temporal work; it covers controllers lost with a Temporal server or marks lost
  // with Redis (a controller that is in fact awake only hears one wake-up too many).
  const concerts = await new CatalogStore(db).concertIds();
  const room = new WaitingRoom(redis);
  await Promise.all(concerts.map((id) => room.markControllerAsleep(id)));
  logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, concerts: concerts.length }, 'worker running');

  // Idempotency records older than their retention are deleted by every worker, in small batches.
  const stopPruning = startIdempotencyPruning(db, config.IDEMPOTENCY_RETENTION_SECONDS, logger);

  // The SDK's runtime shuts the worker down gracefully on SIGINT/SIGTERM: in-flight tasks finish first.
  running = true;
  await worker.run();
  stopPruning();
  metricsServer?.close();
  await Promise.allSettled([db.destroy(), redis.quit(), clientConnection.close(), connection.close(), tracing?.shutdown()]);
  logger.info('worker stopped');
}

main().catch((err) => {
  console.error('worker failed:', err);
  process.exit(1);
});
