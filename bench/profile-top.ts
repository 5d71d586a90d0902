/**
 * `npx tsx bench/profile-top.ts <file.cpuprofile> [--top 15] [--report <report.json> --row <name>]`:
 * the functions a V8 CPU profile (node --cpu-prof, see bench/README.md "Profiling a scenario") spent
 * the most time in, itself (self) and with its callees (total), as a markdown table for a report's
 * notes. With a report and a row, only the samples inside that row's measured window count (the
 * profile and the window share CLOCK_MONOTONIC), so start-up and fixtures stay out.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Window } from './lib/cpu';
import { ROOT } from './lib/proc';
import type { Measurement } from './lib/stats';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function parseArgs(argv: string[]): { file: string; top: number; window?: Window } {
  const [file, ...rest] = argv;
  const flag = (name: string) => (rest.includes(name) ? rest[rest.indexOf(name) + 1] : undefined);
  if (!file) throw new Error('usage: npx tsx bench/profile-top.ts <file.cpuprofile> [--top n] [--report <report.json> --row <name>]');
  const report = flag('--report');
  const row = flag('--row');
  let window: Window | undefined;
  if (report && row) {
    const results = (JSON.parse(readFileSync(report, 'utf8')) as { results: Record<string, Measurement[]> }).results;
    window = Object.values(results).flat().find((m) => m.name === row)?.window;
    if (!window) throw new Error(`${report} has no row "${row}" with a measured window`);
  }
  return { file, top: Number(flag('--top') ?? 15), window };
}

function main(): void {
  const { file, top, window } = parseArgs(process.argv.slice(2));
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  // A later run of the same scenarios writes the same report file: its windows are of that run, not
  // of the profiled one, and would slice out the wrong seconds without a word.
  if (window && (window.fromUs < profile.startTime || window.toUs > profile.endTime)) {
    const s = (us: number) => (us / 1e6).toFixed(1);
    throw new Error(`the row's window (${s(window.fromUs)}–${s(window.toUs)} s) is not inside this profile (${s(profile.startTime)}–${s(profile.endTime)} s): the report is of another run`);
  }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const name = ({ callFrame: { functionName, url, lineNumber } }: ProfileNode) => {
    const where = url ? `${relative(ROOT, url.replace(/^file:\/\//, '')).replace(/^node_modules\//, '')}:${lineNumber + 1}` : '';
    return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    all += ms;
    const leaf = byId.get(id)!;
    self.set(name(leaf), (self.get(name(leaf)) ?? 0) + ms);
    const seen = new Set<string>(); // a recursive function counts once per sample
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
      const key = name(byId.get(node)!);
      if (!seen.has(key)) total.set(key, (total.get(key) ?? 0) + ms);
      seen.add(key);
    }
  });
  const busy = all - (self.get('(idle)') ?? 0) - (self.get('(program)') ?? 0);
  const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1)} %`;
  console.log(`${(all / 1000).toFixed(1)} s profiled${window ? ' (the measured window)' : ''}, ${(busy / 1000).toFixed(1)} s busy (shares below are of the busy time)\n`);
  console.log('| self | total | function |\n| --- | --- | --- |');
  for (const [key, ms] of [...self].filter(([k]) => k !== '(idle)' && k !== '(program)').sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`| ${pct(ms)} | ${pct(total.get(key) ?? ms)} | \`${key}\` |`);
  }
}

main();
