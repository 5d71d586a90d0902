/**
 * `npx tsx bench/mass-expiry.ts [fans=500]`: 4 holds per fan, all due at the same instant (their
 * deadline is the end of one shared admission window), then watches the seats come back:
 *  - when every seat reads AVAILABLE again (the deadline is data: due + grace, whatever the timers do),
 *  - how fast the journeys' timers release the rows (the drain), next to nothing else running.
 * Own database (ovation_expiry), Redis db 3 and in-memory dev server (tuned as in TOOLCHAIN.md).
 */
import { execFileSync } from 'node:child_process';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDataSource } from '../db/data-source';
import { migrate } from '../db/migrate';
import { TUNED_DYNAMIC_CONFIG } from '../scripts/temporal-dev-server';
import { searchAttributes } from '../workflows/definitions';
import { devServerExecutable, ROOT, WORKFLOW_BUNDLE_PATH } from '../test/support/paths';
import type { Fan } from '../test/support/api-client';
import { quietTemporalRuntime, startStack } from '../test/support/stack';

const FANS = Number(process.argv[2] ?? 500);
const DB = 'postgres://ovation:ovation@127.0.0.1:5432/ovation_expiry';

async function main(): Promise<void> {
  quietTemporalRuntime();
  execFileSync('bash', [join(ROOT, 'scripts/provision.sh'), '--database', 'ovation_expiry'], { stdio: 'ignore' });
  const reset = createDataSource(DB, { poolSize: 1 });
  await reset.initialize();
  await reset.query('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public');
  await reset.destroy();
  await migrate(DB);
  // The in-process worker of the test stack runs this bundle.
  writeFileSync(WORKFLOW_BUNDLE_PATH, (await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') })).code);
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: devServerExecutable(), searchAttributes: Object.values(searchAttributes), extraArgs: TUNED_DYNAMIC_CONFIG.flatMap((v) => ['--dynamic-config-value', v]) },
  });
  const stack = await startStack({
    DATABASE_URL: DB, REDIS_URL: 'redis://127.0.0.1:6379/3', TEMPORAL_ADDRESS: env.address,
    ADMISSION_TICK_MS: '1000', QUEUE_ADMIT_PER_SECOND: '100000', QUEUE_MAX_ACTIVE: '100000',
    ACTIVE_TOKEN_TTL_SECONDS: '120', HOLD_TTL_SECONDS: '600', HOLD_GRACE_SECONDS: '3',
  });
  await stack.redis.flushdb();
  const { api, db } = stack;
  try {
    const { concertId, scheduleIds } = await api.createConcert(FANS * 4, 10_000);
    await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: true } });
    const fans: Array<{ fan: Fan; token: string }> = [];
    for (let i = 0; i < FANS; i += 50) {
      fans.push(...(await Promise.all(Array.from({ length: Math.min(50, FANS - i) }, async () => {
        const fan = await api.newFan();
        return { fan, token: await api.join(fan, concertId) };
      }))));
    }
    // One tick admits everyone: one window, one deadline for every hold.
    await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: false } });
    let activeUntil = 0;
    for (;;) {
      const s = (await api.tokenStatus(fans[fans.length - 1].fan, fans[fans.length - 1].token)).body;
      if (s.status === 'ACTIVE') { activeUntil = Date.parse(s.activeUntil); break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    const started = Date.now();
    let next = 0;
    const holdAll = async () => {
      for (let i = next++; i < FANS; i = next++) {
        const { fan, token } = fans[i];
        for (let k = 0; k < 4; k++) {
          const res = await api.hold(fan, token, scheduleIds[0], i * 4 + k + 1);
          if (res.status !== 201) throw new Error(`hold: ${res.status} ${JSON.stringify(res.body)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 10 }, holdAll));
    const holdSeconds = (Date.now() - started) / 1000;
    console.log(`${FANS * 4} holds in ${holdSeconds.toFixed(1)} s (${((FANS * 4) / holdSeconds).toFixed(0)}/s); all due at ${new Date(activeUntil).toISOString()}, in ${((activeUntil - Date.now()) / 1000).toFixed(0)} s`);

    const counts = async () => (await db.query(
      `SELECT count(*) FILTER (WHERE s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until < now() - interval '3 seconds'))::int AS bookable,
              (SELECT count(*)::int FROM reservations r WHERE r.schedule_id = $1 AND r.status = 'HELD') AS held_rows
       FROM seats s WHERE s.schedule_id = $1`, [scheduleIds[0]]))[0] as { bookable: number; held_rows: number };
    let allBookableAt = 0;
    let lastHeld = FANS * 4;
    const samples: string[] = [];
    for (;;) {
      const c = await counts();
      const t = Date.now() - activeUntil;
      if (!allBookableAt && c.bookable === FANS * 4) allBookableAt = t;
      if (t > -2000 && (c.held_rows !== lastHeld || samples.length === 0)) samples.push(`${(t / 1000).toFixed(2)} s: ${c.held_rows} rows still HELD, ${c.bookable} seats bookable`);
      lastHeld = c.held_rows;
      if (c.held_rows === 0 && allBookableAt) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const drainedAt = Date.now() - activeUntil;
    console.log(samples.filter((_, i) => i % Math.ceil(samples.length / 15) === 0 || i === samples.length - 1).join('\n'));
    console.log(`every seat bookable ${(allBookableAt / 1000).toFixed(2)} s after the deadline (grace 3 s)`);
    console.log(`every timer's release done ${(drainedAt / 1000).toFixed(2)} s after the deadline: ${((FANS * 4) / (drainedAt / 1000)).toFixed(0)} releases/s on average`);
  } finally {
    await stack.stop();
    await env.teardown();
  }
}

void main();
