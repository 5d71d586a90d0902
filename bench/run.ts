/**
 * `npm run bench [-- --only <scenario>[,<scenario>…]] [--duration <s>] [--smoke] [--rush-users <n>]
 * [--rush-seconds <s>] [--rush-tail <s>] [--rush-generators <n>] [--expiry-holds <n>] [--stack cluster]`:
 * brings up the bench's own stack, runs the scenarios in order (ceilings first; `--only` adds the
 * ceilings a scenario is compared with), prints the summary table, writes the report (with its plots
 * and a JSON copy of the figures), and stops everything it started — also on Ctrl-C or an error.
 *
 * `--stack cluster`: the hold, pay and join scenarios (or those of them `--only` names) twice in one
 * run, first on the dev stack as always, then on the production shape (bench/lib/stack.ts: the
 * Temporal server on PostgreSQL, a Redis Cluster, two API processes and two workers), one table with
 * both; a full run writes bench/report-<date>-stacks.md and the comparison section of RESULTS.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Api } from './lib/api';
import { Fixtures } from './lib/fixtures';
import { cpuMicrosPerRequest } from './lib/cpu';
import { allChildren, assertServicesAlive, markShuttingDown, OUT_DIR, ROOT, sleep, stopAll, stopChild } from './lib/proc';
import { writePlots } from './lib/plots';
import { CLUSTER_SUFFIX, codeVersion, consoleTable, jsonReport, markdownReport, resultsMarkdown, stacksSection, stacksSectionOf, withStacksSection, type RunResult } from './lib/report';
import type { BenchContext, Scenario } from './lib/scenario';
import { FULL, SMOKE, type Sizes } from './lib/sizes';
import { BENCH, Stack, type StackShape } from './lib/stack';
import { fmtMs, fmtRate, type Measurement } from './lib/stats';
import { SCENARIOS } from './scenarios';

const USAGE = `usage: npm run bench [-- --only <scenario>[,…]] [--duration <seconds>] [--smoke]
       [--rush-users <n>] [--rush-seconds <s>] [--rush-tail <s>] [--rush-generators <n>] [--expiry-holds <n>]
       [--stack cluster]   (hold, pay, join on the dev stack, then on the production shape)`;

/** What `--stack cluster` measures on both stacks. */
const STACK_SCENARIOS = ['hold', 'pay', 'join'];

interface Options {
  only: string[];
  durationS: number;
  /** Every scenario tiny (bench/lib/sizes.ts): the harness's own test. */
  smoke: boolean;
  sizes: Sizes;
  /** 'cluster': the chosen scenarios again on the production shape after the dev stack. */
  stack: StackShape;
}

function parseArgs(argv: string[]): Options {
  const only: string[] = [];
  let durationS = 10;
  let smoke = false;
  let stack: StackShape = 'dev';
  const knobs: Record<string, number> = {};
  const KNOB = /^--(rush-users|rush-seconds|rush-tail|rush-generators|expiry-holds)(=|$)/;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg.startsWith('--only')) only.push(...value().split(',').filter(Boolean));
    else if (arg.startsWith('--duration')) durationS = Number(value());
    else if (arg === '--smoke') smoke = true;
    else if (arg.startsWith('--stack')) {
      const v = value();
      if (v !== 'dev' && v !== 'cluster') throw new Error(`--stack is dev or cluster, not ${v}`);
      stack = v;
    }
    else if (KNOB.test(arg)) {
      const [, knob] = KNOB.exec(arg)!;
      const n = Number(value());
      if (!Number.isInteger(n) || n <= 0) throw new Error(`--${knob} must be a positive integer`);
      knobs[knob] = n;
    }
    else if (arg === '--help' || arg === '-h') {
      console.log(`${USAGE}\nscenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg} (try --help)`);
  }
  if (!(durationS > 0)) throw new Error('--duration must be a positive number of seconds');
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  if (stack === 'cluster') {
    const beyond = only.filter((name) => !STACK_SCENARIOS.includes(name));
    if (beyond.length) throw new Error(`--stack cluster runs ${STACK_SCENARIOS.join(', ')} only, not ${beyond.join(', ')}`);
  }
  const sizes: Sizes = structuredClone(smoke ? SMOKE : FULL);
  sizes.rush.users = knobs['rush-users'] ?? sizes.rush.users;
  sizes.rush.seconds = knobs['rush-seconds'] ?? sizes.rush.seconds;
  sizes.rush.tailSeconds = knobs['rush-tail'] ?? sizes.rush.tailSeconds;
  sizes.rush.generators = knobs['rush-generators'] ?? sizes.rush.generators;
  sizes.expiryHolds = knobs['expiry-holds'] ?? sizes.expiryHolds;
  return { only, durationS, smoke, sizes, stack };
}

/** The scenarios to run: all, or those named plus the ceilings they are compared with, in run order. */
function select(only: string[]): Scenario[] {
  if (!only.length) return SCENARIOS;
  const wanted = new Set(only);
  for (const name of only) for (const ceiling of SCENARIOS.find((s) => s.name === name)!.ceilings ?? []) wanted.add(ceiling);
  return SCENARIOS.filter((s) => wanted.has(s.name));
}

function oneLine(m: Measurement): string {
  const micros = m.cpu && cpuMicrosPerRequest(m.cpu, m.rate);
  const cpu = micros ? ` · CPU/request api ${Math.round(micros.api)} µs, worker ${Math.round(micros.worker)}, temporal ${Math.round(micros.temporal)}, pg ${Math.round(micros.postgres)}, redis ${Math.round(micros.redis)}, generator ${Math.round(micros.bench)}` : '';
  return `${m.name}: ${fmtRate(m.rate)}/s · p50 ${fmtMs(m.p50)} · p95 ${fmtMs(m.p95)} · p99 ${fmtMs(m.p99)} ms · ${m.errors} errors${cpu}`;
}

/** One pass of scenarios over one stack: each scenario's rows (renamed with `suffix`) or its failure go into the run. */
async function runPass(scenarios: Scenario[], ctx: BenchContext, run: RunResult, suffix: string, interrupted: () => boolean): Promise<void> {
  for (const [i, scenario] of scenarios.entries()) {
    if (interrupted()) return;
    assertServicesAlive();
    const name = `${scenario.name}${suffix}`;
    console.log(`[bench] ${name}: ${scenario.what}`);
    const began = Date.now();
    try {
      const rows = await scenario.run(ctx);
      for (const m of rows) m.name = `${m.name}${suffix}`;
      run.results.set(name, rows);
      for (const m of rows) console.log(`[bench]   ${oneLine(m)}`);
      console.log(`[bench]   (${((Date.now() - began) / 1000).toFixed(1)} s)`);
      const failed = rows.map((m) => m.failure).filter(Boolean);
      if (failed.length) {
        run.failures.set(name, failed.join('; '));
        console.error(`[bench]   ${name} FAILED: ${failed.join('; ')}`);
      }
    } catch (err) {
      if (interrupted()) return;
      const message = err instanceof Error ? err.message : String(err);
      run.failures.set(name, message);
      console.error(`[bench]   ${name} FAILED: ${message}`);
      assertServicesAlive(); // a dead service ends the run; a failed scenario does not
    }
    if (scenario.usesRawWorker && !scenarios.slice(i + 1).some((s) => s.usesRawWorker)) await ctx.stack.stopRawWorker();
    await sleep(ctx.sizes.settleMs); // let the last requests' after-effects (GC, pending tasks) settle
  }
}

/** The production-shape copy of a product scenario: its rows compare with the dev stack's, not with targets. */
function onCluster(scenario: Scenario): Scenario {
  return { ...scenario, name: `${scenario.name}${CLUSTER_SUFFIX}`, ceilings: undefined, targets: undefined };
}

async function main(): Promise<void> {
  const { only, durationS, smoke, sizes, stack: shape } = parseArgs(process.argv.slice(2));
  const chosen = shape === 'cluster' && !only.length ? STACK_SCENARIOS : only;
  const scenarios = select(chosen);
  let stack = new Stack();
  let api = new Api(stack.apiUrl, BENCH.adminKey);
  const startedAt = new Date();
  const run: RunResult = {
    date: startedAt.toISOString().slice(0, 10),
    startedAt,
    wallSeconds: 0,
    durationS,
    sizes,
    smoke,
    scenarios: [...scenarios],
    results: new Map(),
    failures: new Map(),
    loadAverageAtStart: loadavg(),
    code: codeVersion(ROOT),
  };
  const ctx = { stack, api, fixtures: new Fixtures(api, stack, sizes), durationS, sizes, results: run.results };
  const clusterScenarios = shape === 'cluster' ? scenarios.filter((s) => STACK_SCENARIOS.includes(s.name)) : [];

  let tornDown: Promise<void> | undefined;
  const teardown = () =>
    (tornDown ??= (async () => {
      await stack.closeClients();
      await stopAll();
      await stack.stopOwnServices();
      await stack.stopProvisioned();
    })());
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      markShuttingDown();
      console.error(`\n[bench] ${signal}: stopping everything the bench started (no report)…`);
      void teardown().finally(() => process.exit(130));
    });
  }

  try {
    console.log(`[bench] scenarios: ${scenarios.map((s) => s.name).join(', ')} (windows of ${durationS} s)`);
    await stack.prepareData();
    // A smoke run's figures mean nothing, its time does: every process starts at once, not on first
    // need (a real run starts the product only after the ceilings, so they are measured on a quiet box).
    if (smoke) {
      if (scenarios.some((s) => s.usesRawWorker)) stack.rawWorker().catch(() => undefined);
      if (scenarios.some((s) => s.kind === 'product')) stack.product().catch(() => undefined);
    }
    await runPass(scenarios, ctx, run, '', () => interrupted);
    if (clusterScenarios.length && !interrupted) {
      // The dev stack down (its ports are the production shape's), then the same scenarios again.
      await stack.closeClients();
      for (const child of [...allChildren()].reverse()) await stopChild(child);
      await stack.stopOwnServices();
      console.log('[bench] dev stack stopped; now the production shape (--stack cluster)');
      stack = new Stack('cluster');
      api = new Api(stack.apiUrl, BENCH.adminKey);
      run.scenarios.push(...clusterScenarios.map(onCluster));
      await stack.prepareData();
      if (smoke) stack.product().catch(() => undefined);
      await runPass(clusterScenarios, { ...ctx, stack, api, fixtures: new Fixtures(api, stack, sizes) }, run, CLUSTER_SUFFIX, () => interrupted);
    }
  } finally {
    run.wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
    if (!interrupted && (run.results.size || run.failures.size)) {
      const table = consoleTable(run);
      console.log(`\n${table}\n`);
      // Only a whole run at full size is the day's report; a partial or smoke run's goes to bench/out.
      const official = !only.length && !smoke;
      const dir = official ? join(ROOT, 'bench') : OUT_DIR;
      const tag = shape === 'cluster' ? ['stacks'] : [];
      const base = [`report-${run.date}`, ...tag, ...(official ? [] : [smoke ? 'smoke' : only.join('+')])].join('-');
      mkdirSync(dir, { recursive: true });
      const plots = new Map<string, string[]>();
      for (const [name, rows] of run.results) {
        const drawn = rows.flatMap((m) => m.plots ?? []);
        if (drawn.length) plots.set(name, await writePlots(drawn, dir, base).catch((err) => (console.error(`[bench] plots of ${name} failed: ${err}`), [])));
      }
      writeFileSync(join(dir, `${base}.md`), markdownReport(run, plots));
      writeFileSync(join(dir, `${base}.json`), jsonReport(run));
      const shown = (f: string) => (f.startsWith(ROOT) ? f.slice(ROOT.length + 1) : f);
      if (official && shape === 'cluster') {
        // RESULTS.md keeps its latest full run; the stacks' comparison is a section of its own.
        const results = join(ROOT, 'bench', 'RESULTS.md');
        writeFileSync(results, withStacksSection(readFileSync(results, 'utf8'), stacksSection(run, `${base}.md`)));
        console.log(`[bench] report: bench/${base}.md · comparison of the stacks: bench/RESULTS.md`);
      } else if (official) {
        // RESULTS.md holds the latest complete run only.
        const complete = scenarios.every((s) => run.results.has(s.name));
        const resultsFile = join(ROOT, 'bench', 'RESULTS.md');
        const kept = existsSync(resultsFile) ? stacksSectionOf(readFileSync(resultsFile, 'utf8')) : undefined;
        if (complete) writeFileSync(resultsFile, kept ? withStacksSection(resultsMarkdown(run, `${base}.md`), kept) : resultsMarkdown(run, `${base}.md`));
        console.log(`[bench] report: bench/${base}.md${complete ? ' · latest figures: bench/RESULTS.md' : ' (incomplete run: RESULTS.md left as it was)'}`);
      } else {
        console.log(`[bench] report (${smoke ? 'smoke' : 'partial'} run): ${shown(join(dir, `${base}.md`))}`);
      }
    }
    await teardown();
  }
  if (run.failures.size) process.exitCode = 1;
}

main().catch((err) => {
  console.error('[bench] failed:', err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
