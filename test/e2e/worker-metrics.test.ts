import { Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { findViolations } from '../../db/invariants';
import { createWorker } from '../../worker/create-worker';
import { createWorkerMetrics, metricsInterceptor, type WorkerMetrics } from '../../worker/metrics';
import { createMetricsApp, serveMetrics } from '../../worker/metrics-server';
import { eventually } from '../support/eventually';
import { WORKFLOW_BUNDLE_PATH } from '../support/paths';
import { startStack, type Stack } from '../support/stack';

/** The value of one series of a registry (undefined when the series does not exist). */
async function valueOf(metrics: WorkerMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const sample = metric?.values.find((v) => {
    const own = v as { labels: Record<string, string | number>; metricName?: string };
    return (own.metricName === undefined || own.metricName === name) && Object.entries(labels).every(([k, val]) => String(own.labels[k]) === val);
  });
  return sample?.value;
}

/** The count of a histogram's series with these labels (its `_count`). */
async function countOf(metrics: WorkerMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? [])
    .filter((v) => (v as { metricName?: string }).metricName === `${name}_count`)
    .filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('worker metrics through a real worker', () => {
  let stack: Stack;
  let worker: Worker;
  let running: Promise<void>;
  let connection: NativeConnection;
  let clientConnection: Connection;
  const metrics = createWorkerMetrics({ defaultMetrics: false });

  beforeAll(async () => {
    // Holds short enough to watch one expire; a payment made right after its hold is far inside them.
    stack = await startStack({ HOLD_TTL_SECONDS: '5', HOLD_GRACE_SECONDS: '1' }, { worker: false });
    // A worker of this test's own, like the stack's, but with the metrics dependency.
    connection = await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS });
    clientConnection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS });
    worker = await createWorker(
      { config: stack.config, db: stack.db, redis: stack.redis, connection, clientConnection, metrics },
      { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } },
    );
    running = worker.run();
  });

  afterAll(async () => {
    if (stack) expect(await findViolations(stack.db)).toEqual([]);
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection?.close();
    await clientConnection?.close();
    await stack?.stop();
  });

  it('admissions, queue gauges, holds (local activities) and payments of journeys driven through the API', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(5, 40_000);
    const [payer, canceller, broke, sleeper] = await Promise.all(
      ['payer', 'canceller', 'broke', 'sleeper'].map((name) => api.admittedFan(concertId, name)),
    );

    // The controller's ticks: admissions counted by concert, queue gauges from the latest tick.
    await eventually(async () => {
      expect(await valueOf(metrics, 'ovation_admissions_total', { concert: concertId })).toBeGreaterThanOrEqual(4);
      expect(await valueOf(metrics, 'ovation_queue_active', { concert: concertId })).toBeGreaterThanOrEqual(1);
    });
    // Journeys started from this worker's own connection: eagerly, their first task straight to it.
    expect(await valueOf(metrics, 'ovation_admission_eager_starts_total', { concert: concertId })).toBeGreaterThanOrEqual(1);
    expect(await valueOf(metrics, 'ovation_queue_waiting', { concert: concertId })).toBe(0);
    expect(await valueOf(metrics, 'ovation_queue_admit_per_second', { concert: concertId })).toBe(stack.config.QUEUE_ADMIT_PER_SECOND);
    expect(await valueOf(metrics, 'ovation_queue_max_active', { concert: concertId })).toBe(stack.config.QUEUE_MAX_ACTIVE);
    expect(await valueOf(metrics, 'ovation_queue_paused', { concert: concertId })).toBe(0);

    // One paid hold: the charge comes first so the payment follows its hold at once.
    await api.charge(payer.fan, 100_000);
    const paid = await api.hold(payer.fan, payer.queueToken, scheduleIds[0], 1);
    expect(paid.status).toBe(201);
    expect((await api.pay(payer.fan, payer.queueToken, paid.body.reservationId)).status).toBe(201);
    // A contested seat: the Redis gate refuses it in the API, the worker never sees it.
    expect((await api.hold(canceller.fan, canceller.queueToken, scheduleIds[0], 1)).status).toBe(409);
    // One cancelled hold, one payment refused for balance (its compensation finds nothing debited).
    const cancelled = await api.hold(canceller.fan, canceller.queueToken, scheduleIds[0], 2);
    expect((await api.call('DELETE', `/reservations/${cancelled.body.reservationId}`, { fan: canceller.fan })).status).toBe(200);
    const unpaid = await api.hold(broke.fan, broke.queueToken, scheduleIds[0], 3);
    const refused = await api.pay(broke.fan, broke.queueToken, unpaid.body.reservationId);
    expect(refused.body.code).toBe('INSUFFICIENT_BALANCE');
    // One hold left to expire by its durable timer.
    expect((await api.hold(sleeper.fan, sleeper.queueToken, scheduleIds[0], 4)).status).toBe(201);

    expect(await valueOf(metrics, 'ovation_journey_holds_total', { outcome: 'refused' })).toBe(0);
    expect(await valueOf(metrics, 'ovation_journey_holds_total', { outcome: 'released' })).toBe(1);
    expect(await valueOf(metrics, 'ovation_journey_payments_total', { outcome: 'completed' })).toBe(1);
    expect(await valueOf(metrics, 'ovation_journey_payments_total', { outcome: 'failed' })).toBe(1);
    expect(await valueOf(metrics, 'ovation_journey_payments_total', { outcome: 'refunded' })).toBe(0);
    // broke's and sleeper's holds expire at their deadlines (the payer's session released nothing: it had one hold).
    await eventually(async () => expect(await valueOf(metrics, 'ovation_journey_holds_total', { outcome: 'expired' })).toBe(2), { timeoutMs: 30_000 });
    expect(await valueOf(metrics, 'ovation_journey_holds_total', { outcome: 'started' })).toBe(4);

    // The interceptor sees local activities: holdSeat and releaseHolds (releases with the session's end) run as local ones.
    expect(await countOf(metrics, 'ovation_activity_duration_seconds', { activity_type: 'holdSeat', local: 'true', outcome: 'success' })).toBe(4);
    // The cancel, the two expiries and the payer's session end (no other hold to release).
    expect(await countOf(metrics, 'ovation_activity_duration_seconds', { activity_type: 'releaseHolds', local: 'true' })).toBeGreaterThanOrEqual(4);
    // A payment is one purchase, a local activity in the task that accepts the update (issue 25); the
    // controller's admission is a normal one.
    expect(await countOf(metrics, 'ovation_activity_duration_seconds', { activity_type: 'purchase', local: 'true', outcome: 'INSUFFICIENT_BALANCE' })).toBe(1);
    expect(await countOf(metrics, 'ovation_activity_duration_seconds', { activity_type: 'purchase', local: 'true', outcome: 'success' })).toBe(1);
    expect(await countOf(metrics, 'ovation_activity_duration_seconds', { activity_type: 'admitFans', local: 'false', outcome: 'success' })).toBeGreaterThanOrEqual(1);
  });
});

describe('the activity interceptor counts domain events from inputs and results', () => {
  const run = async (metrics: WorkerMetrics, activityType: string, arg: unknown, outcome: { result?: unknown; error?: Error }) => {
    const interceptors = metricsInterceptor(metrics)({ info: { activityType, isLocal: false } } as never);
    const next = async () => {
      if (outcome.error) throw outcome.error;
      return outcome.result;
    };
    return interceptors.inbound!.execute!({ args: [arg], headers: {} }, next);
  };
  const holds = (m: WorkerMetrics, outcome: string) => valueOf(m, 'ovation_journey_holds_total', { outcome });
  const payments = (m: WorkerMetrics, outcome: string) => valueOf(m, 'ovation_journey_payments_total', { outcome });

  it('holds: started, refused only for SEAT_UNAVAILABLE, released or expired by the release input', async () => {
    const m = createWorkerMetrics({ defaultMetrics: false });
    await run(m, 'holdSeat', {}, { result: { seatId: 's' } });
    const refusal = ApplicationFailure.create({ type: 'SEAT_UNAVAILABLE', message: 'taken', nonRetryable: true });
    await expect(run(m, 'holdSeat', {}, { error: refusal })).rejects.toBe(refusal);
    await expect(run(m, 'holdSeat', {}, { error: new Error('connection reset') })).rejects.toThrow('connection reset');
    await run(m, 'releaseHold', { outcome: 'CANCELLED' }, { result: true });
    await run(m, 'releaseHold', { outcome: 'EXPIRED' }, { result: false }); // taken over past the grace: expired all the same
    // A batch counts each hold in it.
    await run(m, 'releaseHolds', { outcome: 'EXPIRED', holds: [{}, {}] }, { result: [] });
    await run(m, 'releaseHolds', { outcome: 'CANCELLED', holds: [], session: { status: 'COMPLETED' } }, { result: [] });
    expect([await holds(m, 'started'), await holds(m, 'refused'), await holds(m, 'released'), await holds(m, 'expired')]).toEqual([1, 1, 1, 3]);
    expect(await countOf(m, 'ovation_activity_duration_seconds', { activity_type: 'holdSeat', outcome: 'error' })).toBe(1);
    expect(await countOf(m, 'ovation_activity_duration_seconds', { activity_type: 'holdSeat', outcome: 'SEAT_UNAVAILABLE' })).toBe(1);
  });

  it('payments: completed by the purchase (or the confirm), failed by a compensation, refunded when money went back; a late-confirmed sale is no failure', async () => {
    const m = createWorkerMetrics({ defaultMetrics: false });
    await run(m, 'purchase', {}, { result: { amount: 1, balance: 0 } });
    await run(m, 'confirmPayment', {}, { result: undefined });
    await run(m, 'refundPayment', {}, { result: 'REFUNDED' });
    await run(m, 'refundPayment', {}, { result: 'NOTHING_DEBITED' });
    await run(m, 'refundPayment', {}, { result: 'ALREADY_COMPLETED' });
    expect([await payments(m, 'completed'), await payments(m, 'failed'), await payments(m, 'refunded')]).toEqual([2, 2, 1]);
  });

  it('admission ticks: admissions add up; the gauges follow the latest tick and vanish when a concert stops ticking here', async () => {
    let now = 1_000_000;
    const m = createWorkerMetrics({ defaultMetrics: false, queueGaugesFreshForMs: 10_000, now: () => now });
    const request = { concertId: 'c1', tickId: 't', maxBatch: 5, maxActive: 100, activeTtlSeconds: 600, admitPerSecond: 5, paused: false };
    await run(m, 'admitFans', request, { result: { admitted: 5, waiting: 20, active: 5, startedEagerly: 4 } });
    await run(m, 'admitFans', { ...request, admitPerSecond: 7, paused: true }, { result: { admitted: 0, waiting: 20, active: 5 } });
    expect(await valueOf(m, 'ovation_admissions_total', { concert: 'c1' })).toBe(5);
    expect(await valueOf(m, 'ovation_admission_eager_starts_total', { concert: 'c1' })).toBe(4);
    expect(await valueOf(m, 'ovation_queue_waiting', { concert: 'c1' })).toBe(20);
    expect(await valueOf(m, 'ovation_queue_active', { concert: 'c1' })).toBe(5);
    expect(await valueOf(m, 'ovation_queue_admit_per_second', { concert: 'c1' })).toBe(7);
    expect(await valueOf(m, 'ovation_queue_paused', { concert: 'c1' })).toBe(1);
    now += 10_001;
    expect(await valueOf(m, 'ovation_queue_waiting', { concert: 'c1' })).toBeUndefined();
    expect(await valueOf(m, 'ovation_admissions_total', { concert: 'c1' })).toBe(5); // counters stay
  });

  it('leavers dropped at the head and no-shows, by concert (issue 21)', async () => {
    const m = createWorkerMetrics({ defaultMetrics: false });
    const request = { concertId: 'c2', tickId: 't', maxBatch: 5, maxActive: 100, activeTtlSeconds: 600, admitPerSecond: 5, paused: false };
    await run(m, 'admitFans', request, { result: { admitted: 3, dropped: 2, waiting: 20, active: 3 } });
    await run(m, 'admitFans', request, { result: { admitted: 1, waiting: 19, active: 4 } });
    expect(await valueOf(m, 'ovation_queue_leavers_dropped_total', { concert: 'c2' })).toBe(2);
    await run(m, 'endIfNoShow', { concertId: 'c2', userId: 'u', arrival: 1 }, { result: true });
    await run(m, 'endIfNoShow', { concertId: 'c2', userId: 'v', arrival: 2 }, { result: false }); // the fan came
    expect(await valueOf(m, 'ovation_queue_no_shows_total', { concert: 'c2' })).toBe(1);
  });

  it('admission by inventory: seats left, why admission is held back (one reason at 1, the others 0), and the sell-out', async () => {
    const m = createWorkerMetrics({ defaultMetrics: false });
    const request = { concertId: 'c2', tickId: 't', maxBatch: 5, maxActive: 100, activeTtlSeconds: 600, admitPerSecond: 5, paused: false, admitPerSeat: 1 };
    await run(m, 'admitFans', request, { result: { admitted: 0, waiting: 9, active: 3, seatsLeft: { bookable: 0, held: 3 }, admissionHeld: 'ALL_SEATS_HELD' } });
    expect(await valueOf(m, 'ovation_queue_seats_bookable', { concert: 'c2' })).toBe(0);
    expect(await valueOf(m, 'ovation_queue_seats_held', { concert: 'c2' })).toBe(3);
    expect(await valueOf(m, 'ovation_queue_admission_held', { concert: 'c2', reason: 'ALL_SEATS_HELD' })).toBe(1);
    expect(await valueOf(m, 'ovation_queue_admission_held', { concert: 'c2', reason: 'ADMITTED_UP_TO_SEATS_LEFT' })).toBe(0);
    expect(await valueOf(m, 'ovation_queue_sold_out', { concert: 'c2' })).toBe(0);
    await run(m, 'admitFans', request, { result: { admitted: 0, waiting: 9, active: 0, seatsLeft: { bookable: 0, held: 0 }, soldOut: true } });
    expect(await valueOf(m, 'ovation_queue_sold_out', { concert: 'c2' })).toBe(1);
    expect(await valueOf(m, 'ovation_queue_admission_held', { concert: 'c2', reason: 'ALL_SEATS_HELD' })).toBe(0);
    // A tick that counted nothing (a controller from before the count) has no seats series.
    await run(m, 'admitFans', { ...request, concertId: 'c3', admitPerSeat: undefined }, { result: { admitted: 0, waiting: 0, active: 0 } });
    expect(await valueOf(m, 'ovation_queue_seats_bookable', { concert: 'c3' })).toBeUndefined();
  });
});

describe('the worker metrics endpoint', () => {
  it('serves the registry with the SDK exporter merged in, and says so when the SDK is unreachable', async () => {
    const m = createWorkerMetrics({ defaultMetrics: false });
    m.holds.inc({ outcome: 'started' });
    const { Hono } = await import('hono');
    const fakeSdk = new Hono().get('/metrics', (c) => c.text('# HELP temporal_worker_start x\n# TYPE temporal_worker_start counter\ntemporal_worker_start 1\n'));
    const sdk = await serveMetrics(fakeSdk, { port: 0, hostname: '127.0.0.1' });
    const errors: string[] = [];
    const app = createMetricsApp({
      registry: m.registry,
      merge: [`http://127.0.0.1:${sdk.port}/metrics`, 'http://127.0.0.1:9/metrics'],
      onMergeError: (url) => errors.push(url),
    });
    const served = await serveMetrics(app, { port: 0, hostname: '127.0.0.1' });
    try {
      const res = await fetch(`http://127.0.0.1:${served.port}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      expect(text).toContain('ovation_journey_holds_total{outcome="started"} 1');
      expect(text).toContain('temporal_worker_start 1');
      expect(text).toContain('# http://127.0.0.1:9/metrics unavailable');
      expect(errors).toEqual(['http://127.0.0.1:9/metrics']);
    } finally {
      served.server.close();
      sdk.server.close();
    }
  });
});
