import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { admissionWorkflowId, journeyWorkflowId, payUpdate, queueSettingsUpdate } from '../../workflows/definitions';
import { eventually } from '../support/eventually';
import { HISTORY_FIXTURES, saveFirstRun, saveHistoryFixture, startShortRunController } from '../support/history';
import { devServerExecutable, ROOT, WORKFLOW_BUNDLE_PATH } from '../support/paths';
import { startStack, type Stack } from '../support/stack';

/**
 * Determinism guard: the current workflow code must replay the histories of journeys already in
 * flight. The committed fixture is a real journey (hold, a refused payment, a charge, the sale)
 * recorded from the dev server; `RECORD_JOURNEY_HISTORY=1` records it again.
 */
const FIXTURE = join(HISTORY_FIXTURES, 'journey-history.json');
/** Every recorded history: each one a journey or a controller that ran with an earlier version of the code. */
const RECORDED = readdirSync(HISTORY_FIXTURES).filter((f) => f.endsWith('.json')).sort();

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

  it.each(RECORDED)('replays the recorded history %s with the current code', async (file) => {
    const history = JSON.parse(readFileSync(join(HISTORY_FIXTURES, file), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, history, file);
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

/**
 * `RECORD_HISTORIES=1 npx jest test/e2e/replay.test.ts` records, with the code of the moment, the
 * histories every later change must still replay: journeys that held, paid, cancelled, expired
 * (holds and the window), left, held several seats at once, paid an order of several seats (from
 * -v4 on); and an admission controller that ticked, admitted a fan, took a settings update and
 * continued as new; and (since -v4) one whose concert sold out. Recorded once, before a
 * change to workflow code, and committed; never re-recorded to make a change pass. Recordings of
 * later code versions sit beside the earlier ones: `RECORD_HISTORIES_SUFFIX=-v2` names them `<name>-v2.json`.
 */
const recording = process.env.RECORD_HISTORIES === '1' ? describe : describe.skip;
recording('recording histories for later replays', () => {
  // Short holds and windows, so every journey here ends by itself within the test.
  let short: Stack;
  let capped: Stack;
  // The no-show check (issue 21) one second after admission, within a four-second window.
  let noShow: Stack;
  beforeAll(async () => {
    noShow = await startStack({ NO_SHOW_SECONDS: '1', HOLD_TTL_SECONDS: '2', HOLD_GRACE_SECONDS: '1', ACTIVE_TOKEN_TTL_SECONDS: '4' });
    short = await startStack({ HOLD_TTL_SECONDS: '2', HOLD_GRACE_SECONDS: '1', ACTIVE_TOKEN_TTL_SECONDS: '6' });
    // Holds longer than the window: each is capped at the window's end, so all fall due at once with the session's end.
    capped = await startStack({ HOLD_TTL_SECONDS: '60', HOLD_GRACE_SECONDS: '1', ACTIVE_TOKEN_TTL_SECONDS: '5' });
  });
  afterAll(async () => {
    await short?.stop();
    await capped?.stop();
    await noShow?.stop();
  });

  async function saveJourney(on: Stack, name: string, workflowId: string) {
    const handle = on.temporal.workflow.getHandle(workflowId);
    await eventually(() => handle.result(), { timeoutMs: 30_000 });
    await saveHistoryFixture(name, workflowId, await handle.fetchHistory());
  }

  it('an admitted fan who never comes: NO_SHOW', async () => {
    const { api } = noShow;
    const { concertId } = await api.createConcert(5);
    const fan = await api.newFan('no-show');
    await api.join(fan, concertId); // and never a request again
    await saveJourney(noShow, 'journey-no-show', journeyWorkflowId(concertId, fan.userId, 1));
  });

  it('an admitted fan who came: checked at NO_SHOW_SECONDS, then the window ends', async () => {
    const { api } = noShow;
    const { concertId } = await api.createConcert(5);
    const { fan } = await api.admittedFan(concertId, 'came');
    await saveJourney(noShow, 'journey-no-show-came', journeyWorkflowId(concertId, fan.userId, 1));
  });

  async function save(on: Stack, name: string, reservationId: string) {
    const [row] = await on.db.query('SELECT journey_id FROM reservations WHERE id = $1', [reservationId]);
    const handle = on.temporal.workflow.getHandle(row.journey_id);
    await handle.result();
    await saveHistoryFixture(name, row.journey_id, await handle.fetchHistory());
  }

  it('a hold that expires, then the window', async () => {
    const { api } = short;
    const { concertId, scheduleIds } = await api.createConcert(5);
    const { fan, queueToken } = await api.admittedFan(concertId, 'expired');
    const held = await api.hold(fan, queueToken, scheduleIds[0], 1);
    expect(held.status).toBe(201);
    await save(short, 'journey-expired', held.body.reservationId);
  });

  it('a refused payment, then the hold expires', async () => {
    const { api } = short;
    const { concertId, scheduleIds } = await api.createConcert(5, 90_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'broke');
    const held = await api.hold(fan, queueToken, scheduleIds[0], 2);
    expect((await api.pay(fan, queueToken, held.body.reservationId)).body.code).toBe('INSUFFICIENT_BALANCE');
    await save(short, 'journey-pay-refused-expired', held.body.reservationId);
  });

  it('a payment refused as the hold ended behind the journey: refunded after its debit (-v5 to -v7), taken nothing by its purchase (-v8 on)', async () => {
    const { api, db } = short;
    const { concertId, scheduleIds } = await api.createConcert(5, 10_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'refunded');
    await api.charge(fan, 10_000);
    const held = await api.hold(fan, queueToken, scheduleIds[0], 3);
    // The row ends behind the journey's back (as a takeover past the grace would end it): the
    // journey still holds it, so the purchase is refused (it takes nothing), the order is given up,
    // and the journey asks whether another payment of its own sold the seat. Sent to the journey
    // itself: the API would read the row first and refuse the payment.
    await db.query(`UPDATE reservations SET status = 'EXPIRED' WHERE id = $1`, [held.body.reservationId]);
    const [row] = await db.query('SELECT journey_id FROM reservations WHERE id = $1', [held.body.reservationId]);
    const paying = short.temporal.workflow.getHandle(row.journey_id).executeUpdate(payUpdate, { args: [{ reservationId: held.body.reservationId, paymentId: randomUUID() }] });
    await expect(paying).rejects.toMatchObject({ cause: { type: 'RESERVATION_NOT_PAYABLE' } });
    expect((await db.query(`SELECT type FROM wallet_transactions WHERE user_id = $1 ORDER BY id`, [fan.userId])).map((r: { type: string }) => r.type)).toEqual(['CHARGE']);
    await save(short, 'journey-pay-refunded', held.body.reservationId);
  });

  it('two holds, one cancelled, the other expires', async () => {
    const { api } = short;
    const { concertId, scheduleIds } = await api.createConcert(5);
    const { fan, queueToken } = await api.admittedFan(concertId, 'canceller');
    const first = await api.hold(fan, queueToken, scheduleIds[0], 1);
    const second = await api.hold(fan, queueToken, scheduleIds[0], 2);
    expect(second.status).toBe(201);
    expect((await api.call('DELETE', `/reservations/${first.body.reservationId}`, { fan })).status).toBe(200);
    await save(short, 'journey-cancelled', first.body.reservationId);
  });

  it('two holds, then the fan leaves', async () => {
    const { api } = short;
    const { concertId, scheduleIds } = await api.createConcert(5);
    const { fan, queueToken } = await api.admittedFan(concertId, 'leaver');
    const held = await Promise.all([1, 2].map((seat) => api.hold(fan, queueToken, scheduleIds[0], seat)));
    expect(held.map((h) => h.status)).toEqual([201, 201]);
    expect((await api.call('DELETE', '/queue-tokens/current', { fan, queueToken })).status).toBeLessThan(300);
    await save(short, 'journey-left', held[0].body.reservationId);
  });

  it('three holds at once, a payment, the other two released', async () => {
    const { api } = short;
    const { concertId, scheduleIds } = await api.createConcert(5, 10_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'buyer');
    await api.charge(fan, 10_000);
    const held = await Promise.all([1, 2, 3].map((seat) => api.hold(fan, queueToken, scheduleIds[0], seat)));
    expect(held.map((h) => h.status)).toEqual([201, 201, 201]);
    expect((await api.pay(fan, queueToken, held[1].body.reservationId)).status).toBe(201);
    await save(short, 'journey-several-holds-paid', held[1].body.reservationId);
  });

  it('an order of two of three holds, the third released with the session (issue 21)', async () => {
    const { api } = short;
    const { concertId, scheduleIds } = await api.createConcert(5, 10_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'orderer');
    await api.charge(fan, 20_000);
    const held = await Promise.all([1, 2, 3].map((seat) => api.hold(fan, queueToken, scheduleIds[0], seat)));
    expect(held.map((h) => h.status)).toEqual([201, 201, 201]);
    const reservationIds = [held[2].body.reservationId, held[0].body.reservationId];
    expect((await api.call('POST', '/payments', { fan, queueToken, body: { reservationIds } })).status).toBe(201);
    await save(short, 'journey-order-paid', reservationIds[0]);
  });

  it('an order refused for balance, then a charge and the same order paid (issue 21)', async () => {
    const { api } = short;
    const { concertId, scheduleIds } = await api.createConcert(5, 10_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'short-of-money');
    await api.charge(fan, 10_000);
    const held = await Promise.all([4, 5].map((seat) => api.hold(fan, queueToken, scheduleIds[0], seat)));
    const reservationIds = held.map((h) => h.body.reservationId);
    expect((await api.call('POST', '/payments', { fan, queueToken, body: { reservationIds } })).body.code).toBe('INSUFFICIENT_BALANCE');
    await api.charge(fan, 10_000);
    expect((await api.call('POST', '/payments', { fan, queueToken, body: { reservationIds } })).status).toBe(201);
    await save(short, 'journey-order-refused-paid', reservationIds[0]);
  });

  it('three holds at once, all due with the window at the same instant', async () => {
    const { api } = capped;
    const { concertId, scheduleIds } = await api.createConcert(5);
    const { fan, queueToken } = await api.admittedFan(concertId, 'mass');
    const held = await Promise.all([1, 2, 3].map((seat) => api.hold(fan, queueToken, scheduleIds[0], seat)));
    expect(held.map((h) => h.status)).toEqual([201, 201, 201]);
    await save(capped, 'journey-all-due-at-once', held[0].body.reservationId);
  });

  it('an admission controller that ticks, admits, takes a settings update and continues as new', async () => {
    const { api, temporal } = short;
    const { concertId } = await api.createConcert(5);
    const handle = await startShortRunController(short, concertId, {
      // One active place: the second fan keeps waiting, so the controller keeps ticking (it sleeps when nobody waits).
      settings: { admitPerSecond: 200, maxActive: 1, paused: false },
      tickMs: 100,
    });
    await api.admittedFan(concertId, 'admitted');
    await api.join(await api.newFan('waiting'), concertId);
    await handle.executeUpdate(queueSettingsUpdate, { args: [{ admitPerSecond: 100, paused: true }] });
    await handle.executeUpdate(queueSettingsUpdate, { args: [{ paused: false }] });
    await saveFirstRun(temporal, handle, 'admission-controller');
  });

  it('an admission controller whose concert sells out: it closes the queue, ends the live journeys and ends', async () => {
    const { api, temporal } = short;
    const { concertId, scheduleIds } = await api.createConcert(1, 10_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'last-buyer');
    await api.join(await api.newFan('too-late'), concertId);
    await api.charge(fan, 10_000);
    const held = await api.hold(fan, queueToken, scheduleIds[0], 1);
    expect((await api.pay(fan, queueToken, held.body.reservationId)).status).toBe(201);
    const handle = temporal.workflow.getHandle(admissionWorkflowId(concertId));
    await handle.result();
    await saveHistoryFixture('admission-controller-sold-out', handle.workflowId, await handle.fetchHistory());
  });
});
