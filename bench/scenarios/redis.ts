import { withCpu } from '../lib/cpu';
import { runCommand } from '../lib/proc';
import type { Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import type { Measurement } from '../lib/stats';

const CLIENTS = 50;

/** One Redis round trip, as redis-benchmark sees it (in the bench's Redis db, never db 0). */
export const redis: Scenario = {
  name: 'redis',
  kind: 'ceiling',
  what: `redis-benchmark -n 200000 -c ${CLIENTS} -t get,zadd (GET is the ceiling row), on db ${BENCH.redisDb}`,
  reference: { rate: 175_000, label: '≈ 175,000' },
  async run(ctx) {
    const REQUESTS = ctx.sizes.redisRequests;
    const args = ['-p', String(BENCH.redisPort), '--dbnum', String(BENCH.redisDb), '-n', String(REQUESTS), '-c', String(CLIENTS), '-q', '-t', 'get,zadd', '--csv'];
    const { result, cpu } = await withCpu(() => runCommand('redis-benchmark', 'redis-benchmark', args));
    if (result.code !== 0) throw new Error(`redis-benchmark failed (${result.code}): ${result.stderr}`);
    const rows = parseCsv(result.stdout);
    const row = (test: string): Measurement => {
      const r = rows.find((x) => x.test === test);
      if (!r) throw new Error(`redis-benchmark printed no ${test} row:\n${result.stdout}`);
      const rate = Number(r.rps);
      return {
        name: test === 'GET' ? 'redis' : `redis ${test}`,
        concurrency: CLIENTS,
        requests: REQUESTS,
        durationS: REQUESTS / rate,
        rate,
        p50: Number(r.p50_latency_ms),
        p95: Number(r.p95_latency_ms),
        p99: Number(r.p99_latency_ms),
        errors: 0,
        statuses: {},
        notes: [],
        ...(test === 'GET' ? { cpu } : {}), // one CPU reading covers both tests
      };
    };
    return [row('GET'), row('ZADD')];
  },
};

/** `"test","rps",…` header then one quoted row per test. */
function parseCsv(text: string): Array<Record<string, string>> {
  const lines = text.trim().split('\n').map((l) => l.split(',').map((cell) => cell.replace(/^"|"$/g, '')));
  const header = lines.find((l) => l[0] === 'test');
  if (!header) throw new Error(`no CSV header in redis-benchmark output:\n${text}`);
  return lines.filter((l) => l !== header && l.length === header.length).map((l) => Object.fromEntries(header.map((h, i) => [h, l[i]])));
}
