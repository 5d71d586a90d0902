import type { DataSource } from 'typeorm';
import { Client, Connection } from '@temporalio/client';
import { createDataSource } from '../../db/data-source';
import { findViolations } from '../../db/invariants';
import { migrate } from '../../db/migrate';
import { loadConfig } from '../../lib/config';
import { ApiClient, type Answer, type Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { startApi, startWorker, type ServiceProcess } from '../support/processes';
import { journeysThatDoNotReplay } from '../support/replay';
import { PrivatePostgres, PrivateRedis, PrivateTemporal, type DependencyName, type PrivateService } from '../support/private-services';

/**
 * Dependency outages: PostgreSQL, Redis and the Temporal server, each stopped abruptly while fans
 * poll, read their wallets, hold and pay, then started again. While one is down the API answers
 * 503 DEPENDENCY_UNAVAILABLE to exactly the requests that need it, within a bounded time, and
 * serves the rest; /readyz names it. Afterwards everything resumes by itself: the same worker and
 * API processes, the same queue tokens, every fan ends with one paid seat, holds that expired during
 * the outage are bookable again, and the books balance.
 *
 * The services are this file's own (test/support/private-services.ts): other suites share the
 * run's, and must never see them stop.
 */
const PRICE = 10_000;
const HOLD_TTL_SECONDS = 6;
const HOLD_GRACE_SECONDS = 1;
/** The API's Temporal deadline (15 s, api/server.ts) and a little: no request waits longer. */
const ANSWER_BOUND_MS = 17_000;
/** Once the dependency is back and the API ready, how soon every fan must have paid. */
const RESUME_WITHIN_MS = 45_000;

const KINDS = ['poll', 'wallet', 'read', 'hold', 'pay'] as const;
type Kind = (typeof KINDS)[number];
const UNAVAILABLE = '503 DEPENDENCY_UNAVAILABLE';
/**
 * The answers a request may get while one dependency is down. A poll of the queue token is Redis
 * only; reading the wallet or reservations is PostgreSQL only; a hold and a payment need all three
 * (the journey's steps run on PostgreSQL).
 */
const WHILE_DOWN: Record<DependencyName, Record<Kind, string[]>> = {
  postgres: { poll: ['200'], wallet: [UNAVAILABLE], read: [UNAVAILABLE], hold: [UNAVAILABLE], pay: [UNAVAILABLE] },
  redis: { poll: [UNAVAILABLE], wallet: ['200'], read: ['200'], hold: [UNAVAILABLE], pay: [UNAVAILABLE] },
  // Paying a hold already past its deadline is refused from PostgreSQL, before Temporal is asked.
  temporal: { poll: ['200'], wallet: ['200'], read: ['200'], hold: [UNAVAILABLE], pay: [UNAVAILABLE, '409 HOLD_EXPIRED'] },
};

interface Sent extends Answer {
  kind: Kind;
  userId: string;
  startedAt: number;
  endedAt: number;
}

let services: Record<DependencyName, PrivateService>;
let worker: ServiceProcess;
let api: ServiceProcess;
let client: ApiClient;
let db: DataSource;
let temporal: { connection: Connection; client: Client };

beforeAll(async () => {
  const [postgres, redis, temporalServer] = await Promise.all([PrivatePostgres.create(), PrivateRedis.create(), PrivateTemporal.create()]);
  services = { postgres, redis, temporal: temporalServer };
  await migrate(postgres.url);
  const env = {
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url(),
    TEMPORAL_ADDRESS: temporalServer.address,
    TEMPORAL_TASK_QUEUE: 'outages',
    ADMISSION_TICK_MS: '100',
    QUEUE_ADMIT_PER_SECOND: '200',
    HOLD_TTL_SECONDS: String(HOLD_TTL_SECONDS),
    HOLD_GRACE_SECONDS: String(HOLD_GRACE_SECONDS),
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
  };
  let url: string;
  [worker, { api, url }] = await Promise.all([startWorker(env), startApi(env)]);
  // Every request ends, one way or another: a hang fails the test instead of stalling it.
  const requester = { request: (path: string, init?: RequestInit) => fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(2 * ANSWER_BOUND_MS) }) };
  client = new ApiClient(requester, loadConfig({ ...process.env, ...env }));
  db = createDataSource(postgres.url, { poolSize: 2 });
  await db.initialize();
  const connection = await Connection.connect({ address: temporalServer.address });
  temporal = { connection, client: new Client({ connection }) };
}, 120_000);

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()]);
  if (db) expect(await findViolations(db)).toEqual([]);
  await db?.destroy();
  await temporal?.connection.close();
  await Promise.all(Object.values(services ?? {}).map((s) => s.destroy()));
});

describe.each(['postgres', 'redis', 'temporal'] as const)('%s stopped and restarted during traffic', (name) => {
  it('answers 503 DEPENDENCY_UNAVAILABLE to what needs it, in bounded time, and resumes by itself', async () => {
    const service = services[name];
    const { concertId, scheduleIds } = await client.createConcert(60, PRICE);
    const scheduleId = scheduleIds[0];
    // Payers hold a seat before the outage and pay from the moment it begins; bookers hold fresh seats.
    const fans = await Promise.all(Array.from({ length: 6 }, (_, i) => client.admittedFan(concertId, `${name}-${i}`)));
    await Promise.all(fans.map(({ fan }) => client.charge(fan, PRICE)));
    const payers = fans.slice(0, 3);
    const preHolds = await Promise.all(payers.map(({ fan, queueToken }, i) => client.hold(fan, queueToken, scheduleId, i + 1)));
    expect(preHolds.map((h) => h.status)).toEqual([201, 201, 201]);
    let nextFreshSeat = payers.length + 1;

    // A queue its controller keeps paused: the fans waiting in it must keep their places.
    const pausedQueue = await client.createConcert(5, PRICE);
    const setPaused = (paused: boolean) => client.call('PUT', `/admin/concerts/${pausedQueue.concertId}/queue`, { admin: true, body: { paused } });
    expect((await setPaused(true)).status).toBe(200);
    const waiting = await Promise.all([0, 1, 2].map(async (i) => {
      const fan = await client.newFan(`${name}-waiting-${i}`);
      return { fan, queueToken: await client.join(fan, pausedQueue.concertId) };
    }));
    const places = async () => Promise.all(waiting.map(async (w) => (await client.tokenStatus(w.fan, w.queueToken)).body.position as number));
    const placesBefore = await places();
    expect([...placesBefore].sort()).toEqual([1, 2, 3]);

    const sent: Sent[] = [];
    const send = async (fan: Fan, kind: Kind, call: () => Promise<Answer>): Promise<Answer> => {
      const startedAt = Date.now();
      const answer = await call();
      sent.push({ ...answer, kind, userId: fan.userId, startedAt, endedAt: Date.now() });
      return answer;
    };
    let booking = false; // until the outage begins, fans only poll and read their wallets
    const recovery: { at?: number } = {};
    const paid = new Set<string>();
    const fanTraffic = async ({ fan, queueToken }: { fan: Fan; queueToken: string }, index: number) => {
      const payer = index < payers.length;
      let reservationId: string | undefined = payer ? preHolds[index].body.reservationId : undefined;
      let seat = payer ? ((index + 1) % payers.length) + 1 : 0;
      while (!paid.has(fan.userId)) {
        if (recovery.at && Date.now() - recovery.at > RESUME_WITHIN_MS) {
          const own = sent.filter((s) => s.userId === fan.userId).slice(-6).map((s) => `${s.kind} ${s.status} ${s.body?.code ?? ''}`);
          throw new Error(`fan ${index} has not paid ${RESUME_WITHIN_MS} ms after the restart; last answers: ${own.join(', ')}`);
        }
        await send(fan, 'poll', () => client.tokenStatus(fan, queueToken));
        await send(fan, 'wallet', () => client.call('GET', '/wallet', { fan }));
        // A hold or payment that did not answer may still take effect (the 503 says so): like a
        // careful client, the fan reads its reservations back before it tries again.
        if (booking && reservationId) {
          const id = reservationId;
          const answer = await send(fan, 'pay', () => client.pay(fan, queueToken, id));
          if (answer.status === 201) paid.add(fan.userId);
          if (answer.status === 409 || answer.status === 503) {
            const now = await send(fan, 'read', () => client.call('GET', `/reservations/${id}`, { fan }));
            if (now.body.status === 'CONFIRMED') paid.add(fan.userId);
            if (now.body.status === 'EXPIRED' || now.body.status === 'CANCELLED') reservationId = undefined; // hold again
          }
        } else if (booking) {
          seat ||= nextFreshSeat++;
          const answer = await send(fan, 'hold', () => client.hold(fan, queueToken, scheduleId, seat));
          if (answer.status === 201) reservationId = answer.body.reservationId;
          if (answer.status === 409 || answer.status === 503) {
            const held = await send(fan, 'read', () => client.call('GET', '/reservations?status=HELD', { fan }));
            const landed = held.status === 200 ? held.body.items.find((r: { scheduleId: string; seatNumber: number }) => r.scheduleId === scheduleId && r.seatNumber === seat) : undefined;
            if (landed) reservationId = landed.reservationId;
            else if (answer.status === 409) seat = 0; // someone else's: another seat
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 200)); // a client's pace, not a wait for an event
      }
    };
    const traffic = Promise.all(fans.map((f, i) => fanTraffic(f, i)));
    traffic.catch(() => undefined); // awaited below: this only keeps an early failure from going unhandled
    await eventually(async () => expect(sent.length).toBeGreaterThanOrEqual(fans.length * 2));

    await service.stop();
    const stoppedAt = Date.now();
    booking = true;
    const ready = await client.call('GET', '/readyz');
    expect([ready.status, ready.body.code]).toEqual([503, 'DEPENDENCY_UNAVAILABLE']);
    expect(ready.body.detail).toBe(`not ready: ${name} unavailable`);
    // The outage lasts until every kind of request has been answered inside it and the payers' holds
    // are past their deadlines, so that they must be released and booked again afterwards.
    const preHoldsOver = Math.max(...preHolds.map((h) => Date.parse(h.body.heldUntil))) + HOLD_GRACE_SECONDS * 1000;
    await eventually(
      async () => {
        const inside = sent.filter((s) => s.startedAt >= stoppedAt);
        for (const kind of KINDS) expect(inside.filter((s) => s.kind === kind).length).toBeGreaterThanOrEqual(2);
        expect(Date.now()).toBeGreaterThan(preHoldsOver);
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const restartedAt = Date.now();
    await service.start();
    const during = sent.filter((s) => s.startedAt >= stoppedAt && s.endedAt < restartedAt);
    await eventually(async () => expect((await client.call('GET', '/readyz')).status).toBe(200), { timeoutMs: 30_000, intervalMs: 100 });
    recovery.at = Date.now();
    const readyAfterMs = recovery.at - restartedAt;
    await traffic;

    // While it was down: 503 DEPENDENCY_UNAVAILABLE for what needs it, the rest served as usual.
    for (const kind of KINDS) {
      const answers = during.filter((s) => s.kind === kind).map((s) => `${s.status} ${s.body?.code ?? ''}`.trim());
      expect({ kind, unexpected: answers.filter((a) => !WHILE_DOWN[name][kind].includes(a)) }).toEqual({ kind, unexpected: [] });
      if (WHILE_DOWN[name][kind].includes(UNAVAILABLE)) expect(answers).toContain(UNAVAILABLE);
    }
    // At any time: no other 5xx, and no request waiting longer than the bound.
    expect(sent.filter((s) => s.status >= 500 && s.status !== 503)).toEqual([]);
    const slowest = Math.max(...sent.map((s) => s.endedAt - s.startedAt));
    expect(slowest).toBeLessThan(ANSWER_BOUND_MS);

    // Afterwards, by itself: every fan paid once, the payers on seats whose holds expired in the outage.
    expect(paid.size).toBe(fans.length);
    // Each payer's expired seat went to the next payer.
    const buyers = await db.query(
      `SELECT s.number AS seat, r.user_id AS "userId" FROM seats s JOIN reservations r ON r.id = s.reservation_id
       WHERE s.schedule_id = $1 AND s.number <= $2 AND s.status = 'SOLD' ORDER BY s.number`,
      [scheduleId, payers.length],
    );
    expect(buyers).toEqual(payers.map((_, i) => ({ seat: i + 1, userId: payers[(i + payers.length - 1) % payers.length].fan.userId })));
    for (const { fan } of fans) expect((await client.call('GET', '/wallet', { fan })).body.balance).toBe(0);
    // The paused queue kept its order through the outage; resumed, its controller admits it.
    expect(await places()).toEqual(placesBefore);
    expect((await setPaused(false)).status).toBe(200);
    await eventually(async () => {
      for (const w of waiting) expect((await client.tokenStatus(w.fan, w.queueToken)).body.status).toBe('ACTIVE');
    });
    // Every hold ended paid or released (the expired ones by their timers, after the outage), and
    // every journey of the concert closed.
    await eventually(
      async () => {
        expect(await db.query(`SELECT id FROM reservations WHERE concert_id = $1 AND status = 'HELD'`, [concertId])).toEqual([]);
        const running: string[] = [];
        const query = `ConcertId = '${concertId}' AND WorkflowType = 'fanJourney' AND ExecutionStatus = 'Running'`;
        for await (const w of temporal.client.workflow.list({ query })) running.push(w.workflowId);
        expect(running).toEqual([]);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(await journeysThatDoNotReplay(temporal.client, concertId, fans.length)).toEqual([]);
    const [sold] = await db.query(`SELECT count(*)::int AS n FROM seats WHERE schedule_id = $1 AND status = 'SOLD'`, [scheduleId]);
    expect(sold.n).toBe(fans.length);
    expect(await findViolations(db)).toEqual([]);
    expect([worker.proc.exitCode, api.proc.exitCode]).toEqual([null, null]); // the same processes throughout

    const unavailable = during.filter((s) => s.status === 503).length;
    console.log(
      `${name} outage: ${((restartedAt - stoppedAt) / 1000).toFixed(1)} s, ${during.length} requests answered inside it, ` +
        `${unavailable} of them 503 DEPENDENCY_UNAVAILABLE, none 500; slowest answer ${slowest} ms; ready ${readyAfterMs} ms after the restart`,
    );
  }, 180_000);
});
