/** The summary table (console and markdown), the CPU table, and the report / RESULTS.md files. */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { relative } from 'node:path';
import { CORES, CPU_COLUMNS, cpuMicrosPerRequest } from './cpu';
import { LOG_DIR, ROOT } from './proc';
import type { Scenario, Target } from './scenario';
import type { Sizes } from './sizes';
import { BENCH, PRODUCT_SETTINGS } from './stack';
import { fmtMs, fmtRate, type Measurement } from './stats';

export interface RunResult {
  date: string;
  startedAt: Date;
  wallSeconds: number;
  durationS: number;
  sizes: Sizes;
  smoke: boolean;
  scenarios: Scenario[];
  results: Map<string, Measurement[]>;
  failures: Map<string, string>;
  loadAverageAtStart: number[];
  /** The code measured: commit and uncommitted changes outside bench/. */
  code: string;
}

const HEAD = ['scenario', 'conc.', 'rate/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'compared with (rate/s)', 'ratio', 'other load'];

function comparison(s: Scenario, m: Measurement, first: boolean, results: Map<string, Measurement[]>): [string, string] {
  if (!first) return ['', ''];
  if (s.kind === 'ceiling') {
    return s.reference ? [`TOOLCHAIN.md ${s.reference.label}`, (m.rate / s.reference.rate).toFixed(2)] : ['', ''];
  }
  const pairs = (s.ceilings ?? [])
    .map((name) => ({ name, ceiling: results.get(name)?.[0] }))
    .filter((p): p is { name: string; ceiling: Measurement } => p.ceiling !== undefined);
  if (!pairs.length) return ['(ceiling not measured)', ''];
  return [
    pairs.map((p) => `${p.name} ${fmtRate(p.ceiling.rate)}`).join(' · '),
    pairs.map((p) => ratio(m.rate / p.ceiling.rate)).join(' · '),
  ];
}

function ratio(r: number): string {
  if (!Number.isFinite(r)) return '—';
  return r >= 0.1 ? r.toFixed(2) : r.toFixed(3);
}

export function summaryRows(run: RunResult): string[][] {
  const rows: string[][] = [];
  for (const s of run.scenarios) {
    const failure = run.failures.get(s.name);
    if (failure) {
      rows.push([s.name, '', 'FAILED', '', '', '', '', failure.split('\n')[0].slice(0, 120), '', '']);
      continue;
    }
    (run.results.get(s.name) ?? []).forEach((m, i) => {
      const [against, r] = comparison(s, m, i === 0, run.results);
      const others = m.cpu ? `${Math.round(m.cpu.others)}%` : '';
      rows.push([m.name, String(m.concurrency), fmtRate(m.rate), fmtMs(m.p50), fmtMs(m.p95), fmtMs(m.p99), String(m.errors), against, r, others]);
    });
  }
  return rows;
}

/** Whether a row met one of issue 19's targets, with what was measured against it. */
function targetVerdict(t: Target, m: Measurement, results: Map<string, Measurement[]>): { measured: string; met: boolean | undefined } {
  const parts: string[] = [];
  const checks: boolean[] = [];
  if (t.minRate !== undefined) {
    parts.push(`${fmtRate(m.rate)}/s`);
    checks.push(m.rate >= t.minRate);
  }
  if (t.minShareOf) {
    const ceiling = results.get(t.minShareOf.ceiling)?.[0];
    parts.push(ceiling ? `${fmtRate(m.rate)}/s = ${Math.round((m.rate / ceiling.rate) * 100)} % of ${t.minShareOf.ceiling} ${fmtRate(ceiling.rate)}/s` : `${fmtRate(m.rate)}/s (${t.minShareOf.ceiling} not measured)`);
    if (ceiling) checks.push(m.rate >= t.minShareOf.share * ceiling.rate);
  }
  if (t.maxP95 !== undefined) {
    parts.push(`p95 ${fmtMs(m.p95)} ms`);
    checks.push(m.p95 <= t.maxP95);
  }
  if (t.maxP99 !== undefined) {
    parts.push(`p99 ${fmtMs(m.p99)} ms`);
    checks.push(m.p99 <= t.maxP99);
  }
  if (t.maxApiCpuMicros !== undefined) {
    const micros = m.cpu && cpuMicrosPerRequest(m.cpu, m.rate);
    parts.push(micros ? `API ${fmtMicros(micros.api)} µs/request` : 'API CPU not measured');
    checks.push(micros !== undefined && micros.api <= t.maxApiCpuMicros);
  }
  if (t.maxErrors !== undefined) {
    parts.push(`${m.errors} errors`);
    checks.push(m.errors <= t.maxErrors);
  }
  if (t.noServerErrors) {
    const fivexx = Object.entries(m.statuses).filter(([k]) => /^5\d\d/.test(k)).reduce((n, [, v]) => n + v, 0);
    parts.push(`${fivexx} × 5xx`);
    checks.push(fivexx === 0);
  }
  if (t.maxDurationMs !== undefined) {
    // A burst some of whose answers never came (durationS Infinity): say how many, not "Infinity ms".
    parts.push(Number.isFinite(m.durationS) ? `last answer ${Math.round(m.durationS * 1000)} ms after the start` : `${m.errors.toLocaleString('en-US')} never answered before the run ended`);
    checks.push(m.durationS * 1000 <= t.maxDurationMs);
  }
  return { measured: parts.join(', '), met: checks.length === 0 ? undefined : checks.every(Boolean) };
}

export function targetRows(run: RunResult): string[][] {
  const rows: string[][] = [];
  for (const s of run.scenarios) {
    for (const t of s.targets ?? []) {
      const results = run.results.get(s.name) ?? [];
      const m = t.row ? results.find((r) => r.name === t.row) : results[0];
      if (!m) continue;
      const { measured, met } = targetVerdict(t, m, run.results);
      rows.push([m.name, t.label, measured, met === undefined ? '—' : met ? 'yes' : '**no**']);
    }
  }
  return rows;
}

export function consoleTable(run: RunResult): string {
  return [textTable(HEAD, summaryRows(run), new Set([1, 2, 3, 4, 5, 6, 9])), 'CPU µs per request:', textTable(PER_REQUEST_HEAD, cpuPerRequestRows(run))].join('\n\n');
}

function textTable(head: string[], body: string[][], right = new Set(head.map((_, c) => c).slice(1))): string {
  const rows = [head, ...body];
  const widths = head.map((_, c) => rows.reduce((w, r) => Math.max(w, r[c].length), 0));
  return rows
    .map((r) => r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd())
    .join('\n');
}

function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** `abc1234` or `abc1234 + uncommitted changes in N files` (bench/ itself not counted). */
export function codeVersion(root: string): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    const sha = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain').split('\n').filter((l) => l && !l.slice(3).startsWith('bench/')).length;
    return dirty ? `${sha} + uncommitted changes in ${dirty} files` : sha;
  } catch {
    return 'unknown (no git)';
  }
}

const PER_REQUEST_COLUMNS = ['api', 'worker', 'temporal', 'postgres', 'redis', 'bench', 'aux'] as const;
export const PER_REQUEST_HEAD = ['row', 'rate/s', ...PER_REQUEST_COLUMNS.map((c) => `${c} µs`)];

/** One row per measured row with CPU: its rate, then each process's CPU µs per request. */
export function cpuPerRequestRows(run: RunResult): string[][] {
  const rows: string[][] = [];
  for (const s of run.scenarios) {
    for (const m of run.results.get(s.name) ?? []) {
      const micros = m.cpu && cpuMicrosPerRequest(m.cpu, m.rate);
      if (micros) rows.push([m.name, fmtRate(m.rate), ...PER_REQUEST_COLUMNS.map((c) => fmtMicros(micros[c]))]);
    }
  }
  return rows;
}

function fmtMicros(us: number): string {
  if (us === 0) return '0';
  return us >= 100 ? Math.round(us).toLocaleString('en-US') : us.toFixed(1);
}

export function machineLine(): string {
  return `${CORES} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function markdownReport(run: RunResult, plots: Map<string, string[]> = new Map()): string {
  const cpuRows: string[][] = [];
  for (const s of run.scenarios) {
    for (const m of run.results.get(s.name) ?? []) {
      if (m.cpu) cpuRows.push([m.name, ...CPU_COLUMNS.map((c) => String(Math.round(m.cpu![c]))), String(Math.round(m.cpu.idle))]);
    }
  }
  const perRequestRows = cpuPerRequestRows(run);
  const details = run.scenarios.map((s) => {
    const lines = [`- **${s.name}** (${s.kind}): ${s.what}.`];
    const failure = run.failures.get(s.name);
    if (failure) lines.push(`  - FAILED: ${failure.split('\n')[0]}`);
    for (const m of run.results.get(s.name) ?? []) {
      const statuses = Object.entries(m.statuses).map(([k, v]) => `${k}: ${v.toLocaleString('en-US')}`).join(', ');
      lines.push(`  - ${m.name}: ${m.requests.toLocaleString('en-US')} requests in ${m.durationS.toFixed(1)} s${statuses ? ` (${statuses})` : ''}`);
      for (const note of m.notes) lines.push(`  - ${note}`);
    }
    const files = plots.get(s.name) ?? [];
    const titles = (run.results.get(s.name) ?? []).flatMap((m) => m.plots ?? []).map((p) => p.title);
    if (files.length) lines.push('', ...files.map((f, i) => `  ![${titles[i]}](${f})`));
    return lines.join('\n');
  });
  const settings = Object.entries(PRODUCT_SETTINGS)
    .filter(([k]) => !['DATABASE_URL', 'REDIS_URL', 'ADMIN_API_KEY', 'AUTH_SECRET'].includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(' · ');
  return `# Ovation benchmark — ${run.date}

Machine: ${machineLine()}; load average at start ${run.loadAverageAtStart.map((l) => l.toFixed(2)).join(' / ')}.
Code: ${run.code}. Started ${run.startedAt.toISOString()}, ${Math.round(run.wallSeconds)} s in all; measured windows of ${run.durationS} s.
Produced by \`npm run bench\`${run.smoke ? ' --smoke (every scenario tiny: these figures only show the harness works)' : ''} (bench/README.md says what each scenario does and how).
Sizes: ${sizeLine(run.sizes)}.

Rates are successful answers per second in a closed loop at the given concurrency; latencies are
client-side, of successful answers; errors are every other answer. Ceilings are measured in the same
run on the same box: the "ratio" column is this rate ÷ the ceiling's (for a ceiling: ÷ the figure
TOOLCHAIN.md measured once). "other load" is the CPU that processes outside the bench's stack used
during the window, in % of one core (the box has ${CORES * 100}%): a high figure means a shared, busy box.

## Summary

${mdTable(HEAD, summaryRows(run))}

## Issue 19's targets

Each target against this run's figure (rates of closed loops at the stated concurrency; shares are of
a ceiling measured in the same run).

${mdTable(['row', 'target', 'measured', 'met'], targetRows(run))}

## CPU during each measured window

% of one core (the box has ${CORES * 100}%). bench = the load generator (this process); aux = the
hello-world server, the raw Temporal worker, pgbench or redis-benchmark; postgres and redis count every
process of those servers (also other users'); others = the rest of the machine (e.g. a test run).

${mdTable(['scenario', ...CPU_COLUMNS, 'idle'], cpuRows)}

## CPU per request

CPU µs each process spent per successful request (or operation) of the row, next to its rate: the
window's CPU ÷ its rate. Unlike a rate, it barely moves when the box is busy, so it is the figure to
compare between runs. api = every API process (the cluster's primary and workers summed); bench = the
load generator.

${mdTable(PER_REQUEST_HEAD, perRequestRows)}

## Scenarios

${details.join('\n')}

## Settings

Stack: PostgreSQL \`${BENCH.database}\` (reset + migrated), Redis db ${BENCH.redisDb} on :${BENCH.redisPort} (flushed), in-memory
Temporal dev server on :${BENCH.temporalPort} with the tuned dynamic config of scripts/temporal-dev-server.ts, worker and API
in their own processes (mass-expiry adds a second API process, see bench/README.md). Product settings:
${settings}; everything else at its default. The processes' logs of this run: \`${relative(ROOT, LOG_DIR)}/\`.
`;
}

export function sizeLine(s: Sizes): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return `rush ${n(s.rush.users)} fans over ${s.rush.seconds} s (+ ${s.rush.tailSeconds} s, ${s.rush.generators} generator${s.rush.generators > 1 ? 's' : ''}, ${n(s.rush.seats)} seats) · ` +
    `mass-expiry ${n(s.expiryHolds)} holds · status queue ${n(s.statusQueue)} · pool ${n(s.poolFans)} fans`;
}

/** The figures as data (the smoke test reads them; plots and CPU included, specs left out). */
export function jsonReport(run: RunResult): string {
  const results = Object.fromEntries([...run.results].map(([name, rows]) => [name, rows.map(({ plots, ...m }) => ({ ...m, plots: (plots ?? []).map((p) => p.name) }))]));
  return JSON.stringify({ date: run.date, smoke: run.smoke, sizes: run.sizes, durationS: run.durationS, wallSeconds: run.wallSeconds, results, failures: Object.fromEntries(run.failures) }, null, 2);
}

export function resultsMarkdown(run: RunResult, reportFile: string): string {
  return `# Benchmark results — latest full run

Date: ${run.date} · machine: ${machineLine()} · code: ${run.code} · measured windows of ${run.durationS} s.
Full report (CPU per process, status codes, notes): [\`${reportFile}\`](${reportFile}). How to run and
what each scenario measures: [README.md](README.md). "ratio" = rate ÷ the ceiling measured in the same
run; "other load" = CPU used by processes outside the bench's stack during the window (% of one core,
the box has ${CORES * 100}%).

${mdTable(HEAD, summaryRows(run))}

Targets (issues 19 and 25), this run:

${mdTable(['row', 'target', 'measured', 'met'], targetRows(run))}

CPU µs each process spent per successful request (or operation) of the row, this run (the window's
CPU ÷ its rate; api = every API process summed, bench = the load generator, aux = a ceiling's own
server or worker):

${mdTable(PER_REQUEST_HEAD, cpuPerRequestRows(run))}
`;
}

/** The suffix of a production-shape row's name (`--stack cluster`), e.g. `hold · cluster`. */
export const CLUSTER_SUFFIX = ' · cluster';

const STACKS_BEGIN = '<!-- stacks: written by `npm run bench -- --stack cluster` -->';
const STACKS_END = '<!-- /stacks -->';

/**
 * `--stack cluster`: each scenario's first row on the dev stack beside the same scenario on the
 * production shape, measured in the same run (same box, same minutes, same sizes).
 */
export function stacksSection(run: RunResult, reportFile: string): string {
  const figures = (m: Measurement | undefined) => (m ? [fmtRate(m.rate), fmtMs(m.p50), fmtMs(m.p95), fmtMs(m.p99), String(m.errors)] : ['—', '—', '—', '—', '—']);
  const rows = run.scenarios
    .filter((s) => s.kind === 'product' && run.scenarios.some((c) => c.name === `${s.name}${CLUSTER_SUFFIX}`))
    .map((s) => {
      const dev = run.results.get(s.name)?.[0];
      const cluster = run.results.get(`${s.name}${CLUSTER_SUFFIX}`)?.[0];
      return [s.name, ...figures(dev), ...figures(cluster), dev && cluster ? ratio(cluster.rate / dev.rate) : '—'];
    });
  const head = ['scenario', 'dev rate/s', 'p50', 'p95', 'p99', 'errors', 'cluster rate/s', 'p50', 'p95', 'p99', 'errors', 'cluster ÷ dev'];
  return `${STACKS_BEGIN}
## The production shape beside the dev stack

Date: ${run.date} · machine: ${machineLine()} · code: ${run.code} · windows of ${run.durationS} s · report
[\`${reportFile}\`](${reportFile}). "dev": the Temporal CLI's dev server in memory, one Redis, one API
(a process per core) and one worker. "cluster": the Temporal server on PostgreSQL with SQL visibility,
a Redis Cluster of three masters, two API processes and two workers, all on this one box. Latencies in ms.

${mdTable(head, rows)}
${STACKS_END}
`;
}

/** RESULTS.md with its stacks section replaced by `section` (or appended when it has none yet). */
export function withStacksSection(results: string, section: string): string {
  const begin = results.indexOf(STACKS_BEGIN);
  const end = results.indexOf(STACKS_END);
  if (begin === -1 || end === -1) return `${results.trimEnd()}\n\n${section}`;
  return `${results.slice(0, begin)}${section}${results.slice(end + STACKS_END.length + 1)}`;
}

/** The stacks section of a RESULTS.md, if any: a full dev-stack run rewrites the file and keeps it. */
export function stacksSectionOf(results: string): string | undefined {
  const begin = results.indexOf(STACKS_BEGIN);
  const end = results.indexOf(STACKS_END);
  return begin === -1 || end === -1 ? undefined : results.slice(begin, end + STACKS_END.length + 1);
}
