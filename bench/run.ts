/**
 * `npm run bench [-- --only <scenario>[,<scenario>…]] [--duration <s>]`: brings up the bench's own
 * stack, runs the scenarios in order (ceilings first; `--only` adds the ceilings a scenario is compared
 * with), prints the summary table, writes the report, and stops everything it started — also on
 * Ctrl-C or an error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Api } from './lib/api';
import { Fixtures } from './lib/fixtures';
import { assertServicesAlive, markShuttingDown, OUT_DIR, ROOT, sleep, stopAll } from './lib/proc';
import { codeVersion, consoleTable, markdownReport, resultsMarkdown, type RunResult } from './lib/report';
import type { Scenario } from './lib/scenario';
import { BENCH, Stack } from './lib/stack';
import { fmtMs, fmtRate, type Measurement } from './lib/stats';
import { contestedSeat } from './scenarios/contested-seat';
import { hold } from './scenarios/hold';
import { http } from './scenarios/http';
import { join as joinQueue } from './scenarios/join';
import { pay } from './scenarios/pay';
import { pgHotRow } from './scenarios/pg-hot-row';
import { redis } from './scenarios/redis';
import { seats } from './scenarios/seats';
import { status } from './scenarios/status';
import { temporalPay } from './scenarios/temporal-pay';
import { temporalStart } from './scenarios/temporal-start';
import { temporalUpdate } from './scenarios/temporal-update';
import { walletCharge } from './scenarios/wallet-charge';
import { walletRead } from './scenarios/wallet-read';

/** The run order: ceilings first, on a quiet stack; then the product, reads before writes. */
const SCENARIOS: Scenario[] = [
  http, redis, pgHotRow, temporalUpdate, temporalStart, temporalPay,
  joinQueue, status, walletCharge, walletRead, seats, hold, contestedSeat, pay,
];

function parseArgs(argv: string[]): { only: string[]; durationS: number } {
  const only: string[] = [];
  let durationS = 10;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg.startsWith('--only')) only.push(...value().split(',').filter(Boolean));
    else if (arg.startsWith('--duration')) durationS = Number(value());
    else if (arg === '--help' || arg === '-h') {
      console.log(`usage: npm run bench [-- --only <scenario>[,…]] [--duration <seconds>]\nscenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg} (try --help)`);
  }
  if (!(durationS > 0)) throw new Error('--duration must be a positive number of seconds');
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return { only, durationS };
}

/** The scenarios to run: all, or those named plus the ceilings they are compared with, in run order. */
function select(only: string[]): Scenario[] {
  if (!only.length) return SCENARIOS;
  const wanted = new Set(only);
  for (const name of only) for (const ceiling of SCENARIOS.find((s) => s.name === name)!.ceilings ?? []) wanted.add(ceiling);
  return SCENARIOS.filter((s) => wanted.has(s.name));
}

function oneLine(m: Measurement): string {
  return `${m.name}: ${fmtRate(m.rate)}/s · p50 ${fmtMs(m.p50)} · p95 ${fmtMs(m.p95)} · p99 ${fmtMs(m.p99)} ms · ${m.errors} errors`;
}

async function main(): Promise<void> {
  const { only, durationS } = parseArgs(process.argv.slice(2));
  const scenarios = select(only);
  const stack = new Stack();
  const api = new Api(stack.apiUrl, BENCH.adminKey);
  const ctx = { stack, api, fixtures: new Fixtures(api, stack), durationS };
  const startedAt = new Date();
  const run: RunResult = {
    date: startedAt.toISOString().slice(0, 10),
    startedAt,
    wallSeconds: 0,
    durationS,
    scenarios,
    results: new Map(),
    failures: new Map(),
    loadAverageAtStart: loadavg(),
    code: codeVersion(ROOT),
  };

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
    for (const [i, scenario] of scenarios.entries()) {
      if (interrupted) break;
      assertServicesAlive();
      console.log(`[bench] ${scenario.name}: ${scenario.what}`);
      try {
        const rows = await scenario.run(ctx);
        run.results.set(scenario.name, rows);
        for (const m of rows) console.log(`[bench]   ${oneLine(m)}`);
      } catch (err) {
        if (interrupted) break;
        const message = err instanceof Error ? err.message : String(err);
        run.failures.set(scenario.name, message);
        console.error(`[bench]   ${scenario.name} FAILED: ${message}`);
        assertServicesAlive(); // a dead service ends the run; a failed scenario does not
      }
      if (scenario.usesRawWorker && !scenarios.slice(i + 1).some((s) => s.usesRawWorker)) await stack.stopRawWorker();
      await sleep(2_000); // let the last requests' after-effects (GC, pending tasks) settle
    }
  } finally {
    run.wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
    if (!interrupted && (run.results.size || run.failures.size)) {
      const table = consoleTable(run);
      console.log(`\n${table}\n`);
      const markdown = markdownReport(run);
      if (only.length) {
        mkdirSync(OUT_DIR, { recursive: true });
        const file = join(OUT_DIR, `report-${run.date}-${only.join('+')}.md`);
        writeFileSync(file, markdown);
        console.log(`[bench] report (partial run): ${file.slice(ROOT.length + 1)}`);
      } else {
        const file = `report-${run.date}.md`;
        writeFileSync(join(ROOT, 'bench', file), markdown);
        // RESULTS.md holds the latest complete run only.
        const complete = scenarios.every((s) => run.results.has(s.name));
        if (complete) writeFileSync(join(ROOT, 'bench', 'RESULTS.md'), resultsMarkdown(run, file));
        console.log(`[bench] report: bench/${file}${complete ? ' · latest figures: bench/RESULTS.md' : ' (incomplete run: RESULTS.md left as it was)'}`);
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
