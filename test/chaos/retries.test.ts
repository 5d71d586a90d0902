import { randomUUID } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { findViolations } from '../../db/invariants';
import { type Answer, type Fan, readAnswer } from '../support/api-client';
import { serviceEnv, startApi } from '../support/processes';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

/**
 * Every retry is safe (issue 20): a fault is injected where the outcome is lost (the reply between
 * client and API, between API and PostgreSQL, the request's Temporal deadline), the client retries
 * with the same Idempotency-Key, and the retry converges on the one thing that happened: one credit,
 * one hold, one debit, never two; the books balance after every test (db/invariants.ts).
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterEach(async () => {
  expect(await findViolations(stack.db)).toEqual([]);
});
afterAll(async () => {
  await stack?.stop();
});

const key = () => `retry-${randomUUID()}`;
const ledger = (userId: string) =>
  stack.db.query(`SELECT type, amount::int AS amount FROM wallet_transactions WHERE user_id = $1 ORDER BY id`, [userId]);
const liveHolds = async (userId: string) =>
  (await stack.db.query(`SELECT id FROM reservations WHERE user_id = $1 AND status IN ('HELD', 'CONFIRMED')`, [userId])).map((r: { id: string }) => r.id);
const summary = (a: Answer) => `${a.status} ${a.status >= 400 ? a.body.code : ''}`.trim();

/** The retry answered the one payment of the hold (201, its receipt), and the fan's wallet was charged once and debited once. */
async function expectOnePayment(retry: Answer, fan: Fan, reservationId: string, { charged, price }: { charged: number; price: number }) {
  expect(retry.status).toBe(201);
  expect(retry.body).toMatchObject({ reservationId, amount: price, balance: charged - price, status: 'COMPLETED' });
  expect(await ledger(fan.userId)).toEqual([
    { type: 'CHARGE', amount: charged },
    { type: 'PAYMENT', amount: price },
  ]);
}

/** A TCP proxy in front of `port`; while `cutReplies` is on, the first reply bytes close the client's socket instead. */
async function replyCutter(port: number) {
  let cutReplies = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('data', (chunk) => upstream.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('data', (chunk) => {
      if (cutReplies) {
        client.destroy();
        upstream.destroy();
      } else client.write(chunk);
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut(on: boolean) {
      cutReplies = on;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The API on a real socket (an ephemeral port), as a fan's phone reaches it. */
async function listening(): Promise<{ port: number; server: ServerType }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: stack.api.app.request.bind(stack.api.app) as never, port: 0, hostname: '127.0.0.1' }, (info) => resolve({ port: info.port, server }));
  });
}

async function overSocket(port: number, method: string, path: string, fan: Fan, body: unknown, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${fan.accessToken}`, ...headers },
    body: JSON.stringify(body),
  });
  return readAnswer(res);
}

describe('wallet charges', () => {
  it('20 concurrent requests with one key: one credit, one ledger row, 20 identical answers', async () => {
    const fan = await stack.api.newFan();
    const headers = { 'idempotency-key': key() };
    const answers = await Promise.all(Array.from({ length: 20 }, () => stack.api.call('POST', '/wallet/charges', { fan, body: { amount: 5_000 }, headers })));
    expect(answers.map((a) => [a.status, a.body])).toEqual(answers.map(() => [201, answers[0].body]));
    expect(await ledger(fan.userId)).toEqual([{ type: 'CHARGE', amount: 5_000 }]);
  });

  it('the answer lost between client and API after the commit: the retry answers the first charge and credits nothing', async () => {
    const fan = await stack.api.newFan();
    const api = await listening();
    const proxy = await replyCutter(api.port);
    try {
      const headers = { 'idempotency-key': key() };
      proxy.cut(true);
      await expect(overSocket(proxy.port, 'POST', '/wallet/charges', fan, { amount: 7_000 }, headers)).rejects.toThrow();
      proxy.cut(false);
      const retry = await overSocket(proxy.port, 'POST', '/wallet/charges', fan, { amount: 7_000 }, headers);
      expect(retry.status).toBe(201);
      expect(retry.body).toMatchObject({ amount: 7_000, balance: 7_000 });
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(await ledger(fan.userId)).toEqual([{ type: 'CHARGE', amount: 7_000 }]);
    } finally {
      await proxy.close();
      api.server.close();
    }
  });

  it('the reply lost between the API and PostgreSQL after the commit: 503 with Retry-After, then the retry converges on one credit', async () => {
    const pg = new URL(stack.config.DATABASE_URL);
    const proxy = await pgReplyDropper(Number(pg.port || 5432));
    const viaProxy = await startStack({ DATABASE_URL: Object.assign(new URL(pg), { port: String(proxy.port) }).toString() }, { worker: false });
    try {
      const fan = await viaProxy.api.newFan();
      const headers = { 'idempotency-key': key() };
      proxy.dropReplyTo('CHARGE');
      const lost = await viaProxy.api.call('POST', '/wallet/charges', { fan, body: { amount: 9_000 }, headers });
      expect(summary(lost)).toBe('503 DEPENDENCY_UNAVAILABLE');
      expect(lost.headers.get('retry-after')).toBe('1');
      expect(await ledger(fan.userId)).toEqual([{ type: 'CHARGE', amount: 9_000 }]); // it did commit
      const retry = await viaProxy.api.call('POST', '/wallet/charges', { fan, body: { amount: 9_000 }, headers });
      expect(retry.status).toBe(201);
      expect(retry.body).toMatchObject({ amount: 9_000, balance: 9_000 });
      expect(await ledger(fan.userId)).toEqual([{ type: 'CHARGE', amount: 9_000 }]);
      expect((await viaProxy.api.call('GET', '/wallet', { fan })).body.balance).toBe(9_000);
    } finally {
      await viaProxy.stop();
      await proxy.close();
    }
  });
});

/**
 * A proxy on the PostgreSQL connection. Armed with a marker, it lets the next statement that contains
 * it through and, once the server has answered it (ReadyForQuery: the implicit transaction committed),
 * drops that answer and closes the connection: the API sent a write and never learns its outcome.
 */
async function pgReplyDropper(port: number) {
  let marker: string | undefined;
  let onReply: () => Promise<unknown> = async () => undefined;
  const readyForQuery = Buffer.from([0x5a, 0, 0, 0, 5]);
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let dropping = false;
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('data', (chunk) => {
      if (marker && chunk.includes(marker)) {
        marker = undefined;
        dropping = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!dropping) return void client.write(chunk);
      if (chunk.includes(readyForQuery)) {
        dropping = false;
        void onReply().finally(() => {
          client.destroy();
          upstream.destroy();
        });
      }
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    /** Drops the reply to the next statement containing `text`, after `then` (e.g. killing the API) has run. */
    dropReplyTo(text: string, then: () => Promise<unknown> = async () => undefined) {
      marker = text;
      onReply = then;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('holds', () => {
  it('20 concurrent holds with one key: one hold, 20 answers naming it', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(5);
    const { fan, queueToken } = await stack.api.admittedFan(concertId);
    const headers = { 'idempotency-key': key() };
    const answers = await Promise.all(Array.from({ length: 20 }, () => stack.api.hold(fan, queueToken, scheduleIds[0], 3, headers)));
    expect(new Set(answers.map(summary))).toEqual(new Set(['201']));
    expect(new Set(answers.map((a) => a.body.reservationId)).size).toBe(1);
    expect(await liveHolds(fan.userId)).toEqual([answers[0].body.reservationId]);
  });

  it('a hold that outlives the request deadline: 503 with Retry-After, the gate stays closed to others, the retry answers the same hold', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(5);
    const { fan, queueToken } = await stack.api.admittedFan(concertId);
    const rival = await stack.api.admittedFan(concertId, 'Rival');
    const headers = { 'idempotency-key': key() };
    // A deadline already past: the update's outcome is unknown to the API (it may or may not have run).
    const late = await stack.temporal.connection.withDeadline(Date.now() + 1, () => stack.api.hold(fan, queueToken, scheduleIds[0], 4, headers));
    expect(summary(late)).toBe('503 DEPENDENCY_UNAVAILABLE');
    expect(late.headers.get('retry-after')).toBe('1');
    // Until the outcome is known the seat's gate stays closed: no one else gets the seat meanwhile.
    expect(summary(await stack.api.hold(rival.fan, rival.queueToken, scheduleIds[0], 4))).toBe('409 SEAT_UNAVAILABLE');
    const retry = await stack.api.hold(fan, queueToken, scheduleIds[0], 4, headers);
    expect(retry.status).toBe(201);
    expect(await liveHolds(fan.userId)).toEqual([retry.body.reservationId]);
    expect(summary(await stack.api.hold(fan, queueToken, scheduleIds[0], 4, headers))).toBe('201');
    expect(await liveHolds(fan.userId)).toEqual([retry.body.reservationId]);
  });

  it('20 concurrent cancels with one key: the hold is cancelled once, and every answer says CANCELLED', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(5);
    const { fan, queueToken } = await stack.api.admittedFan(concertId);
    const held = await stack.api.hold(fan, queueToken, scheduleIds[0], 5);
    const headers = { 'idempotency-key': key() };
    const answers = await Promise.all(Array.from({ length: 20 }, () => stack.api.call('DELETE', `/reservations/${held.body.reservationId}`, { fan, headers })));
    expect(new Set(answers.map((a) => `${summary(a)} ${a.body.status}`))).toEqual(new Set(['200 CANCELLED']));
    expect(await liveHolds(fan.userId)).toEqual([]);
  });
});

describe('payments', () => {
  it('20 concurrent pays with one key: one debit; retried after the journey completed it still answers the receipt', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(5, 30_000);
    const { fan, queueToken } = await stack.api.admittedFan(concertId);
    await stack.api.charge(fan, 100_000);
    const held = await stack.api.hold(fan, queueToken, scheduleIds[0], 1);
    const headers = { 'idempotency-key': key() };
    const answers = await Promise.all(Array.from({ length: 20 }, () => stack.api.pay(fan, queueToken, held.body.reservationId, headers)));
    expect(new Set(answers.map(summary))).toEqual(new Set(['201']));
    expect(answers.map((a) => a.body)).toEqual(answers.map(() => answers[0].body));
    expect((await stack.api.tokenStatus(fan, queueToken)).body.status).toBe('COMPLETED');
    const later = await stack.api.pay(fan, queueToken, held.body.reservationId, headers);
    expect(later.status).toBe(201);
    expect(later.body).toEqual(answers[0].body);
    expect(await ledger(fan.userId)).toEqual([
      { type: 'CHARGE', amount: 100_000 },
      { type: 'PAYMENT', amount: 30_000 },
    ]);
  });

  it('20 concurrent pays with 20 keys, ten rounds: exactly one answers 201, and it is the payment that took the money', async () => {
    // Concurrent updates make the server abort the workflow task that carries some of them; the
    // SDK's client sends those again. One aborted after its purchase committed comes back to a
    // journey that did not see the sale (fan-journey.ts): it must still be the one answered 201.
    const { concertId, scheduleIds } = await stack.api.createConcert(10, 30_000);
    for (let round = 0; round < 10; round++) {
      const { fan, queueToken } = await stack.api.admittedFan(concertId, `twenty-keys-${round}`);
      await stack.api.charge(fan, 100_000);
      const held = await stack.api.hold(fan, queueToken, scheduleIds[0], round + 1);
      const answers = await Promise.all(Array.from({ length: 20 }, () => stack.api.pay(fan, queueToken, held.body.reservationId, { 'idempotency-key': key() })));
      const paid = answers.filter((a) => a.status === 201);
      expect(answers.filter((a) => a.status !== 201 && a.status !== 409).map(summary)).toEqual([]);
      expect(paid).toHaveLength(1);
      const [debit] = await stack.db.query(`SELECT payment_id FROM wallet_transactions WHERE user_id = $1 AND type = 'PAYMENT'`, [fan.userId]);
      expect(paid[0].body.paymentId).toBe(debit.payment_id);
      expect(await ledger(fan.userId)).toEqual([
        { type: 'CHARGE', amount: 100_000 },
        { type: 'PAYMENT', amount: 30_000 },
      ]);
    }
  });

  it('a payment whose answer is lost after the commit (and whose key record is lost too): the retry answers the receipt from PostgreSQL', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(5, 30_000);
    const { fan, queueToken } = await stack.api.admittedFan(concertId);
    await stack.api.charge(fan, 50_000);
    const held = await stack.api.hold(fan, queueToken, scheduleIds[0], 2);
    const api = await listening();
    const proxy = await replyCutter(api.port);
    try {
      const headers = { 'idempotency-key': key(), 'x-queue-token': queueToken };
      proxy.cut(true);
      await expect(overSocket(proxy.port, 'POST', '/payments', fan, { reservationId: held.body.reservationId }, headers)).rejects.toThrow();
      proxy.cut(false);
      // The worst case: the first request's process died before its answer was recorded (the record is
      // left unfinished), so nothing but the payment itself tells what happened.
      await stack.db.query(`UPDATE idempotency_records SET status_code = NULL, response_body = NULL, in_doubt = true WHERE user_id = $1`, [fan.userId]);
      const retry = await overSocket(proxy.port, 'POST', '/payments', fan, { reservationId: held.body.reservationId }, headers);
      await expectOnePayment(retry, fan, held.body.reservationId, { charged: 50_000, price: 30_000 });
    } finally {
      await proxy.close();
      api.server.close();
    }
  });

  it('a payment that outlives the request deadline: 503, and the retry with the key converges on one payment', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(5, 30_000);
    const { fan, queueToken } = await stack.api.admittedFan(concertId);
    await stack.api.charge(fan, 50_000);
    const held = await stack.api.hold(fan, queueToken, scheduleIds[0], 3);
    const headers = { 'idempotency-key': key() };
    const late = await stack.temporal.connection.withDeadline(Date.now() + 1, () => stack.api.pay(fan, queueToken, held.body.reservationId, headers));
    expect(summary(late)).toBe('503 DEPENDENCY_UNAVAILABLE');
    const retry = await stack.api.pay(fan, queueToken, held.body.reservationId, headers);
    await expectOnePayment(retry, fan, held.body.reservationId, { charged: 50_000, price: 30_000 });
  });
});

describe('the API SIGKILLed after the commit', () => {
  /** An API process on the stack's task queue (its worker serves it), reaching PostgreSQL at `databaseUrl`. */
  const apiProcess = (databaseUrl: string) => startApi(serviceEnv(stack.config, { DATABASE_URL: databaseUrl }));
  const post = (url: string, path: string, fan: Fan, body: unknown, headers: Record<string, string>) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${fan.accessToken}`, ...headers }, body: JSON.stringify(body) }).then(readAnswer);

  it('a charge committed, then the API died before answering: the retry to a new API credits nothing and answers the charge', async () => {
    const pg = new URL(stack.config.DATABASE_URL);
    const proxy = await pgReplyDropper(Number(pg.port || 5432));
    const first = await apiProcess(Object.assign(new URL(pg), { port: String(proxy.port) }).toString());
    let second: Awaited<ReturnType<typeof apiProcess>> | undefined;
    try {
      const fan = await stack.api.newFan();
      const headers = { 'idempotency-key': key() };
      proxy.dropReplyTo('CHARGE', () => first.api.stop('SIGKILL'));
      await expect(post(first.url, '/wallet/charges', fan, { amount: 11_000 }, headers)).rejects.toThrow();
      expect(await ledger(fan.userId)).toEqual([{ type: 'CHARGE', amount: 11_000 }]); // it did commit
      second = await apiProcess(stack.config.DATABASE_URL);
      // The dead request's key record is unfinished: the retry waits for it, then takes it over (30 s).
      const retry = await post(second.url, '/wallet/charges', fan, { amount: 11_000 }, headers);
      expect(retry.status).toBe(201);
      expect(retry.body).toMatchObject({ amount: 11_000, balance: 11_000 });
      expect(await ledger(fan.userId)).toEqual([{ type: 'CHARGE', amount: 11_000 }]);
    } finally {
      await first.api.stop('SIGKILL');
      await second?.api.stop('SIGKILL');
      await proxy.close();
    }
  }, 120_000);

  it('a payment whose debit committed, then the API died mid-request: the retry to a new API answers the one payment', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(5, 30_000);
    const { fan, queueToken } = await stack.api.admittedFan(concertId);
    await stack.api.charge(fan, 40_000);
    const held = await stack.api.hold(fan, queueToken, scheduleIds[0], 4);
    const first = await apiProcess(stack.config.DATABASE_URL);
    let second: Awaited<ReturnType<typeof apiProcess>> | undefined;
    try {
      const headers = { 'idempotency-key': key(), 'x-queue-token': queueToken };
      const lost = post(first.url, '/payments', fan, { reservationId: held.body.reservationId }, headers).catch(() => 'cut off');
      await eventually(async () => {
        const [debit] = await stack.db.query(`SELECT 1 FROM wallet_transactions WHERE user_id = $1 AND type = 'PAYMENT'`, [fan.userId]);
        if (!debit) throw new Error('not debited yet');
      });
      await first.api.stop('SIGKILL');
      await lost;
      second = await apiProcess(stack.config.DATABASE_URL);
      const retry = await post(second.url, '/payments', fan, { reservationId: held.body.reservationId }, headers);
      await expectOnePayment(retry, fan, held.body.reservationId, { charged: 40_000, price: 30_000 });
    } finally {
      await first.api.stop('SIGKILL');
      await second?.api.stop('SIGKILL');
    }
  }, 120_000);
});

describe('two tabs pay two holds at once', () => {
  // One saga per journey: a second pay while one is in flight is refused with 409 PAYMENT_IN_PROGRESS,
  // and once the first completes the session is over (review M4: before, both paid).
  it('one payment goes through; the other is refused (409 PAYMENT_IN_PROGRESS) or finds its hold released; one debit', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(5, 20_000);
    const { fan, queueToken } = await stack.api.admittedFan(concertId);
    await stack.api.charge(fan, 100_000);
    const x = await stack.api.hold(fan, queueToken, scheduleIds[0], 1);
    const y = await stack.api.hold(fan, queueToken, scheduleIds[0], 2);
    const [a, b] = await Promise.all([
      stack.api.pay(fan, queueToken, x.body.reservationId, { 'idempotency-key': key() }),
      stack.api.pay(fan, queueToken, y.body.reservationId, { 'idempotency-key': key() }),
    ]);
    const outcomes = [a, b].map(summary).sort();
    expect(outcomes[0]).toBe('201');
    expect(['409 PAYMENT_IN_PROGRESS', '409 RESERVATION_NOT_PAYABLE', '403 QUEUE_TOKEN_NOT_ACTIVE']).toContain(outcomes[1]);
    expect(await ledger(fan.userId)).toEqual([
      { type: 'CHARGE', amount: 100_000 },
      { type: 'PAYMENT', amount: 20_000 },
    ]);
  });
});
