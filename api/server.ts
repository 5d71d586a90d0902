import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { serve } from '@hono/node-server';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { AggregatorRegistry } from 'prom-client';
import { createDataSource } from '../db/data-source';
import { loadConfig, type Config } from '../lib/config';
import { createLogger, type Logger } from '../lib/logger';
import { createRedis, redisReady } from '../lib/redis';
import { startTracing } from '../lib/tracing';
import { primeTemporalCodecs } from '../lib/temporal-codecs';
import { createApp } from './app';
import { createMetrics } from './metrics';
import { requestIdInterceptor } from './temporal-context';

const retry = defaultGrpcRetryOptions();
/** How long a process may drain its in-flight requests on SIGTERM/SIGINT before it exits anyway. */
const DRAIN_MS = 10_000;

/** IPC between the API processes: a worker asks the primary for the metrics of all of them. */
interface MetricsRequest {
  ovation: 'metrics?';
  id: number;
}
interface MetricsReply {
  ovation: 'metrics';
  id: number;
  text?: string;
  error?: string;
}

/**
 * The API as `API_PROCESSES` processes sharing one port (node `cluster`; the default is one per
 * core): one event loop is what limits a rush's join and poll rates, so every core gets one. The
 * primary serves nothing: it forks the workers, replaces one that dies, answers their requests for
 * the metrics of all processes (prom-client's AggregatorRegistry, over the cluster's IPC), and on
 * SIGTERM/SIGINT drains them all before it exits. With API_PROCESSES=1 the process serves alone.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const processes = config.API_PROCESSES ?? availableParallelism();
  if (cluster.isPrimary && processes > 1) runPrimary(config, processes);
  else await serveApi(config);
}

function runPrimary(config: Config, processes: number): void {
  const logger = createLogger(config.LOG_LEVEL, 'api');
  const aggregator = new AggregatorRegistry();
  const listening = new Set<Worker>();
  let stopping = false;
  let exitCode = 0;

  const fork = () => {
    const worker = cluster.fork();
    worker.on('listening', () => listening.add(worker));
    worker.on('message', (message: MetricsRequest) => {
      if (message?.ovation !== 'metrics?') return;
      aggregator.clusterMetrics().then(
        (text) => worker.send({ ovation: 'metrics', id: message.id, text } satisfies MetricsReply),
        (err: Error) => worker.send({ ovation: 'metrics', id: message.id, error: err.message } satisfies MetricsReply),
      );
    });
  };
  cluster.on('exit', (worker, code, signal) => {
    const served = listening.delete(worker);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('API stopped');
        process.exit(exitCode);
      }
      return;
    }
    // A process that never listened failed to start (bad settings, a database down at start): so
    // would its replacement. Stop like a single process would, rather than fork in a loop.
    if (!served) {
      logger.error({ pid: worker.process.pid, code, signal }, 'an API process failed to start');
      stopAll('start-up failure', 1);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'an API process died; starting another');
    fork();
  });

  const stopAll = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    logger.info({ reason }, 'API draining');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(exitCode);
    }, DRAIN_MS + 2_000).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
  };
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));

  logger.info({ processes }, 'Ovation API starting its processes');
  for (let i = 0; i < processes; i++) fork();
}

/** Asks the primary for the metrics of every API process (a worker's /metrics). */
function clusterMetricsVia(primary: NodeJS.Process): () => Promise<string> {
  let next = 0;
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  primary.on('message', (message: MetricsReply) => {
    if (message?.ovation !== 'metrics') return;
    const caller = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.text !== undefined) caller?.resolve(message.text);
    else caller?.reject(new Error(`metrics aggregation failed: ${message.error}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('metrics aggregation timed out'));
      }, 5_000);
      waiting.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      primary.send!({ ovation: 'metrics?', id } satisfies MetricsRequest);
    });
}

async function serveApi(config: Config): Promise<void> {
  const logger: Logger = createLogger(config.LOG_LEVEL, 'api');
  const db = createDataSource(config.DATABASE_URL, { applicationName: 'ovation-api' });
  await db.initialize();
  const redis = createRedis(config.REDIS_URL, config.REDIS_CLUSTER_NODES, { autoPipelining: config.REDIS_AUTO_PIPELINING, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  // Listen once Redis is ready: with the offline queue off, a request that came first would answer
  // 503 for nothing (seen: a freshly started process of a cluster, its sibling already serving). A
  // Redis still down after the wait does not stop the start: those requests answer 503 until it is back.
  await redisReady(redis).catch((err: Error) => logger.warn({ err: err.message }, 'starting before Redis is ready'));
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
  const primedAt = performance.now();
  const primed = primeTemporalCodecs();
  logger.debug({ messageTypes: primed, ms: Math.round(performance.now() - primedAt) }, 'Temporal codecs built');
  const metrics = createMetrics();
  if (cluster.isWorker) {
    // This process's metrics answer the primary's aggregation; /metrics shows all processes' sum.
    // (Constructing one is what makes prom-client answer the primary's requests in this process.)
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([metrics.registry]);
    metrics.exposition = clusterMetricsVia(process);
  }
  // Every Temporal call a request makes shares the request's deadline (temporal-context.ts, applied by
  // createApp to the routes that call Temporal), so it answers 503 instead of waiting out an outage.
  const app = createApp({ config, db, redis, temporal, logger, metrics, tracing: Boolean(tracing) });
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: '0.0.0.0' }, ({ port }) => {
    logger.info({ port, pid: process.pid }, 'Ovation API listening');
  });

  // Graceful shutdown: stop accepting, let in-flight requests finish, then close the clients.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, pid: process.pid }, 'API process draining');
    server.close(async () => {
      await Promise.allSettled([db.destroy(), redis.quit(), connection.close(), tracing?.shutdown()]);
      logger.info({ pid: process.pid }, 'API process stopped');
      process.exit(0);
    });
    setTimeout(() => process.exit(0), DRAIN_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // The primary is gone (killed): this process must not outlive it.
  if (cluster.isWorker) process.on('disconnect', () => stop('primary gone'));
}

main().catch((err) => {
  console.error('API failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
