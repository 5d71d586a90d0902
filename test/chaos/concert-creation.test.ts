import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../db/data-source';
import { loadConfig } from '../../lib/config';
import { ApiClient } from '../support/api-client';
import { eventually } from '../support/eventually';
import { startApi, startWorker, type ServiceProcess } from '../support/processes';
import { PrivateTemporal } from '../support/private-services';

/**
 * Issue 23: an operator creates a concert while the Temporal server is down. The answer is a 503
 * (its admission controller could not be started), yet the concert admits its first fan once
 * Temporal is back, with no operator action: the join starts the controller. The operator's retry
 * with the same Idempotency-Key answers that same concert: never a duplicate, never a concert nobody
 * is admitted to. The Temporal server is this file's own (test/support/private-services.ts).
 */
let temporal: PrivateTemporal;
let worker: ServiceProcess;
let api: ServiceProcess;
let client: ApiClient;
let db: DataSource;

beforeAll(async () => {
  temporal = await PrivateTemporal.create();
  const env = {
    DATABASE_URL: process.env.DATABASE_URL!,
    REDIS_URL: process.env.REDIS_URL!,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: `concert-creation-${randomUUID()}`,
    ADMISSION_TICK_MS: '100',
    QUEUE_ADMIT_PER_SECOND: '200',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
  };
  let url: string;
  [worker, { api, url }] = await Promise.all([startWorker(env), startApi(env)]);
  // Every request ends, one way or another: a hang fails the test instead of stalling it.
  const requester = { request: (path: string, init?: RequestInit) => fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(40_000) }) };
  client = new ApiClient(requester, loadConfig({ ...process.env, ...env }));
  db = createDataSource(process.env.DATABASE_URL!, { poolSize: 2 });
  await db.initialize();
}, 120_000);

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()]);
  await db?.destroy();
  await temporal?.destroy();
});

it('a concert created during a Temporal outage admits its first fan once Temporal is back, and the retried creation answers the same concert', async () => {
  const title = `Created in an outage ${randomUUID()}`;
  const body = { title, schedules: [{ startsAt: new Date(Date.now() + 7 * 24 * 3600_000).toISOString(), seatCount: 3, price: 10_000 }] };
  const key = { 'idempotency-key': randomUUID() };
  const create = () => client.call('POST', '/admin/concerts', { admin: true, body, headers: key });
  const concertsTitled = async () => (await db.query('SELECT id FROM concerts WHERE title = $1', [title])) as Array<{ id: string }>;

  await temporal.stop();
  const during = await create();
  expect(during).toMatchObject({ status: 503, body: { code: 'DEPENDENCY_UNAVAILABLE' } });
  const [concert] = await concertsTitled();
  expect(concert).toBeDefined(); // the catalog has it: fans can find it and join
  await temporal.start();

  // Nobody retries the creation: the first fan's join starts the concert's admission.
  const { fan, queueToken } = await client.admittedFan(concert.id, 'first');
  expect((await client.tokenStatus(fan, queueToken)).body).toMatchObject({ status: 'ACTIVE', concertId: concert.id });

  // The operator's retry, then a second one: the same concert, created once.
  const retried = await create();
  expect(retried.status).toBe(201);
  expect(retried.body.concertId).toBe(concert.id);
  expect(retried.body.schedules).toHaveLength(1);
  const again = await create();
  expect(again).toMatchObject({ status: 201, body: retried.body });
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(await concertsTitled()).toEqual([{ id: concert.id }]);
  // The queue is the operator's to steer, as for any concert.
  await eventually(async () => expect((await client.call('GET', `/admin/concerts/${concert.id}/queue`, { admin: true })).status).toBe(200));
}, 180_000);
