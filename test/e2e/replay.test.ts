import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { devServerExecutable, ROOT, WORKFLOW_BUNDLE_PATH } from '../support/paths';
import { startStack, type Stack } from '../support/stack';

/**
 * Determinism guard: the current workflow code must replay the histories of journeys already in
 * flight. The committed fixture is a real journey (hold, a refused payment, a charge, the sale)
 * recorded from the dev server; `RECORD_JOURNEY_HISTORY=1` records it again.
 */
const FIXTURE = join(__dirname, '..', 'fixtures', 'journey-history.json');

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

function replay(file: string): string {
  return execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/replay-history.ts'), file], { encoding: 'utf8', stdio: 'pipe' });
}

async function recordJourney() {
  const { api, db, temporal } = stack;
  const { concertId, scheduleIds } = await api.createConcert(5, 30_000);
  const { fan, queueToken } = await api.admittedFan(concertId, 'replayed');
  const held = await api.hold(fan, queueToken, scheduleIds[0], 3);
  expect((await api.pay(fan, queueToken, held.body.reservationId)).body.code).toBe('INSUFFICIENT_BALANCE');
  await api.charge(fan, 50_000);
  expect((await api.pay(fan, queueToken, held.body.reservationId)).status).toBe(201);
  const [row] = await db.query('SELECT journey_id FROM reservations WHERE id = $1', [held.body.reservationId]);
  const handle = temporal.workflow.getHandle(row.journey_id);
  await handle.result();
  return { workflowId: row.journey_id as string, history: await handle.fetchHistory() };
}

describe('replaying journey histories with the current code', () => {
  it('replays a journey recorded now', async () => {
    const { workflowId, history } = await recordJourney();
    await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, history, workflowId);
    if (process.env.RECORD_JOURNEY_HISTORY === '1') {
      // Exported the way an operator does it (README runbook): `temporal workflow show --output json`.
      const exported = execFileSync(devServerExecutable()!.path, ['workflow', 'show', '--workflow-id', workflowId, '--address', stack.config.TEMPORAL_ADDRESS, '--output', 'json']);
      writeFileSync(FIXTURE, exported);
    }
  });

  it('replays a journey whose steps overlapped: three holds sent at once, then a payment releasing the other two', async () => {
    // Their Postgres steps (local activities) would run side by side; a history with overlapping
    // ones did not replay (found by a worker crash in test/chaos/crashes.test.ts).
    const { api, db, temporal } = stack;
    const { concertId, scheduleIds } = await api.createConcert(5, 10_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'overlapping');
    const held = await Promise.all([1, 2, 3].map((seat) => api.hold(fan, queueToken, scheduleIds[0], seat)));
    expect(held.map((h) => h.status)).toEqual([201, 201, 201]);
    await api.charge(fan, 10_000);
    expect((await api.pay(fan, queueToken, held[0].body.reservationId)).status).toBe(201);
    const [row] = await db.query('SELECT journey_id FROM reservations WHERE id = $1', [held[0].body.reservationId]);
    const handle = temporal.workflow.getHandle(row.journey_id);
    await handle.result();
    await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, await handle.fetchHistory(), row.journey_id);
  });

  it('replays the committed journey history (a change that breaks determinism fails here)', async () => {
    // Through the operators' command (README runbook), exactly as they run it.
    expect(replay(FIXTURE)).toContain('deterministic');
  });

  it('refuses a history the code cannot have produced (the replay check can fail)', () => {
    const history = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    const scheduled = history.events.find((e: any) => e.activityTaskScheduledEventAttributes);
    scheduled.activityTaskScheduledEventAttributes.activityType.name = 'chargeCreditCard';
    const tampered = join(mkdtempSync(join(tmpdir(), 'ovation-replay-')), 'tampered.json');
    writeFileSync(tampered, JSON.stringify(history));
    expect(() => replay(tampered)).toThrow(/nondeterminism/i);
  });
});
