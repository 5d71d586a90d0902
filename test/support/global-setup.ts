import './setup-env'; // first: the paths below depend on the test database's name
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import Redis from 'ioredis';
import { createDataSource } from '../../db/data-source';
import { migrate } from '../../db/migrate';
import { startRedisCluster, type RedisCluster } from '../../scripts/redis-cluster';
import { TUNED_DYNAMIC_CONFIG } from '../../scripts/temporal-dev-server';
import { startTemporalServer, type TemporalServer } from '../../scripts/temporal-server';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../worker/request-context';
import { afterSaleSearchAttributes, searchAttributes } from '../../workflows/definitions';
import { devServerExecutable, WORKFLOW_BUNDLE_PATH } from './paths';

/**
 * Once per `npm test`: a clean test database at the current schema, an empty Redis test database
 * (and, for `npm run test:cluster`, an empty Redis Cluster),
 * the workflow bundle built once for every worker, and one in-memory Temporal dev server (tuned as in
 * TOOLCHAIN.md) shared by the integration and end-to-end suites.
 */
export default async function globalSetup(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL!;
  const db = createDataSource(databaseUrl, { poolSize: 1 });
  await db.initialize();
  await db.query('DROP SCHEMA IF EXISTS public CASCADE');
  await db.query('CREATE SCHEMA public');
  await db.destroy();
  await migrate(databaseUrl);

  const redis = new Redis(process.env.REDIS_URL!);
  await redis.flushdb();
  await redis.quit();
  if (process.env.OVATION_TEST_REDIS === 'cluster') {
    // `npm run test:cluster`: the suites' Redis is a three-master Redis Cluster (scripts/redis-cluster.ts),
    // emptied like the single Redis above; every client of the run (test processes, spawned API and
    // worker processes) finds it through REDIS_CLUSTER_NODES.
    const cluster = await startRedisCluster('test', testClusterPorts());
    cluster.flush();
    process.env.REDIS_CLUSTER_NODES = cluster.nodes;
    (globalThis as { __redisCluster?: RedisCluster }).__redisCluster = cluster;
  }

  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: quietLogger,
  });
  mkdirSync(dirname(WORKFLOW_BUNDLE_PATH), { recursive: true });
  writeFileSync(WORKFLOW_BUNDLE_PATH, code);

  // In-process test workers run like worker processes with the default settings: no per-promise stack
  // capture (worker/create-worker.ts sets this in a real process; jest's sandboxed process.env does
  // not reach the SDK's workflow threads, so it is set here, before the test processes start).
  process.env.OVATION_WORKFLOW_STACK_TRACES = 'off';

  if (process.env.OVATION_TEST_TEMPORAL === 'server') {
    // `npm run test:cluster`: the production shape, the Temporal server on PostgreSQL (scripts/temporal-server.ts).
    const server = await startTemporalServer({ name: `temporal_${testDatabaseName()}`, databaseUrl, frontendPort: TEST_SERVER_FRONTEND_PORT });
    process.env.TEMPORAL_ADDRESS = server.address;
    (globalThis as { __temporalServer?: TemporalServer }).__temporalServer = server;
    return;
  }
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: devServerExecutable(),
      searchAttributes: [...Object.values(searchAttributes), ...Object.values(afterSaleSearchAttributes)],
      extraArgs: [...TUNED_DYNAMIC_CONFIG.flatMap((v) => ['--dynamic-config-value', v]), '--log-level', 'error'],
    },
  });
  process.env.TEMPORAL_ADDRESS = env.address;
  (globalThis as { __temporalEnv?: TestWorkflowEnvironment }).__temporalEnv = env;
}

/** The real server's gRPC port in `npm run test:cluster` (its other services take the next 13 ports). */
const TEST_SERVER_FRONTEND_PORT = 7633;

/** The test run's Redis Cluster masters: `TEST_REDIS_CLUSTER_PORTS` (comma-separated), else 7301-7303. */
function testClusterPorts(): number[] {
  return (process.env.TEST_REDIS_CLUSTER_PORTS ?? '7301,7302,7303').split(',').map(Number);
}

function testDatabaseName(): string {
  return new URL(process.env.DATABASE_URL!).pathname.slice(1);
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string, meta?: unknown) => console.error(message, meta),
};
