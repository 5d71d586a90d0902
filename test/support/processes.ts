import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Config } from '../../lib/config';
import { ROOT } from './paths';
import { eventually } from './eventually';

/**
 * A free TCP port on loopback for a service a test starts, below the kernel's ephemeral range. A port
 * from that range (what `listen(0)` hands out) can be taken as the source port of any outgoing
 * connection between this pick and the service's bind, or while a chaos test has the service down
 * and its clients reconnecting; below it, only a listener can take it, and the bind checks that.
 */
export async function freePort(): Promise<number> {
  const lowest = 10_000;
  const ephemeralFrom = ephemeralRangeStart();
  for (let attempt = 0; ephemeralFrom > lowest && attempt < 50; attempt++) {
    const port = await listenOnce(lowest + Math.floor(Math.random() * (ephemeralFrom - lowest)));
    if (port !== null) return port;
  }
  const any = await listenOnce(0);
  if (any === null) throw new Error('no free TCP port on 127.0.0.1');
  return any;
}

/** The first port of Linux's ephemeral range (elsewhere: 0, so no range below it is used). */
function ephemeralRangeStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/** Listens on `port` (0: any) and closes again: the port it had, or null when it could not listen. */
function listenOnce(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * The environment of an API or worker process that joins a stack: the stack's PostgreSQL, Redis,
 * Temporal namespace and task queue (the stack's worker serves the process's journeys, or the process
 * serves the stack's), and its signing secret and admin key (a token the test signs is good there).
 * It logs warnings and errors only; `settings` add to these or override them.
 */
export function serviceEnv(config: Config, settings: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: config.DATABASE_URL,
    REDIS_URL: config.REDIS_URL,
    TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: config.TEMPORAL_NAMESPACE,
    TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
    AUTH_SECRET: config.AUTH_SECRET,
    ADMIN_API_KEY: config.ADMIN_API_KEY,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    ...settings,
  };
}

/** An API or worker as its own OS process, the way they run in production (`node --import tsx`). */
export class ServiceProcess {
  readonly proc: ChildProcess;
  private output = '';

  constructor(readonly name: string, entry: string, env: Record<string, string>) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (chunk) => (this.output = (this.output + chunk).slice(-20_000)));
    this.proc.stderr!.on('data', (chunk) => (this.output = (this.output + chunk).slice(-20_000)));
  }

  get log(): string {
    return this.output;
  }

  /** SIGTERM (a rolling restart) or SIGKILL (a crash), resolved once the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    const exited = new Promise<number | null>((resolve) => this.proc.once('exit', (code) => resolve(code)));
    this.proc.kill(signal);
    return exited;
  }

  /**
   * Waits until `ready` passes (polled every 200 ms). A process that exits meanwhile fails the wait at
   * once, with its output, rather than being polled for the whole timeout; one that is not ready in
   * time is SIGKILLed, and its output goes with the error too.
   */
  async whenReady(ready: () => Promise<void>, timeoutMs: number): Promise<void> {
    let exited: ExitedWhileStarting | undefined;
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      exited = new ExitedWhileStarting(`${this.name} exited (${code ?? signal}) before it was ready:\n${this.log.slice(-4000)}`, this.log);
    };
    this.proc.once('close', onExit); // 'close': after its output has all been read (EADDRINUSE is in it)
    try {
      await eventually(async () => {
        if (!exited) await ready(); // once it has exited there is nothing left to wait for
      }, { timeoutMs, intervalMs: 200 });
      if (exited) throw exited;
    } catch (err) {
      await this.stop('SIGKILL');
      throw err === exited ? err : new Error(`${this.name} not ready in ${timeoutMs / 1000} s:\n${this.log.slice(-4000)}`, { cause: err });
    } finally {
      this.proc.off('close', onExit);
    }
  }
}

/** A process that died before it was ready; `log` is its output. */
export class ExitedWhileStarting extends Error {
  constructor(message: string, readonly log: string) {
    super(message);
  }
}

/** Lets the in-process ApiClient talk to a real API process over HTTP. */
export const overHttp = (url: string) => ({ request: (path: string, init?: RequestInit) => fetch(`${url}${path}`, init) });

/**
 * An API process on a free port, once it answers /readyz. The port is free when freePort picks it,
 * not necessarily a second later when the process binds it: a service another test file starts at
 * the same moment may have picked it too. That start dies with EADDRINUSE, and the API starts again
 * on another port.
 */
export async function startApi(env: Record<string, string>): Promise<{ api: ServiceProcess; url: string }> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startApiOn(await freePort(), env);
    } catch (err) {
      if (attempt < 3 && err instanceof ExitedWhileStarting && /EADDRINUSE/.test(err.log)) continue;
      throw err;
    }
  }
}

async function startApiOn(port: number, env: Record<string, string>): Promise<{ api: ServiceProcess; url: string }> {
  // One process unless a test asks for the cluster (test/e2e/api-processes.test.ts): a SIGKILL then
  // kills the whole API, as the chaos suites mean it to.
  const api = new ServiceProcess(`api:${port}`, 'api/server.ts', { API_PROCESSES: '1', ...env, PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await api.whenReady(async () => {
    const res = await fetch(`${url}/readyz`);
    if (!res.ok) throw new Error(`${api.name} not ready`);
  }, 60_000);
  return { api, url };
}

export async function startWorker(env: Record<string, string>, { logLevel = 'info' }: { logLevel?: 'info' | 'debug' } = {}): Promise<ServiceProcess> {
  const worker = new ServiceProcess('worker', 'worker/main.ts', {
    ...env,
    LOG_LEVEL: logLevel, // at least info: its "worker running" line says when it polls
    WORKER_METRICS_PORT: String(await freePort()),
    WORKER_SDK_METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
  });
  await worker.whenReady(async () => {
    if (!/worker running/.test(worker.log)) throw new Error('worker not running yet');
  }, 90_000);
  return worker;
}
