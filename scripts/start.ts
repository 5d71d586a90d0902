/**
 * `npm start`: the whole system on this machine, with demo data. Reuses whatever already runs
 * (PostgreSQL, Redis, a Temporal server at TEMPORAL_ADDRESS or on :7233), starts what does not, and
 * on Ctrl-C stops exactly what it started, in reverse order.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { migrate } from '../db/migrate';
import { seedDemo } from '../db/seed';
import { loadConfig } from '../lib/config';
import { DATA_DIR, devServerExtraArgs, ROOT, temporalCli } from './temporal-dev-server';

// `npm start` is local development: the public development secrets are allowed here (and only
// here and in the tests); a process started any other way without NODE_ENV needs real secrets.
process.env.NODE_ENV ??= 'development';

const UI_PORT = 8233;
const children: Array<{ name: string; proc: ChildProcess }> = [];

function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function launch(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env, logFile?: string): ChildProcess {
  const stdio = logFile ? (['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')] as const) : 'inherit';
  const proc = spawn(command, args, { cwd: ROOT, env, stdio: stdio as never });
  children.push({ name, proc });
  proc.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[start] ${name} exited (${signal ?? code}); stopping everything`);
      void stop(1);
    }
  });
  return proc;
}

let stopping = false;
async function stop(exitCode = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\n[start] stopping…');
  for (const { name, proc } of [...children].reverse()) {
    if (proc.exitCode !== null || proc.signalCode !== null) continue;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    console.log(`[start] stopped ${name}`);
  }
  spawnSync('bash', [join(ROOT, 'scripts/stop-services.sh'), join(DATA_DIR, 'started-by-npm-start')], { stdio: 'inherit' });
  process.exit(exitCode);
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  const config = loadConfig();

  if (process.env.TEMPORAL_ADDRESS) {
    console.log(`[start] using Temporal at ${process.env.TEMPORAL_ADDRESS}`);
  } else if (await portAnswers('127.0.0.1', 7233)) {
    console.log('[start] a Temporal server already answers on :7233 (reused)');
  } else {
    const cli = temporalCli();
    if (!cli) throw new Error('no Temporal CLI in .tools/ and no TEMPORAL_ADDRESS: run `npm run provision` (needs Go) or point TEMPORAL_ADDRESS at a server');
    // A SQLite file keeps every journey across restarts. WAL with synchronous=normal is about twice as
    // fast as the defaults here and survives a crash of the server process; only a power loss could
    // lose the last transactions, which is the right trade for a local environment.
    launch('temporal', cli, [
      'server', 'start-dev', '--ip', '127.0.0.1', '--port', '7233', '--ui-port', String(UI_PORT),
      '--db-filename', join(DATA_DIR, 'temporal.db'),
      '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal',
      ...devServerExtraArgs(),
    ], process.env, join(DATA_DIR, 'temporal.log'));
    await waitFor('the Temporal dev server', () => portAnswers('127.0.0.1', 7233));
    console.log(`[start] Temporal dev server started (log: .data/temporal.log)`);
  }

  const applied = await migrate(config.DATABASE_URL);
  console.log(applied.length ? `[start] migrated: ${applied.join(', ')}` : '[start] schema up to date');
  const seeded = await seedDemo(config.DATABASE_URL);
  console.log(seeded ? `[start] seeded demo concert ${seeded}` : '[start] catalog present: no seed needed');

  const tsx = ['--import', 'tsx'];
  launch('worker', process.execPath, [...tsx, 'worker/main.ts']);
  // API_PROCESSES processes sharing the port, one per core unless set (api/server.ts).
  launch('api', process.execPath, [...tsx, 'api/server.ts']);
  const api = `http://127.0.0.1:${config.PORT}`;
  await waitFor('the API', async () => (await fetch(`${api}/healthz`).catch(() => null))?.ok === true);

  console.log(`
  Ovation is running.
    API          ${api}
    API docs     ${api}/docs   (spec: ${api}/openapi.json)
    Readiness    ${api}/readyz
    Temporal UI  ${process.env.TEMPORAL_ADDRESS ? '(your Temporal cluster’s UI)' : `http://127.0.0.1:${UI_PORT}`}
  Ctrl-C stops everything this command started.
`);
}

main().catch(async (err) => {
  console.error('[start] failed:', err instanceof Error ? err.message : err);
  await stop(1);
});
