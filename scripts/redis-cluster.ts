/**
 * A Redis Cluster of three masters on local ports (`redis-server --cluster-enabled yes`), the shape a
 * production deployment outgrows one Redis with. Each master keeps an append-only file fsynced every
 * second, like the single Redis `scripts/provision.sh` starts, so a master killed and restarted comes
 * back with its slots and at most the last second of writes lost (README, "Redis"). No replicas, and
 * `cluster-require-full-coverage no`: while a master is down only the concerts in its slots wait (their
 * requests answer 503), every other concert's queue carries on.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR } from './temporal-dev-server';

export interface RedisCluster {
  ports: number[];
  /** `host:port,host:port,…`, the form REDIS_CLUSTER_NODES takes. */
  nodes: string;
  /** Empties every master (FLUSHDB on each): a test run's cluster starts clean. */
  flush(): void;
  /** SIGKILLs one master's process (no shutdown, no final AOF rewrite). */
  kill(port: number): Promise<void>;
  /** Starts a killed master again on its old data; resolves when the cluster reports ok. */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisCluster(name: string, ports: number[]): Promise<RedisCluster> {
  if (!spawnSync('redis-server', ['--version']).stdout) throw new Error('redis-server is missing: run scripts/provision.sh');
  const dir = join(DATA_DIR, `redis-cluster-${name}`);
  const masters = new Map<number, ChildProcess>();
  const start = (port: number) => {
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir, { recursive: true });
    const proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir,
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000',
      // Without replicas, a master down leaves its slots uncovered: the other masters keep serving
      // theirs instead of the whole cluster refusing every command (Redis' default).
      '--cluster-require-full-coverage', 'no',
      '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
      '--logfile', join(nodeDir, 'redis.log'),
    ], { stdio: 'ignore' });
    masters.set(port, proc);
    return proc;
  };
  const cli = (port: number, ...args: string[]) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  const clusterOk = () => ports.every((port) => /cluster_state:ok/.test(cli(port, 'cluster', 'info').stdout ?? ''));

  for (const port of ports) start(port);
  await waitFor('the Redis Cluster masters', async () => ports.every((port) => cli(port, 'ping').stdout?.trim() === 'PONG'));
  // A cluster created on an earlier run keeps its slot map in nodes.conf: create it only once.
  if (!clusterOk()) {
    const slotsAssigned = /cluster_slots_assigned:16384/.test(cli(ports[0], 'cluster', 'info').stdout ?? '');
    if (!slotsAssigned) {
      const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    }
  }
  await waitFor('the Redis Cluster to report ok', async () => clusterOk());

  const stopOne = async (port: number, signal: NodeJS.Signals) => {
    const proc = masters.get(port);
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  };
  return {
    ports,
    nodes: ports.map((port) => `127.0.0.1:${port}`).join(','),
    flush() {
      for (const port of ports) {
        const flushed = cli(port, 'flushdb');
        if (flushed.stdout?.trim() !== 'OK') throw new Error(`FLUSHDB on Redis master ${port} failed: ${flushed.stdout}${flushed.stderr}`);
      }
    },
    kill: (port) => stopOne(port, 'SIGKILL'),
    async restart(port) {
      start(port);
      await waitFor(`Redis master ${port}`, async () => cli(port, 'ping').stdout?.trim() === 'PONG');
      await waitFor('the Redis Cluster to report ok', async () => clusterOk());
    },
    async stop() {
      await Promise.all(ports.map((port) => stopOne(port, 'SIGTERM')));
    },
  };
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
