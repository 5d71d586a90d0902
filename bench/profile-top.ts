/**
 * `npx tsx bench/profile-top.ts <file.cpuprofile> [n=15]`: the functions a V8 CPU profile (node
 * --cpu-prof, see bench/README.md "Profiling a scenario") spent the most time in, itself (self) and
 * with its callees (total), as a markdown table for a report's notes.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from './lib/proc';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function main(): void {
  const [file, n = '15'] = process.argv.slice(2);
  if (!file) throw new Error('usage: npx tsx bench/profile-top.ts <file.cpuprofile> [n]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
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
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    all += ms;
    const leaf = byId.get(id)!;
    self.set(name(leaf), (self.get(name(leaf)) ?? 0) + ms);
    const seen = new Set<string>(); // a recursive function counts once per sample
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = name(byId.get(at)!);
      if (!seen.has(key)) total.set(key, (total.get(key) ?? 0) + ms);
      seen.add(key);
    }
  });
  const busy = all - (self.get('(idle)') ?? 0) - (self.get('(program)') ?? 0);
  const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1)} %`;
  console.log(`${(all / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s busy (shares below are of the busy time)\n`);
  console.log('| self | total | function |\n| --- | --- | --- |');
  for (const [key, ms] of [...self].filter(([k]) => k !== '(idle)' && k !== '(program)').sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
    console.log(`| ${pct(ms)} | ${pct(total.get(key) ?? ms)} | \`${key}\` |`);
  }
}

main();
