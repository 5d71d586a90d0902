import { randomInt } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../../api/app';
import { createMetrics } from '../../api/metrics';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { createRedis, redisReady, type RedisClient } from '../../lib/redis';
import type { Fan } from '../support/api-client';
import { startStack, type Stack } from '../support/stack';
import { WaitingRoom } from '../../queue/waiting-room';
import { createOpenConcert, stores } from './fixtures';

/**
 * The abuse limits on joining and status polling, against API instances listening on real sockets
 * (the client address comes from the socket), each with its own Redis client on the one test Redis.
 * Requests leave from addresses of their own in 127.0.0.0/8, so no two tests (nor other suites'
 * traffic from 127.0.0.1) share an address's count.
 */

const LIMITS = { RATE_LIMIT_PER_USER: '5', RATE_LIMIT_PER_IP: '8', RATE_LIMIT_WINDOW_SECONDS: '30' };

let stack: Stack;
let concertId: string;
const servers: ServerType[] = [];
const clients: RedisClient[] = [];

beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  ({ concertId } = await createOpenConcert(stores(stack.db), 5, 1_000));
});
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await Promise.all(clients.map((redis) => redis.quit()));
  await stack?.stop();
});

/** One more API instance on a free port, sharing the stack's Postgres and the test Redis. */
async function apiInstance(settings: Record<string, string>): Promise<string> {
  const config = loadConfig({ ...process.env, ...settings });
  const redis = createRedis(config.REDIS_URL, config.REDIS_CLUSTER_NODES);
  clients.push(redis);
  await redisReady(redis);
  const app = createApp({ config, db: stack.db, redis, temporal: stack.temporal, logger: createLogger('silent', 'test'), metrics: createMetrics() });
  const port = await new Promise<number>((resolve) => {
    servers.push(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port)));
  });
  return `http://127.0.0.1:${port}`;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** A request over a real socket from a chosen local address (Node's fetch cannot pick one). */
function send(base: string, method: string, path: string, opts: { fan?: Fan; from: string; headers?: Record<string, string> }): Promise<Reply> {
  const url = new URL(path, base);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.fan) headers.authorization = `Bearer ${opts.fan.accessToken}`;
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method, headers, localAddress: opts.from }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A loopback address no other test uses. */
const freshAddress = () => `127.${randomInt(2, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

const join = (base: string, fan: Fan, from: string, headers?: Record<string, string>) => send(base, 'POST', `/concerts/${concertId}/queue-tokens`, { fan, from, headers });

let a: string;
let b: string;
beforeAll(async () => {
  [a, b] = [await apiInstance(LIMITS), await apiInstance(LIMITS)];
});

function expectRateLimited(reply: Reply): void {
  expect(reply.status).toBe(429);
  expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(reply.body).toMatchObject({ status: 429, code: 'RATE_LIMITED', type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  const retryAfter = Number(reply.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(30);
}

describe('rate limits on joining and status polling', () => {
  it('count a user across API instances sharing one Redis, and refuse the excess with 429 problem+json and Retry-After', async () => {
    const fan = await stack.api.newFan('flooder');
    const from = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await join(i % 2 ? b : a, fan, from)).status);
    expect(statuses).toEqual([201, 200, 200, 200, 200]);
    expectRateLimited(await join(a, fan, from));
    expectRateLimited(await join(b, fan, from));
  });

  it('limit status polling per user, on its own count: a user over the join limit still polls', async () => {
    const fan = await stack.api.newFan('poller');
    const from = freshAddress();
    const token = (await join(a, fan, from)).body.token as string;
    for (let i = 0; i < 5; i++) await join(b, fan, from);
    expectRateLimited(await join(a, fan, from));

    const poll = (base: string) => send(base, 'GET', '/queue-tokens/current', { fan, from, headers: { 'x-queue-token': token } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await poll(i % 2 ? a : b)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expectRateLimited(await poll(a));
    // Leaving is not polling: a throttled fan can still give up its place.
    expect((await send(b, 'DELETE', '/queue-tokens/current', { fan, from, headers: { 'x-queue-token': token } })).status).toBe(200);
  });

  it('leave a user under the limit unaffected by another user flooding', async () => {
    const [flooder, bystander] = [await stack.api.newFan('flooder'), await stack.api.newFan('bystander')];
    const [floodFrom, bystanderFrom] = [freshAddress(), freshAddress()];
    const flood = await Promise.all(Array.from({ length: 30 }, (_, i) => join(i % 2 ? a : b, flooder, floodFrom)));
    expect(flood.filter((r) => r.status === 429)).toHaveLength(25);
    expect((await join(a, bystander, bystanderFrom)).status).toBe(201);
    expect((await join(b, bystander, bystanderFrom)).status).toBe(200);
  });

  it('limit an address across its users, each under their own limit; other addresses are unaffected', async () => {
    const fans = await Promise.all(Array.from({ length: 4 }, (_, i) => stack.api.newFan(`behind-one-address-${i}`)));
    const from = freshAddress();
    const statuses: number[] = [];
    for (const fan of fans) for (let i = 0; i < 3; i++) statuses.push((await join(i % 2 ? a : b, fan, from)).status);
    // 12 joins from one address, at most 3 per user: the address's 9th and later are refused.
    expect(statuses.filter((s) => s !== 429)).toHaveLength(8);
    expect(statuses.slice(8)).toEqual([429, 429, 429, 429]);
    const elsewhere = await stack.api.newFan('elsewhere');
    expect((await join(a, elsewhere, freshAddress())).status).toBe(201);
  });

  it('ignore X-Forwarded-For unless a proxy is declared: a client cannot pose as many addresses', async () => {
    const fans = await Promise.all(Array.from({ length: 3 }, (_, i) => stack.api.newFan(`spoofer-${i}`)));
    const from = freshAddress();
    const statuses: number[] = [];
    let n = 0;
    for (const fan of fans) {
      for (let i = 0; i < 4; i++) statuses.push((await join(a, fan, from, { 'x-forwarded-for': `203.0.113.${++n}` })).status);
    }
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
  });

  it('behind a declared proxy, count the address the proxy saw, not what the client wrote before it', async () => {
    const behindProxy = await apiInstance({ ...LIMITS, TRUSTED_PROXY_HOPS: '1' });
    const proxy = freshAddress();
    const client = `198.51.100.${randomInt(1, 255)}`;
    const fans = await Promise.all(Array.from({ length: 3 }, (_, i) => stack.api.newFan(`proxied-${i}`)));
    const statuses: number[] = [];
    let n = 0;
    for (const fan of fans) {
      for (let i = 0; i < 4; i++) {
        // The client forges a new leftmost entry each time; the proxy appends the address it saw.
        statuses.push((await join(behindProxy, fan, proxy, { 'x-forwarded-for': `10.9.8.${++n}, ${client}` })).status);
      }
    }
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    // Another client behind the same proxy has a count of its own.
    const neighbour = await stack.api.newFan('neighbour');
    expect((await join(behindProxy, neighbour, proxy, { 'x-forwarded-for': `192.0.2.${randomInt(1, 255)}` })).status).not.toBe(429);
  });

  it('let a refused client through again once it has waited the Retry-After it was given', async () => {
    const short = await apiInstance({ ...LIMITS, RATE_LIMIT_WINDOW_SECONDS: '1' });
    const fan = await stack.api.newFan('patient');
    const from = freshAddress();
    let refused: Reply | undefined;
    for (let i = 0; i < 50 && !refused; i++) {
      const reply = await join(short, fan, from);
      if (reply.status === 429) refused = reply;
    }
    expectRateLimited(refused!);
    await new Promise((resolve) => setTimeout(resolve, Number(refused!.headers['retry-after']) * 1000));
    expect((await join(short, fan, from)).status).toBe(200);
  });
});

describe('a closed queue', () => {
  it('answers a join 409 problem+json CONCERT_CANCELLED, and a waiting fan’s poll reads CANCELLED', async () => {
    const { concertId: closing } = await createOpenConcert(stores(stack.db), 5, 1_000);
    const [waiter, late] = [await stack.api.newFan('waiter'), await stack.api.newFan('late')];
    const from = freshAddress();
    const joined = await send(a, 'POST', `/concerts/${closing}/queue-tokens`, { fan: waiter, from });
    expect(joined.status).toBe(201);
    await new WaitingRoom(clients[0]).close(closing, 'CANCELLED');

    const refused = await send(b, 'POST', `/concerts/${closing}/queue-tokens`, { fan: late, from });
    expect(refused.status).toBe(409);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ status: 409, code: 'CONCERT_CANCELLED' });
    const polled = await send(a, 'GET', '/queue-tokens/current', { fan: waiter, from, headers: { 'x-queue-token': joined.body.token } });
    expect(polled.status).toBe(200);
    expect(polled.body).toMatchObject({ status: 'CANCELLED', position: 0 });
  });
});

describe('bodiless requests on the wire', () => {
  /** One raw HTTP/1.1 exchange: the request exactly as written, the status line back. */
  const raw = (base: string, text: string) =>
    new Promise<string>((resolve, reject) => {
      const url = new URL(base);
      const socket = connect({ host: url.hostname, port: Number(url.port), localAddress: freshAddress() }, () => socket.write(text));
      let reply = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => (reply += chunk));
      socket.on('end', () => resolve(reply));
      socket.on('error', reject);
    });

  it('joins on a POST with neither Content-Length nor Transfer-Encoding (no body, RFC 9112 §6.3), and refuses an announced oversized body with 413 unread', async () => {
    const fan = await stack.api.newFan('bare-post');
    const head = `Host: x\r\nAuthorization: Bearer ${fan.accessToken}\r\nConnection: close\r\n`;
    expect(await raw(a, `POST /concerts/${concertId}/queue-tokens HTTP/1.1\r\n${head}\r\n`)).toMatch(/^HTTP\/1\.1 201 /);
    const oversized = await raw(a, `POST /users HTTP/1.1\r\n${head}Content-Type: application/json\r\nContent-Length: ${70 * 1024}\r\n\r\n{"name":`);
    expect(oversized).toMatch(/^HTTP\/1\.1 413 /);
    expect(oversized).toMatch(/application\/problem\+json/);
  });
});
