/**
 * Who used the CPU during a measurement, from /proc: the bench's own children by role, this process
 * (the load generator), every `postgres` and `redis-server` process, and the rest of the machine
 * ("others": e.g. a test run going on at the same time). Processes are sampled every 500 ms, so a
 * process that exits inside the window (pgbench, the Postgres backends serving it) still counts.
 * Figures are % of one core; the box has `cores × 100`.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { allChildren, sleep } from './proc';

export const CPU_COLUMNS = ['temporal', 'worker', 'api', 'postgres', 'redis', 'bench', 'aux', 'others'] as const;
export type CpuColumn = (typeof CPU_COLUMNS)[number];
export type CpuUsage = Record<CpuColumn, number> & { idle: number };
type Role = Exclude<CpuColumn, 'others'>;

export const CORES = cpus().length;
let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  // Linux's usual value
}

function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0; // gone
  }
}

function parentOf(pid: string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * Every process to account for, by role. A launched child's descendants take its role: the API's
 * cluster processes are the API (its primary is the child the bench launched).
 */
function discover(): Array<{ pid: number; role: Role }> {
  const found: Array<{ pid: number; role: Role }> = [{ pid: process.pid, role: 'bench' }];
  const roles = new Map<number, Role>();
  for (const child of allChildren()) if (child.proc.pid) roles.set(child.proc.pid, child.role);
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let comm = '';
    try {
      comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm === 'postgres') found.push({ pid: Number(entry), role: 'postgres' });
    else if (comm === 'redis-server') found.push({ pid: Number(entry), role: 'redis' });
    else if (comm.startsWith('node') || comm.startsWith('MainThread')) parents.set(Number(entry), parentOf(entry));
  }
  for (const [pid, role] of roles) found.push({ pid, role });
  for (const [pid, parent] of parents) {
    if (roles.has(pid)) continue;
    // Up the tree (a few hops at most) to a launched child, if any.
    for (let ancestor = parent, hops = 0; ancestor > 1 && hops < 4; ancestor = parents.get(ancestor) ?? parentOf(String(ancestor)), hops++) {
      const role = roles.get(ancestor);
      if (role) {
        found.push({ pid, role });
        break;
      }
    }
  }
  return found;
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: total - line[3] - line[4], total };
}

/**
 * Who used the CPU between two readings. `sample()` notes every process's ticks (call it often, so a
 * short-lived process is seen); `read()` returns the usage since the previous reading (or creation).
 */
export class CpuMeter {
  private readonly tracked = new Map<number, { role: Role; first: number; last: number }>();
  private machine = machineTicks();
  private since = Date.now();

  constructor() {
    this.sample(true);
  }

  sample(initial = false): void {
    for (const { pid, role } of discover()) {
      const ticks = processTicks(pid);
      const seen = this.tracked.get(pid);
      // A process first seen after the start was born inside the window: all its ticks count.
      if (!seen) this.tracked.set(pid, { role, first: initial ? ticks : 0, last: ticks });
      else if (ticks > 0) seen.last = ticks;
    }
  }

  read(): CpuUsage {
    this.sample();
    const now = Date.now();
    const machine = machineTicks();
    const seconds = Math.max((now - this.since) / 1000, 0.001);
    const pct = (ticks: number) => (ticks / clockTicks / seconds) * 100;
    const usage = { temporal: 0, worker: 0, api: 0, postgres: 0, redis: 0, bench: 0, aux: 0, others: 0, idle: 0 } as CpuUsage;
    let known = 0;
    for (const [pid, entry] of this.tracked) {
      usage[entry.role] += pct(entry.last - entry.first);
      known += pct(entry.last - entry.first);
      entry.first = entry.last;
      if (processTicks(pid) === 0) this.tracked.delete(pid); // gone: counted for the last time
    }
    // /proc/stat counts ticks of all cores: scale to "% of one core" like the per-process figures.
    const busy = ((machine.busy - this.machine.busy) / Math.max(machine.total - this.machine.total, 1)) * CORES * 100;
    usage.others = Math.max(0, busy - known);
    usage.idle = Math.max(0, CORES * 100 - busy);
    // Kept unrounded: CPU per request divides these by rates of thousands a second.
    this.machine = machine;
    this.since = now;
    return usage;
  }
}

/** CPU µs each party spent per request (or operation) at `rate` per second: the figure that stays comparable on a noisy box. */
export function cpuMicrosPerRequest(cpu: CpuUsage, rate: number): Record<CpuColumn, number> | undefined {
  if (!(rate > 0)) return undefined;
  return Object.fromEntries(CPU_COLUMNS.map((c) => [c, (cpu[c] / 100 / rate) * 1e6])) as Record<CpuColumn, number>;
}

/** Now on CLOCK_MONOTONIC in µs: the clock of V8's CPU profiles (`--cpu-prof`) in every process. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Runs `work` and reports the CPU each party used while it ran, and when it ran (see `monotonicUs`). */
export async function withCpu<T>(work: () => Promise<T>): Promise<{ result: T; cpu: CpuUsage; window: Window }> {
  const fromUs = monotonicUs();
  const meter = new CpuMeter();
  const poll = setInterval(() => meter.sample(), 500);
  let result: T;
  try {
    result = await work();
  } finally {
    clearInterval(poll);
  }
  return { result, cpu: meter.read(), window: { fromUs, toUs: monotonicUs() } };
}

/** A measured window on CLOCK_MONOTONIC (µs): `bench/profile-top.ts` keeps a profile's samples inside it. */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** How long `quietTemporal` waits at most. */
export const QUIET_TIMEOUT_MS = 30_000;

/**
 * Waits until Temporal and the workers (the product's, the raw one) are idle (together under
 * `maxPct` % of one core over half a second), for at most `timeoutMs`: the after-effects of a setup
 * (a pool's journeys' first tasks, their visibility writes) must not land in the next measured
 * window. A fixed pause was either too short (the contested seat's burst of 0.3 s met up to a core of
 * them) or needlessly long. Returns the ms waited, or undefined when they never went quiet.
 */
export async function quietTemporal(maxPct = 10, timeoutMs = QUIET_TIMEOUT_MS): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const meter = new CpuMeter();
    await sleep(500);
    const usage = meter.read();
    if (usage.temporal + usage.worker + usage.aux < maxPct) return Date.now() - started;
  }
  return undefined;
}
