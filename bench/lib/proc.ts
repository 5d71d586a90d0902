/**
 * Child processes of the bench: every one is tracked, so a normal end, an error or Ctrl-C stops
 * exactly what the bench started (in reverse order), and a hard exit still SIGKILLs the rest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
/** Partial reports, process logs and scratch files; BENCH_OUT_DIR moves them (the smoke test's own run). */
export const OUT_DIR = process.env.BENCH_OUT_DIR ?? join(ROOT, 'bench', 'out');
/**
 * This run's process logs, a directory per run (bench/out/logs/<start time>/): the next run no longer
 * overwrites them (a rush's 5xx once went undiagnosed that way).
 */
export const LOG_DIR = join(OUT_DIR, 'logs', new Date().toISOString().replace(/[:.]/g, '-'));
/** Where a process's log is, from the repository root (for messages). */
export const logOf = (name: string): string => relative(ROOT, join(LOG_DIR, `${name}.log`));

/** Which bar of the CPU table a process counts in ('bench': a load generator process of the rush). */
export type Role = 'temporal' | 'worker' | 'api' | 'aux' | 'bench';

export interface Child {
  name: string;
  role: Role;
  proc: ChildProcess;
  exited: Promise<number | null>;
  stopping: boolean;
}

const children: Child[] = [];
const crashed: string[] = [];
let shuttingDown = false;

/** From now on children exiting is expected (Ctrl-C reaches them as well as the bench). */
export function markShuttingDown(): void {
  shuttingDown = true;
}

export function allChildren(): readonly Child[] {
  return children;
}

/**
 * A long-running process, its output in LOG_DIR/<name>.log. With `ipc`, it also gets a message
 * channel (structured clone, so typed arrays cross it as they are): the rush's load generators.
 */
export function launch(name: string, role: Role, command: string, args: string[], env: NodeJS.ProcessEnv = process.env, opts: { ipc?: boolean } = {}): Child {
  mkdirSync(LOG_DIR, { recursive: true });
  const log = openSync(join(LOG_DIR, `${name}.log`), 'w');
  const proc = opts.ipc
    ? spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', log, log, 'ipc'], serialization: 'advanced' })
    : spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', log, log] });
  return track(name, role, proc);
}

/** Accounts for a process started elsewhere (e.g. scripts/temporal-server.ts) like a launched one: CPU by role, stopped by `stopAll`. */
export function track(name: string, role: Role, proc: ChildProcess): Child {
  const child: Child = {
    name,
    role,
    proc,
    stopping: false,
    exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))),
  };
  proc.once('exit', (code, signal) => {
    // Only the stack's services must live as long as the run; the others end when their work is done.
    if (!child.stopping && !shuttingDown && (role === 'temporal' || role === 'worker' || role === 'api')) {
      crashed.push(`${name} exited unexpectedly (${signal ?? code}); see ${logOf(name)}`);
      console.error(`[bench] ${crashed[crashed.length - 1]}`);
    }
  });
  proc.once('error', (err) => console.error(`[bench] ${name}: ${err.message}`));
  children.push(child);
  return child;
}

/** Throws if a service the bench relies on has died since the last check. */
export function assertServicesAlive(): void {
  if (crashed.length) throw new Error(crashed.join('; '));
}

/** A command that runs to completion (redis-benchmark, pgbench, provision.sh), output captured. */
export function runCommand(
  name: string,
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; echo?: boolean } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(command, args, { cwd: ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const child = track(name, 'aux', proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d;
    if (opts.echo) process.stdout.write(d);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d;
    if (opts.echo) process.stderr.write(d);
  });
  return child.exited.then((code) => ({ code, stdout, stderr }));
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 15_000): Promise<void> {
  child.stopping = true;
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Stops every child still running, newest first. */
export async function stopAll(): Promise<void> {
  markShuttingDown();
  for (const child of [...children].reverse()) {
    if (child.proc.exitCode === null && child.proc.signalCode === null) {
      await stopChild(child);
      console.log(`[bench] stopped ${child.name}`);
    }
  }
}

// Last resort: whatever is still alive when this process exits is killed outright.
process.on('exit', () => {
  for (const { proc } of children) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
});

export function portAnswers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 120_000, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) {
      throw new Error(`${what}: ${child.name} exited (${child.proc.signalCode ?? child.proc.exitCode}); see ${logOf(child.name)}`);
    }
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
