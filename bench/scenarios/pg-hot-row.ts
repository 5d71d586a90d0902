import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { withCpu } from '../lib/cpu';
import { OUT_DIR, runCommand } from '../lib/proc';
import type { Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import { percentile } from '../lib/stats';

const CLIENTS = 16;
const LOG_PREFIX = 'pgbench-hot';

/** Updates serialized on one row: what one wallet's charges can reach at best. */
export const pgHotRow: Scenario = {
  name: 'pg-hot-row',
  kind: 'ceiling',
  what: `pgbench, ${CLIENTS} clients: UPDATE hot SET b = b + 1 WHERE a = 1 on a one-row table (bench DB)`,
  reference: { rate: 3_750, label: '≈ 3,000–4,500' },
  async run(ctx) {
    const pg = new PgClient({ connectionString: BENCH.databaseUrl });
    await pg.connect();
    await pg.query('DROP TABLE IF EXISTS hot');
    await pg.query('CREATE TABLE hot (a int PRIMARY KEY, b bigint NOT NULL)');
    await pg.query('INSERT INTO hot VALUES (1, 0)');
    const script = join(OUT_DIR, 'pg-hot-row.sql');
    writeFileSync(script, 'UPDATE hot SET b = b + 1 WHERE a = 1;\n');
    for (const f of readdirSync(OUT_DIR)) if (f.startsWith(LOG_PREFIX)) rmSync(join(OUT_DIR, f));
    try {
      const args = ['-n', '-f', script, '-c', String(CLIENTS), '-j', '2', '-T', String(ctx.durationS), '-l', `--log-prefix=${join(OUT_DIR, LOG_PREFIX)}`, BENCH.databaseUrl];
      const { result, cpu } = await withCpu(() => runCommand('pgbench', 'pgbench', args));
      if (result.code !== 0) throw new Error(`pgbench failed (${result.code}): ${result.stderr}${result.stdout}`);
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(result.stdout)?.[1]);
      const failed = Number(/number of failed transactions: (\d+)/.exec(result.stdout)?.[1] ?? 0);
      // Per-transaction log: client_id transaction_no time_us script_no epoch epoch_us
      const latencies: number[] = [];
      for (const f of readdirSync(OUT_DIR).filter((name) => name.startsWith(LOG_PREFIX))) {
        for (const line of readFileSync(join(OUT_DIR, f), 'utf8').split('\n')) {
          const us = Number(line.split(' ')[2]);
          if (line && Number.isFinite(us)) latencies.push(us / 1000);
        }
      }
      latencies.sort((a, b) => a - b);
      const { rows } = await pg.query('SELECT b FROM hot WHERE a = 1');
      return [
        {
          name: 'pg-hot-row',
          concurrency: CLIENTS,
          requests: latencies.length,
          durationS: ctx.durationS,
          rate: tps,
          p50: percentile(latencies, 50),
          p95: percentile(latencies, 95),
          p99: percentile(latencies, 99),
          errors: failed,
          statuses: {},
          notes: [`row counter after the run: ${rows[0].b} (= transactions)`],
          cpu,
        },
      ];
    } finally {
      await pg.query('DROP TABLE IF EXISTS hot').catch(() => undefined);
      await pg.end();
    }
  },
};
