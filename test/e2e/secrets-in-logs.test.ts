import { sign } from 'hono/jwt';
import { ApiClient, type Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { overHttp, serviceEnv, startApi, type ServiceProcess } from '../support/processes';
import { QUICK_ADMISSION, startStack, type Stack } from '../support/stack';

/**
 * The API as it runs in production (its own process, its own pino logger at the most verbose level)
 * through a whole journey and a round of refused requests: not one credential reaches its log.
 */

const AUTH_SECRET = 'log-test-auth-secret-4c1f9e27b8';
const ADMIN_API_KEY = 'log-test-admin-key-93d0a6e5f1';

let stack: Stack;
let apiProcess: ServiceProcess | undefined;
let api: ApiClient;
let log = '';

beforeAll(async () => {
  stack = await startStack({ AUTH_SECRET, ADMIN_API_KEY });
  // The stack's signing secret and admin key are these: serviceEnv passes them on.
  const started = await startApi(serviceEnv(stack.config, { ...QUICK_ADMISSION, LOG_LEVEL: 'trace' }));
  apiProcess = started.api;
  // Everything it printed so far, then every later chunk (the process keeps only a tail itself).
  log = apiProcess.log;
  apiProcess.proc.stdout!.on('data', (chunk) => (log += chunk));
  apiProcess.proc.stderr!.on('data', (chunk) => (log += chunk));
  api = new ApiClient(overHttp(started.url), stack.config);
}, 120_000);

afterAll(async () => {
  await apiProcess?.stop();
  await stack?.stop();
});

describe('the API log', () => {
  it('holds no access token, admin key, queue token, Authorization value or signing secret after a journey and refused requests', async () => {
    const credentials: string[] = [AUTH_SECRET, ADMIN_API_KEY, stack.config.DATABASE_URL];
    const { concertId, scheduleIds } = await api.createConcert(5, 1_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'logged fan');
    const stranger = await api.newFan('stranger');
    const strangersToken = await api.join(stranger, concertId);
    credentials.push(fan.accessToken, stranger.accessToken, queueToken, strangersToken);

    // A journey: browse, hold, charge, pay, read it all back.
    expect((await api.call('GET', `/concerts/${concertId}/schedules`, { fan, queueToken })).status).toBe(200);
    expect((await api.call('GET', `/schedules/${scheduleIds[0]}/seats`, { fan, queueToken })).status).toBe(200);
    const hold = await api.hold(fan, queueToken, scheduleIds[0], 2, { 'idempotency-key': 'hold-once' });
    expect(hold.status).toBe(201);
    await api.charge(fan, 5_000);
    expect((await api.pay(fan, queueToken, hold.body.reservationId)).status).toBe(201);
    expect((await api.call('GET', '/reservations', { fan })).status).toBe(200);
    expect((await api.tokenStatus(fan, queueToken)).body.status).toBe('COMPLETED');

    // Refusals, whose answers and log lines are where a credential would most likely slip out.
    const expired = await sign({ sub: fan.userId, exp: Math.floor(Date.now() / 1000) - 60 }, AUTH_SECRET, 'HS256');
    const forged = await sign({ sub: fan.userId, exp: Math.floor(Date.now() / 1000) + 60 }, 'a-forger-secret-of-some-length', 'HS256');
    credentials.push(expired, forged);
    const bearing = (accessToken: string): Fan => ({ userId: fan.userId, accessToken });
    const refusals = await Promise.all([
      api.call('GET', '/wallet', { fan: bearing(expired) }),
      api.call('GET', '/wallet', { fan: bearing(forged) }),
      api.call('GET', '/queue-tokens/current', { fan: stranger, queueToken }),
      api.call('GET', `/admin/concerts/${concertId}/queue`, { headers: { 'x-admin-key': `${ADMIN_API_KEY}-wrong` } }),
      api.call('POST', '/wallet/charges', { fan, body: { amount: 'a lot' }, headers: { 'idempotency-key': 'charge-once' } }),
      api.call('POST', '/payments', { fan, queueToken, body: { reservationId: hold.body.reservationId } }),
      api.call('GET', '/no/such/route', { fan, queueToken }),
    ]);
    expect(refusals.map((r) => r.status)).toEqual([401, 401, 403, 401, 400, 403, 404]);

    // Every request above was logged (one line per request, with its id), and then flushed.
    await eventually(async () => expect(log.match(/"msg":"request"/g)?.length ?? 0).toBeGreaterThanOrEqual(15));
    await apiProcess!.stop();

    const leaks = credentials.flatMap((credential) => {
      // A JWT's signature alone is the credential's secret part; a queue token's secret is after the dot.
      const parts = [credential, credential.split('.').at(-1)!].filter((p) => p.length >= 16);
      return parts.filter((part) => log.includes(part)).map((part) => `${part.slice(0, 12)}…`);
    });
    expect(leaks).toEqual([]);
    expect(log).not.toMatch(/authorization":\s*"Bearer/i);
  });
});
