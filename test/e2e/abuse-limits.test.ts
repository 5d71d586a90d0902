import { spawn } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { ROOT } from '../support/paths';
import { eventually } from '../support/eventually';
import { serviceEnv, startApi, type ServiceProcess } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import type { Fan } from '../support/api-client';

/**
 * Issue 23's abuse limits, on the API as two processes sharing one port (API_PROCESSES=2), each
 * request on a connection of its own so both processes serve: every costly action is limited per
 * user and per client address, counted in Redis, so the limit holds exactly whichever process
 * answers (counted per process, twice the limit would get through). Each refusal is 429
 * RATE_LIMITED with a Retry-After. The client address comes from X-Forwarded-For (one trusted
 * proxy), so every test counts against an address of its own.
 */
const PER_USER = 3;
const PER_ADDRESS = 5;
const SIGNUPS_PER_ADDRESS = 4;
const WINDOW_SECONDS = 600;

let stack: Stack;
let api: ServiceProcess | undefined;
let url: string;

beforeAll(async () => {
  // The in-process stack runs the worker (and sets fans up); the limits are the API processes'.
  stack = await startStack();
  const started = await startApi(serviceEnv(stack.config, {
    API_PROCESSES: '2',
    LOG_LEVEL: 'info',
    TRUSTED_PROXY_HOPS: '1',
    ACTION_LIMIT_PER_USER: String(PER_USER),
    ACTION_LIMIT_PER_IP: String(PER_ADDRESS),
    ACTION_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS),
    USER_SIGNUPS_PER_IP: String(SIGNUPS_PER_ADDRESS),
    USER_SIGNUP_WINDOW_SECONDS: String(WINDOW_SECONDS),
  }));
  api = started.api;
  url = started.url;
  const running = api;
  await eventually(async () => expect(pidsOf(running.log, 'Ovation API listening').size).toBe(2), { timeoutMs: 60_000, intervalMs: 100 });
}, 120_000);
afterAll(async () => {
  await api?.stop('SIGKILL');
  await stack?.stop();
});

const pidsOf = (log: string, msg: string, route?: string) =>
  new Set(
    log
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; pid?: number; route?: string })
      .filter((line) => line.msg === msg && (route === undefined || line.route === route))
      .map((line) => line.pid),
  );

/** A fresh client address for one test (10.x.y.z), as the trusted proxy reports it. */
const newAddress = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

interface Answer {
  status: number;
  body: any;
  retryAfter?: string;
  contentType?: string;
}

/** One request on a connection of its own (the cluster hands connections, not requests, to processes). */
function send(method: string, path: string, opts: { address: string; fan?: Fan; queueToken?: string; body?: unknown }): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { connection: 'close', 'x-forwarded-for': opts.address };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (opts.fan) headers.authorization = `Bearer ${opts.fan.accessToken}`;
  if (opts.queueToken) headers['x-queue-token'] = opts.queueToken;
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          body: text ? JSON.parse(text) : undefined,
          retryAfter: res.headers['retry-after'] as string | undefined,
          contentType: res.headers['content-type'],
        }),
      );
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function repeat(times: number, call: (i: number) => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < times; i++) answers.push(await call(i));
  return answers;
}

function expectRateLimited(answer: Answer): void {
  expect(answer).toMatchObject({ status: 429, contentType: 'application/problem+json', body: { code: 'RATE_LIMITED', status: 429 } });
  const seconds = Number(answer.retryAfter);
  expect(Number.isInteger(seconds) && seconds >= 1 && seconds <= WINDOW_SECONDS).toBe(true);
}

it('POST /users: at most the per-address number of accounts per window, whichever process answers', async () => {
  const address = newAddress();
  const answers = await repeat(SIGNUPS_PER_ADDRESS + 2, (i) => send('POST', '/users', { address, body: { name: `sybil ${i}` } }));
  expect(answers.map((a) => a.status)).toEqual([...Array(SIGNUPS_PER_ADDRESS).fill(201), 429, 429]);
  answers.slice(SIGNUPS_PER_ADDRESS).forEach(expectRateLimited);
  // Another address is not affected; both processes took part.
  expect((await send('POST', '/users', { address: newAddress(), body: { name: 'honest' } })).status).toBe(201);
  expect(pidsOf(api!.log, 'request', '/users').size).toBe(2);
});

it.each([
  ['POST /wallet/charges', 201, (fan: Fan, address: string) => send('POST', '/wallet/charges', { address, fan, body: { amount: 1_000 } })],
  ['DELETE /reservations/{id}', 404, (fan: Fan, address: string) => send('DELETE', `/reservations/${randomUUID()}`, { address, fan })],
  ['POST /tickets/{id}/cancellation', 404, (fan: Fan, address: string) => send('POST', `/tickets/${randomUUID()}/cancellation`, { address, fan })],
])('%s: at most the per-user number per window, counted across both processes', async (_route, answered, call) => {
  const fan = await stack.api.newFan();
  const address = newAddress();
  const answers = await repeat(PER_USER + 2, () => call(fan, address));
  expect(answers.map((a) => a.status)).toEqual([...Array(PER_USER).fill(answered), 429, 429]);
  answers.slice(PER_USER).forEach(expectRateLimited);
  // Another user from another address still gets through.
  expect((await call(await stack.api.newFan(), newAddress())).status).toBe(answered);
});

it('POST /wallet/charges from one address: at most the per-address number, however many users share it', async () => {
  const address = newAddress();
  const fans = [await stack.api.newFan(), await stack.api.newFan(), await stack.api.newFan()];
  const answers = await repeat(PER_ADDRESS + 1, (i) => send('POST', '/wallet/charges', { address, fan: fans[i % 3], body: { amount: 1_000 } }));
  expect(answers.map((a) => a.status)).toEqual([...Array(PER_ADDRESS).fill(201), 429]);
  expectRateLimited(answers[PER_ADDRESS]);
});

it('a hold/cancel loop stops at the limit (429) that holds and cancellations share, and the journey keeps working: the fan pays a hold it kept', async () => {
  const { concertId, scheduleIds } = await stack.api.createConcert(5, 10_000);
  const { fan, queueToken } = await stack.api.admittedFan(concertId);
  await stack.api.charge(fan, 10_000);
  const address = newAddress();
  const hold = (seatNumber: number) => send('POST', '/reservations', { address, fan, queueToken, body: { scheduleId: scheduleIds[0], seatNumber } });
  const cancel = (reservationId: string) => send('DELETE', `/reservations/${reservationId}`, { address, fan });

  // Hold/cancel pairs spend two of the PER_USER (odd) actions each; the last one keeps a hold.
  for (let i = 0; i < (PER_USER - 1) / 2; i++) {
    const held = await hold(1);
    expect(held.status).toBe(201);
    expect((await cancel(held.body.reservationId)).status).toBe(200);
  }
  const kept = await hold(2);
  expect(kept.status).toBe(201);
  expectRateLimited(await hold(1));
  expectRateLimited(await cancel(kept.body.reservationId));
  // Payments have a budget of their own: the fan pays the hold it kept.
  const paid = await send('POST', '/payments', { address, fan, queueToken, body: { reservationId: kept.body.reservationId } });
  expect(paid).toMatchObject({ status: 201, body: { reservationId: kept.body.reservationId, status: 'COMPLETED' } });
  expect(pidsOf(api!.log, 'request', '/reservations').size).toBe(2);
});

it('every hold counts, whatever its answer (the seat gate’s script takes the count): a bad request, a seat that does not exist and a contested seat’s loser spend the budget, then each is 429', async () => {
  const { concertId, scheduleIds } = await stack.api.createConcert(5, 10_000);
  const winner = await stack.api.admittedFan(concertId, 'Winner');
  const { fan, queueToken } = await stack.api.admittedFan(concertId);
  const address = newAddress();
  const hold = (body: unknown) => send('POST', '/reservations', { address, fan, queueToken, body });
  const taken = await send('POST', '/reservations', { address: newAddress(), fan: winner.fan, queueToken: winner.queueToken, body: { scheduleId: scheduleIds[0], seatNumber: 1 } });
  expect(taken.status).toBe(201);

  // PER_USER (3) answers that are not holds, each counted.
  expect(await hold({ scheduleId: scheduleIds[0], seatNumber: 'one' })).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
  expect(await hold({ scheduleId: scheduleIds[0], seatNumber: 6 })).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
  expect(await hold({ scheduleId: scheduleIds[0], seatNumber: 1 })).toMatchObject({ status: 409, body: { code: 'SEAT_UNAVAILABLE' } });
  // The budget is spent: a free seat, the taken one and a bad request are each refused the same way.
  for (const body of [{ scheduleId: scheduleIds[0], seatNumber: 2 }, { scheduleId: scheduleIds[0], seatNumber: 1 }, { seatNumber: 2 }]) {
    expectRateLimited(await hold(body));
  }
  // The refused holds took nothing: the free seat is still free for the winner.
  expect((await send('POST', '/reservations', { address: newAddress(), fan: winner.fan, queueToken: winner.queueToken, body: { scheduleId: scheduleIds[0], seatNumber: 2 } })).status).toBe(201);
});

it('POST /payments: at most the per-user number per window', async () => {
  const { concertId } = await stack.api.createConcert(2, 10_000);
  const { fan, queueToken } = await stack.api.admittedFan(concertId);
  const address = newAddress();
  const answers = await repeat(PER_USER + 1, () => send('POST', '/payments', { address, fan, queueToken, body: { reservationId: randomUUID() } }));
  expect(answers.map((a) => a.status)).toEqual([...Array(PER_USER).fill(404), 429]);
  expectRateLimited(answers[PER_USER]);
});

describe('secure by default: a process started without development mode and without secrets refuses to start', () => {
  it.each([
    ['the API', 'api/server.ts'],
    ['the worker', 'worker/main.ts'],
  ])('%s exits 1 naming the missing secrets', async (_what, entry) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !['NODE_ENV', 'AUTH_SECRET', 'ADMIN_API_KEY'].includes(key)));
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...env, PORT: '0', API_PROCESSES: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, names: /AUTH_SECRET/.test(output) && /ADMIN_API_KEY/.test(output) }).toEqual({ code: 1, names: true });
  }, 60_000);
});
