/**
 * The benchmark harness cannot rot: `npm run bench -- --smoke` runs every scenario once, tiny, and each
 * must produce its figures (and the rush and mass expiry their plots). What the figures are is the
 * bench's business on a quiet box, not this test's.
 *
 * It runs beside anything: its own database (`<test database>_bench`), its own Redis server (a
 * `redis-server` of this test on a free port, memory only), free ports for its API, Temporal dev
 * server and worker metrics, and a temporary directory for its report and logs. A real
 * `npm run bench` keeps ovation_bench, Redis db 2 on 6379 and its own ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { SCENARIOS } from '../../bench/scenarios';
import { eventually } from '../support/eventually';
import { ROOT } from '../support/paths';

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A Redis of this test's own: nothing saved, gone when it stops. */
async function startRedis(port: number): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await eventually(async () => {
    const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });
  return server;
}

function smokeEnv(ports: number[], outDir: string): NodeJS.ProcessEnv {
  const testDatabase = new URL(process.env.DATABASE_URL!).pathname.slice(1);
  const [api, expiryApi, hello, temporal, workerMetrics, workerSdkMetrics, redis] = ports;
  return {
    ...process.env,
    BENCH_DATABASE: `${testDatabase}_bench`,
    BENCH_REDIS_PORT: String(redis),
    BENCH_REDIS_DB: '0',
    BENCH_API_PORT: String(api),
    BENCH_EXPIRY_API_PORT: String(expiryApi),
    BENCH_HELLO_PORT: String(hello),
    BENCH_TEMPORAL_PORT: String(temporal),
    BENCH_WORKER_METRICS_PORT: String(workerMetrics),
    BENCH_WORKER_SDK_METRICS_PORT: String(workerSdkMetrics),
    BENCH_OUT_DIR: outDir,
  };
}

interface Row {
  name: string;
  requests: number;
  rate: number | null;
  p50: number | null;
  plots: string[];
}

let redis: ChildProcess | undefined;
afterAll(() => redis?.kill('SIGKILL'));

test('every bench scenario runs and produces its figures', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'ovation-bench-smoke-'));
  const ports = await freePorts(7);
  redis = await startRedis(ports[6]);
  const bench = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--duration', '1'], {
    cwd: ROOT,
    env: smokeEnv(ports, outDir),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  bench.stdout.on('data', (d: Buffer) => (output += d));
  bench.stderr.on('data', (d: Buffer) => (output += d));
  const code = await new Promise<number | null>((resolve) => bench.once('exit', resolve));
  if (code !== 0) throw new Error(`the smoke run exited ${code}; its output (logs in ${outDir}/logs):\n${output}`);

  const reportFile = readdirSync(outDir).find((f) => /^report-.*-smoke\.json$/.test(f));
  expect(reportFile).toBeDefined();
  const report = JSON.parse(readFileSync(join(outDir, reportFile!), 'utf8')) as { results: Record<string, Row[]>; failures: Record<string, string> };
  expect(report.failures).toEqual({});
  for (const scenario of SCENARIOS) {
    const [own] = report.results[scenario.name] ?? [];
    expect({ scenario: scenario.name, measured: own !== undefined && own.requests > 0 && (own.rate ?? 0) > 0 && Number.isFinite(own.p50) }).toEqual({
      scenario: scenario.name,
      measured: true,
    });
  }
  const plots = Object.values(report.results).flat().flatMap((row) => row.plots);
  expect(plots).toEqual(expect.arrayContaining(['rush-throughput', 'rush-latency', 'rush-admission', 'rush-booking-latency', 'rush-cpu', 'mass-expiry-drain']));
  const svgs = readdirSync(outDir).filter((f) => f.endsWith('.svg'));
  expect(svgs).toHaveLength(plots.length);
  for (const svg of svgs) expect(readFileSync(join(outDir, svg), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*<\/svg>$/);
  // Every scenario once, tiny: ~90 s alone; a box shared with other suites takes twice that.
}, 240_000);
