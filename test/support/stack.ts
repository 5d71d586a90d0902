import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { DataSource } from 'typeorm';
import { createApp } from '../../api/app';
import { createMetrics } from '../../api/metrics';
import { requestIdInterceptor } from '../../api/temporal-context';
import { createDataSource } from '../../db/data-source';
import { loadConfig, type Config } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { createRedis, redisReady, type RedisClient } from '../../lib/redis';
import type { Tracing } from '../../lib/tracing';
import { defineQueueScripts } from '../../queue/scripts';
import { createWorker } from '../../worker/create-worker';
import { ApiClient } from './api-client';
import { WORKFLOW_BUNDLE_PATH } from './paths';

let runtimeInstalled = false;
/** The SDK logs its worker lifecycle at INFO and failing activities (on purpose here) at WARN: tests keep errors. */
export function quietTemporalRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  // Core's own WARN lines (e.g. the Java test server not advertising newer capabilities) are noise here.
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
}

/** Admission quick enough for tests: a tick every 100 ms, up to 200 fans a second. */
export const QUICK_ADMISSION = { ADMISSION_TICK_MS: '100', QUEUE_ADMIT_PER_SECOND: '200' };

export interface Stack {
  config: Config;
  db: DataSource;
  redis: RedisClient;
  temporal: Client;
  api: ApiClient;
  worker?: Worker;
  stop(): Promise<void>;
}

/**
 * The real system in this test process: the API (through `app.request()`, no socket) and a worker,
 * against the run's Postgres, Redis and Temporal dev server. Each stack has a task queue of its own,
 * so test files running side by side never take each other's tasks.
 */
export async function startStack(settings: Record<string, string> = {}, opts: { worker?: boolean; tracing?: Tracing } = {}): Promise<Stack> {
  quietTemporalRuntime();
  const config = loadConfig({
    ...process.env,
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    ...QUICK_ADMISSION,
    ...settings,
  });
  const db = createDataSource(config.DATABASE_URL, { poolSize: 30 });
  await db.initialize();
  const redis = defineQueueScripts(createRedis(config.REDIS_URL, config.REDIS_CLUSTER_NODES));
  await redisReady(redis);
  const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const { tracing } = opts;
  const temporal = new Client({
    connection: clientConnection,
    namespace: config.TEMPORAL_NAMESPACE,
    interceptors: { workflow: [requestIdInterceptor] },
    plugins: tracing ? [tracing.plugin] : [],
  });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent', 'test');
  const app = createApp({ config, db, redis, temporal, logger, metrics: createMetrics(), tracing: Boolean(tracing) });

  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  if (opts.worker !== false) {
    connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    // A traced worker bundles its workflows itself, with the tracing plugin's workflow interceptors.
    const bundle = tracing ? {} : { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } };
    worker = await createWorker({ config, db, redis, connection, clientConnection, tracing }, bundle);
    running = worker.run();
  }

  return {
    config,
    db,
    redis,
    temporal,
    api: new ApiClient(app, config),
    worker,
    async stop() {
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection?.close();
      await clientConnection.close();
      await redis.quit();
      await db.destroy();
    },
  };
}
