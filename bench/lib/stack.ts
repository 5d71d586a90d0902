/**
 * The bench's own isolated stack: the bench database and Redis db (reset), an in-memory Temporal dev
 * server on its own ports, and the product's worker and API as separate processes. Parts start on
 * first need, so `--only redis` does not wait for Temporal. Nothing here touches the dev or test data.
 *
 * `--stack cluster` (shape 'cluster') is the production shape instead: the real Temporal server on
 * PostgreSQL (scripts/temporal-server.ts, on the same frontend port), a three-master Redis Cluster
 * (scripts/redis-cluster.ts, BENCH_REDIS_CLUSTER_PORTS), two API processes and two workers.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import Redis from 'ioredis';
import { Client as PgClient } from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../db/data-source';
import { findViolations, type Violation } from '../../db/invariants';
import { migrate } from '../../db/migrate';
import { startRedisCluster, type RedisCluster } from '../../scripts/redis-cluster';
import { devServerExtraArgs, temporalCli } from '../../scripts/temporal-dev-server';
import { startTemporalServer, type TemporalServer } from '../../scripts/temporal-server';
import { launch, OUT_DIR, track, portAnswers, ROOT, runCommand, stopChild, waitFor, type Child } from './proc';

/** A port or number from the environment (BENCH_*), or its default. */
function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${process.env[name]}`);
  return value;
}

/**
 * Extra node flags for a process the bench starts, from the environment (BENCH_API_NODE_ARGS,
 * BENCH_WORKER_NODE_ARGS, BENCH_GENERATOR_NODE_ARGS), e.g. "--cpu-prof --cpu-prof-dir=bench/out/prof".
 */
export function extraNodeArgs(variable: string): string[] {
  return process.env[variable]?.split(' ').filter(Boolean) ?? [];
}

/**
 * Where the bench's stack lives. The defaults are the real bench's; the harness's smoke test (test/bench)
 * moves every one (BENCH_DATABASE, BENCH_REDIS_PORT, BENCH_REDIS_DB, BENCH_*_PORT), so it never meets
 * a real run beside it.
 */
const database = process.env.BENCH_DATABASE ?? 'ovation_bench';
const redisPort = setting('BENCH_REDIS_PORT', 6379);
const redisDb = setting('BENCH_REDIS_DB', 2);
export const BENCH = {
  database,
  databaseUrl: `postgres://ovation:ovation@127.0.0.1:5432/${database}`,
  redisUrl: `redis://127.0.0.1:${redisPort}/${redisDb}`,
  redisPort,
  redisDb,
  temporalPort: setting('BENCH_TEMPORAL_PORT', 7433),
  apiPort: setting('BENCH_API_PORT', 3100),
  /** A second API whose active window is mass-expiry's (see `Stack.expiryApi`). */
  expiryApiPort: setting('BENCH_EXPIRY_API_PORT', 3101),
  helloPort: setting('BENCH_HELLO_PORT', 3199),
  /** The worker's metrics ports, away from a dev worker's defaults (9464/9465). */
  workerMetricsPort: setting('BENCH_WORKER_METRICS_PORT', 9564),
  workerSdkMetricsPort: setting('BENCH_WORKER_SDK_METRICS_PORT', 9565),
  /** The production shape's Redis Cluster masters (`--stack cluster`), away from the test suites' 7301-7313. */
  redisClusterPorts: (process.env.BENCH_REDIS_CLUSTER_PORTS ?? '7351,7352,7353').split(',').map(Number),
  adminKey: 'ovation-bench-admin-key',
  /** The bench signs its rush fans' access tokens with it (bench/lib/users.ts). */
  authSecret: 'ovation-bench-auth-secret-never-in-production',
  taskQueue: 'ovation',
  rawTaskQueue: 'bench-raw',
} as const;

export const TEMPORAL_ADDRESS = `127.0.0.1:${BENCH.temporalPort}`;

/** The product's settings for the bench (every other setting at its default, whatever the shell says). */
export const PRODUCT_SETTINGS: Record<string, string> = {
  DATABASE_URL: BENCH.databaseUrl,
  REDIS_URL: BENCH.redisUrl,
  TEMPORAL_ADDRESS,
  TEMPORAL_NAMESPACE: 'default',
  TEMPORAL_TASK_QUEUE: BENCH.taskQueue,
  PORT: String(BENCH.apiPort),
  ADMIN_API_KEY: BENCH.adminKey,
  AUTH_SECRET: BENCH.authSecret,
  LOG_LEVEL: 'warn',
  ADMISSION_TICK_MS: '200',
  QUEUE_ADMIT_PER_SECOND: '500',
  QUEUE_MAX_ACTIVE: '100000',
  // Fans are admitted once and shared by every scenario of a run: their window must outlast it.
  ACTIVE_TOKEN_TTL_SECONDS: '3600',
  // A hold lasts as long as the window, so the window's end is every hold's deadline: mass-expiry
  // makes its holds over minutes and needs them all due at one instant (its own API's shorter window).
  HOLD_TTL_SECONDS: '3600',
  // Every join and status poll of the bench comes from one address, and a few hundred fans poll
  // thousands of times a second: the abuse limits would measure themselves. High, not off: their
  // Redis round trips stay in every measured request, as in production.
  RATE_LIMIT_PER_IP: '100000000',
  RATE_LIMIT_PER_USER: '100000000',
  // The same for holds, cancellations, payments, charges and sign-ups (abuse-loop lowers the per-user
  // one on its own API to show the limit stopping its looping fans).
  ACTION_LIMIT_PER_IP: '100000000',
  ACTION_LIMIT_PER_USER: '100000000',
  ACTION_LIMIT_BURST_PER_USER: '100000000',
  USER_SIGNUPS_PER_IP: '100000000',
  WORKER_METRICS_PORT: String(BENCH.workerMetricsPort),
  WORKER_SDK_METRICS_ADDRESS: `127.0.0.1:${BENCH.workerSdkMetricsPort}`,
};

/** Product settings a shell may export (lib/config.ts) that the bench leaves at their defaults. */
const PRODUCT_SETTING = /^(NODE_ENV|ACCESS_TOKEN_|HOLD_|MAX_HOLDS_|QUEUE_|ADMISSION_|ACTIVE_TOKEN_|RATE_LIMIT_|ACTION_LIMIT_|USER_SIGNUP|JOURNEY_MAX_|IDEMPOTENCY_|TRUSTED_PROXY_|WORKER_)/;

/**
 * BENCH_SETTINGS="WORKER_WORKFLOW_THREADS=2 WORKER_MAX_CACHED_WORKFLOWS=5000": product settings for an
 * A/B run of a setting (bench/README.md), applied to every product process over the bench's own.
 */
const abSettings = (): Record<string, string> =>
  Object.fromEntries((process.env.BENCH_SETTINGS ?? '').split(/\s+/).filter(Boolean).map((pair) => {
    const at = pair.indexOf('=');
    return [pair.slice(0, at), pair.slice(at + 1)];
  }));

export function productEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !PRODUCT_SETTING.test(key)));
  return { ...env, ...PRODUCT_SETTINGS, ...overrides, ...abSettings() };
}

const STARTED_SERVICES_FILE = join(OUT_DIR, 'started-services');

/** 'dev': the Temporal dev server (in memory), one Redis; 'cluster': the production shape (see above). */
export type StackShape = 'dev' | 'cluster';

export class Stack {
  private temporalServer?: TemporalServer;
  private redisCluster?: RedisCluster;
  private temporalChild?: Promise<Child>;
  private productChildren?: Promise<Child[]>;
  private rawWorkerChild?: Promise<Child>;
  private apiBuild?: Promise<void>;
  private dataSource?: Promise<DataSource>;
  private connection?: Connection;
  private client?: Client;
  readonly apiUrl = `http://127.0.0.1:${BENCH.apiPort}`;
  readonly redis = new Redis(BENCH.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  /** Services provision.sh started for us (and the bench must stop); reused ones are left alone. */
  provisioned = false;

  constructor(readonly shape: StackShape = 'dev') {}

  /** The product's settings on this stack: the cluster shape adds its Redis Cluster and two API processes. */
  productEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    if (this.shape === 'dev') return productEnv(overrides);
    return productEnv({ REDIS_CLUSTER_NODES: this.redisCluster!.nodes, API_PROCESSES: '2', ...overrides });
  }

  /** PostgreSQL + Redis (provision.sh: reuses what runs), then an empty bench database and Redis db. */
  async prepareData(): Promise<void> {
    for (const port of [BENCH.temporalPort, BENCH.apiPort, BENCH.expiryApiPort, BENCH.helloPort]) {
      if (await portAnswers(port)) throw new Error(`port ${port} is taken (a previous bench still running?): the bench needs it free`);
    }
    // A fresh clone has no bench/out yet: provision.sh writes the services it started there.
    mkdirSync(OUT_DIR, { recursive: true });
    console.log('[bench] provisioning PostgreSQL and Redis (scripts/provision.sh)…');
    const provision = await runCommand('provision', 'bash', [join(ROOT, 'scripts/provision.sh'), '--database', BENCH.database], {
      env: { ...process.env, DATABASE_URL: BENCH.databaseUrl, REDIS_URL: BENCH.redisUrl, PROVISION_STARTED_FILE: STARTED_SERVICES_FILE },
    });
    if (provision.code !== 0) throw new Error(`provision.sh failed (${provision.code}):\n${provision.stdout}${provision.stderr}`);
    this.provisioned = true;

    const pg = new PgClient({ connectionString: BENCH.databaseUrl });
    await pg.connect();
    try {
      await pg.query('DROP SCHEMA IF EXISTS public CASCADE');
      await pg.query('CREATE SCHEMA public');
    } finally {
      await pg.end();
    }
    await migrate(BENCH.databaseUrl);
    if (this.shape === 'cluster') {
      this.redisCluster = await startRedisCluster('bench', BENCH.redisClusterPorts);
      this.redisCluster.flush();
      console.log(`[bench] ${BENCH.database} reset and migrated; Redis Cluster ${this.redisCluster.nodes} up and flushed`);
      return;
    }
    await this.redis.connect();
    await this.redis.flushdb();
    console.log(`[bench] ${BENCH.database} reset and migrated; Redis db ${BENCH.redisDb} flushed`);
  }

  /** The bench's own in-memory Temporal dev server (tuned as in TOOLCHAIN.md), and a client of it. */
  temporal(): Promise<Client> {
    if (this.shape === 'cluster') return this.temporalOnPostgres();
    this.temporalChild ??= (async () => {
      const cli = temporalCli();
      if (!cli) throw new Error('no Temporal CLI in .tools/bin: run `npm run provision` (needs Go)');
      const child = launch('temporal', 'temporal', cli, [
        'server', 'start-dev', '--headless', '--ip', '127.0.0.1',
        '--port', String(BENCH.temporalPort),
        ...devServerExtraArgs(),
      ]);
      await waitFor('the Temporal dev server', () => portAnswers(BENCH.temporalPort), 60_000, child);
      this.connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
      this.client = new Client({ connection: this.connection, namespace: 'default' });
      await waitFor('the default namespace', async () => {
        await this.connection!.workflowService.describeNamespace({ namespace: 'default' });
        return true;
      }, 60_000, child);
      console.log(`[bench] Temporal dev server up on ${TEMPORAL_ADDRESS} (in memory)`);
      return child;
    })();
    return this.temporalChild.then(() => this.client!);
  }

  private temporalServerUp?: Promise<void>;

  /** The production shape's Temporal: the real server on the bench's PostgreSQL (its own two databases). */
  private async temporalOnPostgres(): Promise<Client> {
    this.temporalServerUp ??= (async () => {
      this.temporalServer = await startTemporalServer({ name: `temporal_${BENCH.database}`, databaseUrl: BENCH.databaseUrl, frontendPort: BENCH.temporalPort });
      track('temporal-server', 'temporal', this.temporalServer.process);
      this.connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
      this.client = new Client({ connection: this.connection, namespace: 'default' });
      console.log(`[bench] Temporal server on PostgreSQL up on ${TEMPORAL_ADDRESS}`);
    })();
    await this.temporalServerUp;
    return this.client!;
  }

  /** True once a worker polls the task queue (the worker bundles its workflows first). */
  private async workerPolling(taskQueue: string): Promise<boolean> {
    const answer = await this.connection!.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue } });
    return (answer.pollers?.length ?? 0) > 0;
  }

  /**
   * The API as it ships: compiled once per run (`npm run build` → dist/), run by plain node with
   * NODE_ENV=production and its default API_PROCESSES (one per core), as the image runs it. Under tsx
   * it would pay for on-the-fly source maps on every stack it formats, which production never does.
   */
  private buildProduct(): Promise<void> {
    this.apiBuild ??= (async () => {
      console.log('[bench] compiling the product (npm run build → dist/)…');
      const built = await runCommand('build', process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
      if (built.code !== 0) throw new Error(`npm run build failed (${built.code}):\n${built.stdout}${built.stderr}`);
    })();
    return this.apiBuild;
  }

  /** The compiled API's command line (see `buildProduct`), with BENCH_API_NODE_ARGS first. */
  private apiArgs(): string[] {
    return [...extraNodeArgs('BENCH_API_NODE_ARGS'), join('dist', 'api', 'server.js')];
  }

  /** The compiled worker, as the image runs it (docker-compose.yml), like the API: measure what ships. */
  private workerArgs(): string[] {
    return [...extraNodeArgs('BENCH_WORKER_NODE_ARGS'), join('dist', 'worker', 'main.js')];
  }

  /** The product, compiled as shipped: the worker and the API, each in its own process(es). */
  async product(): Promise<void> {
    this.productChildren ??= (async () => {
      await Promise.all([this.temporal(), this.buildProduct()]);
      // BENCH_API_NODE_ARGS / BENCH_WORKER_NODE_ARGS: extra node flags, e.g. "--cpu-prof --cpu-prof-dir=bench/out/prof".
      const worker = launch('worker', 'worker', process.execPath, this.workerArgs(), this.productEnv({ NODE_ENV: 'production' }));
      // The production shape runs a second worker on the same task queue (its own metrics ports).
      const workers = [worker];
      if (this.shape === 'cluster') {
        workers.push(launch('worker-2', 'worker', process.execPath, this.workerArgs(), this.productEnv({
          NODE_ENV: 'production',
          WORKER_METRICS_PORT: String(BENCH.workerMetricsPort + 2),
          WORKER_SDK_METRICS_ADDRESS: `127.0.0.1:${BENCH.workerSdkMetricsPort + 2}`,
        })));
      }
      const api = launch('api', 'api', process.execPath, this.apiArgs(), this.productEnv({ NODE_ENV: 'production' }));
      for (const w of workers) await waitFor(`the product worker ${w.name} polling`, () => this.workerPolling(BENCH.taskQueue), 180_000, w);
      await waitFor('the API ready', async () => (await fetch(`${this.apiUrl}/readyz`)).ok, 120_000, api);
      console.log(`[bench] ${workers.length} worker(s) and the API up (API ${this.apiUrl}, ${this.shape} stack)`);
      return [...workers, api];
    })();
    await this.productChildren;
  }

  /**
   * A second API process on the same worker and data whose admitted fans' window is `activeTtlSeconds`
   * (the window, the admission rate and tick are the API's settings, handed to each concert's
   * controller when the concert is created): mass-expiry's holds all fall due when that window ends.
   * The caller stops it with `stopChild`.
   */
  async expiryApi(activeTtlSeconds: number, settings: Record<string, string> = {}): Promise<{ url: string; child: Child }> {
    await this.product();
    const env = this.productEnv({ NODE_ENV: 'production', ...settings, PORT: String(BENCH.expiryApiPort), ACTIVE_TOKEN_TTL_SECONDS: String(activeTtlSeconds) });
    const child = launch('expiry-api', 'api', process.execPath, this.apiArgs(), env);
    const url = `http://127.0.0.1:${BENCH.expiryApiPort}`;
    await waitFor('the expiry API ready', async () => (await fetch(`${url}/readyz`)).ok, 120_000, child);
    return { url, child };
  }

  /**
   * Statistics of the data as it is now, as a database in service has them. The bench's database is
   * reset for each run, and its tables keep their empty statistics until autovacuum analyzes them,
   * within a minute or so of a scenario's setup; a window measured before that had the hold's
   * statements planned on them: PostgreSQL at 29–33 % of a core and 3.9–4.7 ms of it per hold in 2 of
   * 5 runs, against 10 % and 0.8–1.1 ms in the others and in every run after an ANALYZE (bench/README.md,
   * eleventh session). Each scenario calls this once its data is made, before it measures.
   */
  async analyze(): Promise<void> {
    await (await this.db()).query('ANALYZE');
  }

  /** The bench database through the product's own DataSource (stores, invariant checks). */
  db(): Promise<DataSource> {
    this.dataSource ??= (async () => {
      const db = createDataSource(BENCH.databaseUrl, { poolSize: 4, applicationName: 'ovation-bench' });
      await db.initialize();
      return db;
    })();
    return this.dataSource;
  }

  /**
   * db/invariants.ts over the bench database, on one connection without the product's 10 s statement
   * timeout: after a rush its ledger checks scan hundreds of thousands of rows per payment.
   */
  async checkInvariants(): Promise<Violation[]> {
    const db = createDataSource(BENCH.databaseUrl, { poolSize: 1, applicationName: 'ovation-bench-invariants' });
    await db.initialize();
    try {
      await db.query('SET statement_timeout = 0');
      return await findViolations(db);
    } finally {
      await db.destroy();
    }
  }

  /** The raw worker of bench/raw (no-op workflow and activities) for the Temporal ceilings. */
  async rawWorker(): Promise<void> {
    this.rawWorkerChild ??= (async () => {
      await this.temporal();
      const child = launch('raw-worker', 'aux', process.execPath, ['--import', 'tsx', 'bench/raw/worker.ts'], {
        ...process.env,
        TEMPORAL_ADDRESS,
        BENCH_TASK_QUEUE: BENCH.rawTaskQueue,
      });
      await waitFor('the raw worker polling', () => this.workerPolling(BENCH.rawTaskQueue), 180_000, child);
      console.log('[bench] raw worker up');
      return child;
    })();
    await this.rawWorkerChild;
  }

  async stopRawWorker(): Promise<void> {
    if (!this.rawWorkerChild) return;
    const child = await this.rawWorkerChild.catch(() => undefined);
    this.rawWorkerChild = undefined;
    if (child) await stopChild(child);
  }

  /** Closes the bench's own clients; the processes are stopped by `stopAll` (proc.ts). */
  async closeClients(): Promise<void> {
    await this.connection?.close().catch(() => undefined);
    await (await this.dataSource?.catch(() => undefined))?.destroy().catch(() => undefined);
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
  }

  /** Stops what this stack started outside `launch` (the production shape's Temporal server and Redis Cluster). */
  async stopOwnServices(): Promise<void> {
    await this.temporalServer?.stop();
    await this.redisCluster?.stop();
  }

  /** Stops PostgreSQL/Redis only if provision.sh started them for this run. */
  async stopProvisioned(): Promise<void> {
    if (!this.provisioned) return;
    await runCommand('stop-services', 'bash', [join(ROOT, 'scripts/stop-services.sh'), STARTED_SERVICES_FILE], {
      env: { ...process.env, REDIS_URL: BENCH.redisUrl },
      echo: true,
    });
  }
}
