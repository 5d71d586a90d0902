import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AFTER_SALE_SEARCH_ATTRIBUTE_TYPES, SEARCH_ATTRIBUTE_TYPES } from '../workflows/definitions';

export const ROOT = join(__dirname, '..');
export const TOOLS_DIR = process.env.TOOLS_DIR ?? join(ROOT, '.tools');
export const DATA_DIR = process.env.DATA_DIR ?? join(ROOT, '.data');

/** The Temporal CLI built by `scripts/provision.sh`, if it is there. */
export function temporalCli(): string | undefined {
  const path = join(TOOLS_DIR, 'bin', 'temporal');
  return existsSync(path) ? path : undefined;
}

/**
 * Dynamic config that removes the dev server's hidden hand-off delay (TOOLCHAIN.md): by default its
 * history service polls the transfer queue at most 20 times a second, so every task waits 40-47 ms.
 */
export const TUNED_DYNAMIC_CONFIG = [
  'history.transferProcessorMaxPollRPS=2000',
  'history.timerProcessorMaxPollRPS=2000',
  'history.visibilityProcessorMaxPollRPS=2000',
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
  'history.enableHostLevelEventsCache=true',
  'history.shardIOConcurrency=4',
  // The CLI turns this on for its dev server (server v1.29.1 common/dynamicconfig/constants.go: "should
  // not be turned on in production"): every search-attribute lookup then re-reads cluster metadata and
  // the namespace row, on every start, Update-with-Start and upsert, queued on SQLite's one connection.
  // Search attributes are registered at start (`--search-attribute`), so nothing needs the forced refresh.
  'system.forceSearchAttributesCacheRefreshOnRead=false',
  // Server default false: without it the worker's eager-activity requests are ignored and each of the
  // payment's activities takes an extra round trip through matching.
  'system.enableActivityEagerExecution=true',
  // The admission tick starts each journey eagerly from the worker (activities/admission.ts): the
  // start's answer carries the journey's first task, skipping matching. On by default since server
  // v1.29 (constants.go), off before it: stated so that an older server does not silently ignore it.
  'system.enableEagerWorkflowStart=true',
];

/**
 * The tuned values plus any given in `TEMPORAL_DYNAMIC_CONFIG` (whitespace-separated KEY=VALUE, VALUE
 * as JSON; a key given there replaces its tuned value), for an A/B bench run without a code change:
 * `TEMPORAL_DYNAMIC_CONFIG='history.timerProcessorMaxTimeShift="100ms"' npm run bench -- --only admission`.
 * That one is the candidate worth measuring: the server's timer queue reads one second ahead
 * (default 1s), so a timer shorter than that fires about a second after it was set (100 ms timers
 * fired after 100–1,176 ms, mostly ~1 s, on this dev server; 102 ms with 100ms). The admission
 * controller's 200 ms ticks (the bench's ADMISSION_TICK_MS) are ~1.2 s apart because of it.
 */
export function dynamicConfigValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = (env.TEMPORAL_DYNAMIC_CONFIG ?? '').split(/\s+/).filter(Boolean);
  const bad = extra.find((pair) => !/^[\w.]+=.+/.test(pair));
  if (bad) throw new Error(`TEMPORAL_DYNAMIC_CONFIG: "${bad}" is not KEY=VALUE`);
  const given = new Set(extra.map((pair) => pair.split('=')[0]));
  return [...TUNED_DYNAMIC_CONFIG.filter((pair) => !given.has(pair.split('=')[0])), ...extra];
}

export function searchAttributeArgs(): string[] {
  return Object.entries({ ...SEARCH_ATTRIBUTE_TYPES, ...AFTER_SALE_SEARCH_ATTRIBUTE_TYPES }).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}

/** Arguments after `temporal server start-dev` beyond the port and storage. */
export function devServerExtraArgs(): string[] {
  return [...searchAttributeArgs(), ...dynamicConfigValues().flatMap((v) => ['--dynamic-config-value', v]), '--log-level', 'warn'];
}
