import { request } from 'node:http';
import { eventually } from '../support/eventually';
import { serviceEnv, startApi, type ServiceProcess } from '../support/processes';
import { startStack, type Stack } from '../support/stack';

/**
 * The API as two processes sharing one port (API_PROCESSES=2, node cluster), started the way
 * production starts it: both serve, /metrics adds up every process's counts, and SIGTERM stops them
 * all cleanly.
 */
let stack: Stack;
let api: ServiceProcess | undefined;

beforeAll(async () => {
  stack = await startStack({}, { worker: false });
}, 120_000);
afterAll(async () => {
  await api?.stop('SIGKILL');
  await stack?.stop();
});

/** A GET on a connection of its own (the cluster hands connections, not requests, to processes). */
const get = (url: string, path: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${url}${path}`, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });

const pidsOf = (log: string, msg: string) =>
  new Set(
    log
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; pid?: number })
      .filter((line) => line.msg === msg)
      .map((line) => line.pid),
  );

it('serves from two processes on one port, sums their metrics, and stops them all on SIGTERM', async () => {
  const started = await startApi(serviceEnv(stack.config, { API_PROCESSES: '2', LOG_LEVEL: 'info' }));
  api = started.api;
  const running = api;
  await eventually(async () => expect(pidsOf(running.log, 'Ovation API listening').size).toBe(2), { timeoutMs: 60_000, intervalMs: 100 });
  const answers = [];
  for (let i = 0; i < 40; i++) answers.push(await get(started.url, '/healthz'));
  expect(answers.every((a) => a.status === 200)).toBe(true);

  // Each process logs its own requests with its pid: both served.
  const servers = pidsOf(api.log, 'request');
  expect(servers.size).toBe(2);
  expect(servers.has(api.proc.pid)).toBe(false); // the primary serves nothing

  // Every process's count is in the sum, whichever process answers /metrics.
  for (let i = 0; i < 2; i++) {
    const metrics = await get(started.url, '/metrics');
    expect({ status: metrics.status, log: metrics.status === 200 ? '' : running.log.slice(-3000) }).toEqual({ status: 200, log: '' });
    const healthz = metrics.body.split('\n').find((line) => line.startsWith('ovation_http_requests_total{') && line.includes('route="/healthz"') && line.includes('status="200"'));
    expect(Number(healthz?.split(' ').pop())).toBe(40);
  }

  expect(await api.stop('SIGTERM')).toBe(0);
  expect(pidsOf(api.log, 'API process stopped')).toEqual(servers);
  for (const pid of servers) expect(() => process.kill(pid!, 0)).toThrow();
}, 120_000);
