/**
 * `npm run bench [-- --only <scenario>[,<scenario>…]] [--duration <s>] [--smoke] [--rush-users <n>]
 * [--rush-seconds <s>] [--rush-tail <s>] [--rush-generators <n>] [--expiry-holds <n>]`: brings up the bench's own stack,
 * runs the scenarios in order (ceilings first; `--only` adds the ceilings a scenario is compared
 * with), prints the summary table, writes the report (with its plots and a JSON copy of the figures),
 * and stops everything it started — also on Ctrl-C or an error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Api } from './lib/api';
import { Fixtures } from './lib/fixtures';
import { cpuMicrosPerRequest } from './lib/cpu';
import { assertServicesAlive, markShuttingDown, OUT_DIR, ROOT, sleep, stopAll } from './lib/proc';
import { writePlots } from './lib/plots';
import { codeVersion, consoleTable, jsonReport, markdownReport, resultsMarkdown, type RunResult } from './lib/report';
import type { Scenario } from './lib/scenario';
import { FULL, SMOKE, type Sizes } from './lib/sizes';
import { BENCH, Stack } from './lib/stack';
import { fmtMs, fmtRate, type Measurement } from './lib/stats';
import { SCENARIOS } from './scenarios';

const USAGE = `usage: npm run bench [-- --only <scenario>[,…]] [--duration <seconds>] [--smoke]
       [--rush-users <n>] [--rush-seconds <s>] [--rush-tail <s>] [--rush-generators <n>] [--expiry-holds <n>]`;

interface Options {
  only: string[];
  durationS: number;
  /** Every scenario tiny (bench/lib/sizes.ts): the harness's own test. */
  smoke: boolean;
  sizes: Sizes;
}

function parseArgs(argv: string[]): Options {
  const only: string[] = [];
  let durationS = 10;
  let smoke = false;
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
  const sizes: Sizes = structuredClone(smoke ? SMOKE : FULL);
  sizes.rush.users = knobs['rush-users'] ?? sizes.rush.users;
  sizes.rush.seconds = knobs['rush-seconds'] ?? sizes.rush.seconds;
  sizes.rush.tailSeconds = knobs['rush-tail'] ?? sizes.rush.tailSeconds;
  sizes.rush.generators = knobs['rush-generators'] ?? sizes.rush.generators;
  sizes.expiryHolds = knobs['expiry-holds'] ?? sizes.expiryHolds;
  return { only, durationS, smoke, sizes };
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

async function main(): Promise<void> {
  const { only, durationS, smoke, sizes } = parseArgs(process.argv.slice(2));
  const scenarios = select(only);
  const stack = new Stack();
  const api = new Api(stack.apiUrl, BENCH.adminKey);
  const startedAt = new Date();
  const run: RunResult = {
    date: startedAt.toISOString().slice(0, 10),
    startedAt,
    wallSeconds: 0,
    durationS,
    sizes,
    smoke,
    scenarios,
    results: new Map(),
    failures: new Map(),
    loadAverageAtStart: loadavg(),
    code: codeVersion(ROOT),
  };
  const ctx = { stack, api, fixtures: new Fixtures(api, stack, sizes), durationS, sizes, results: run.results };

  let tornDown: Promise<void> | undefined;
  const teardown = () =>
    (tornDown ??= (async () => {
      await stack.closeClients();
      await stopAll();
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
    for (const [i, scenario] of scenarios.entries()) {
      if (interrupted) break;
      assertServicesAlive();
      console.log(`[bench] ${scenario.name}: ${scenario.what}`);
      const began = Date.now();
      try {
        const rows = await scenario.run(ctx);
        run.results.set(scenario.name, rows);
        for (const m of rows) console.log(`[bench]   ${oneLine(m)}`);
        console.log(`[bench]   (${((Date.now() - began) / 1000).toFixed(1)} s)`);
        const failed = rows.map((m) => m.failure).filter(Boolean);
        if (failed.length) {
          run.failures.set(scenario.name, failed.join('; '));
          console.error(`[bench]   ${scenario.name} FAILED: ${failed.join('; ')}`);
        }
      } catch (err) {
        if (interrupted) break;
        const message = err instanceof Error ? err.message : String(err);
        run.failures.set(scenario.name, message);
        console.error(`[bench]   ${scenario.name} FAILED: ${message}`);
        assertServicesAlive(); // a dead service ends the run; a failed scenario does not
      }
      if (scenario.usesRawWorker && !scenarios.slice(i + 1).some((s) => s.usesRawWorker)) await stack.stopRawWorker();
      await sleep(sizes.settleMs); // let the last requests' after-effects (GC, pending tasks) settle
    }
  } finally {
    run.wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
    if (!interrupted && (run.results.size || run.failures.size)) {
      const table = consoleTable(run);
      console.log(`\n${table}\n`);
      // Only a whole run at full size is the day's report; a partial or smoke run's goes to bench/out.
      const official = !only.length && !smoke;
      const dir = official ? join(ROOT, 'bench') : OUT_DIR;
      const base = `report-${run.date}${official ? '' : `-${smoke ? 'smoke' : only.join('+')}`}`;
      mkdirSync(dir, { recursive: true });
      const plots = new Map<string, string[]>();
      for (const [name, rows] of run.results) {
        const drawn = rows.flatMap((m) => m.plots ?? []);
        if (drawn.length) plots.set(name, await writePlots(drawn, dir, base).catch((err) => (console.error(`[bench] plots of ${name} failed: ${err}`), [])));
      }
      writeFileSync(join(dir, `${base}.md`), markdownReport(run, plots));
      writeFileSync(join(dir, `${base}.json`), jsonReport(run));
      const shown = (f: string) => (f.startsWith(ROOT) ? f.slice(ROOT.length + 1) : f);
      if (official) {
        // RESULTS.md holds the latest complete run only.
        const complete = scenarios.every((s) => run.results.has(s.name));
        if (complete) writeFileSync(join(ROOT, 'bench', 'RESULTS.md'), resultsMarkdown(run, `${base}.md`));
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
