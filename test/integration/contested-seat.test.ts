import { randomUUID } from 'node:crypto';
import { issueAccessToken } from '../../api/auth';
import type { Redis } from '../../lib/redis';
import { findViolations } from '../../db/invariants';
import { queueKeys } from '../../queue/keys';
import { WaitingRoom } from '../../queue/waiting-room';
import type { Fan } from '../support/api-client';
import { RawConnection, rawRequest } from '../../bench/lib/raw-http';
import { serviceEnv, startApi, type ServiceProcess } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { createOpenConcert, createUsers, dropConcertKeys, stores, type OpenConcert } from './fixtures';

/**
 * The contested seat through the API (the seat gate's claim and the queue token's check in one Redis
 * script, api/use-cases/hold.ts): however many admitted fans ask for one seat at once, exactly one
 * holds it and every other is refused 409 SEAT_UNAVAILABLE; PostgreSQL has one reservation for it.
 */

const CONTENDERS = 1_000;

let stack: Stack;
let room: WaitingRoom;
const concerts: OpenConcert[] = [];
/** An API process of its own for the burst: the test process only writes the requests and reads the answers. */
let api: { api: ServiceProcess; url: string } | undefined;

beforeAll(async () => {
  stack = await startStack();
  room = new WaitingRoom(stack.redis);
  api = await startApi(serviceEnv(stack.config, {
    // The burst queues 1,000 requests in one process; on a box busy with other suites a Redis answer
    // can be read after the default 2 s fail-fast timeout, which would turn a refusal into a 503.
    // The test is about who wins, not about how fast a starved process answers.
    REDIS_COMMAND_TIMEOUT_MS: '60000',
  }));
}, 90_000);

afterAll(async () => {
  await api?.api.stop();
  if (stack) {
    expect(await findViolations(stack.db)).toEqual([]);
    for (const c of concerts) await dropConcertKeys(stack.redis as Redis, c.concertId);
    await stack.stop();
  }
});

interface Contender {
  fan: Fan;
  queueToken: string;
}

/** A concert open for booking (no admission controller: the test admits) and `count` admitted fans. */
async function admittedFans(count: number, seats = 10): Promise<{ concert: OpenConcert; fans: Contender[] }> {
  const s = stores(stack.db);
  const concert = await createOpenConcert(s, seats, 40_000);
  concerts.push(concert);
  const userIds = await createUsers(s, count, 'contender');
  const tickets = await Promise.all(userIds.map((userId) => room.join(concert.concertId, userId)));
  await room.admit(concert.concertId, { tickId: 'all', maxBatch: count, maxActive: count, activeTtlMs: 600_000, admitPerSecond: count, paused: false });
  const fans = await Promise.all(
    tickets.map(async (t) => ({ fan: { userId: t.userId, accessToken: await issueAccessToken(t.userId, stack.config.AUTH_SECRET, 3600) }, queueToken: t.token })),
  );
  return { concert, fans };
}

function hold(c: Contender, scheduleId: string, seatNumber: number, headers: Record<string, string> = {}) {
  return stack.api.call('POST', '/reservations', { fan: c.fan, queueToken: c.queueToken, body: { scheduleId, seatNumber }, headers });
}

describe('the contested seat through the API', () => {
  it(`${CONTENDERS.toLocaleString('en')} admitted fans hold one seat at once: exactly one 201, every other refused 409 SEAT_UNAVAILABLE`, async () => {
    const { concert, fans } = await admittedFans(CONTENDERS);
    const scheduleId = concert.scheduleIds[0];
    // One keep-alive socket per fan to the API process, each request written at once. Half of them
    // send an Idempotency-Key, as a retrying client does.
    const { hostname, port, host } = new URL(api!.url);
    const sockets = await Promise.all(fans.map(() => RawConnection.open(hostname, Number(port))));
    const body = JSON.stringify({ scheduleId, seatNumber: 1 });
    const requests = fans.map((f, i) =>
      rawRequest('POST', '/reservations', host, {
        'content-type': 'application/json',
        authorization: `Bearer ${f.fan.accessToken}`,
        'x-queue-token': f.queueToken,
        ...(i % 2 ? { 'idempotency-key': randomUUID() } : {}),
      }, body),
    );
    const answers = (await Promise.all(sockets.map((socket, i) => socket.send(requests[i]!)))).map((a) => ({ status: a.status, body: JSON.parse(a.body) }));
    for (const socket of sockets) socket.close();

    const winners = answers.filter((a) => a.status === 201);
    expect(winners).toHaveLength(1);
    const losers = answers.filter((a) => a.status !== 201).map((a) => `${a.status} ${a.body.code}`);
    expect(losers).toEqual(Array(CONTENDERS - 1).fill('409 SEAT_UNAVAILABLE'));

    const rows = await stack.db.query(`SELECT id, status FROM reservations WHERE schedule_id = $1`, [scheduleId]);
    expect(rows).toEqual([{ id: winners[0].body.reservationId, status: 'HELD' }]);
    expect(await stack.redis.get(queueKeys(concert.concertId).seatGate(scheduleId, 1))).toBe(winners[0].body.reservationId);
  });

  it('refuses the queue token before the seat: someone else’s 403, an unknown one 401, a waiting one 403 NOT_ACTIVE; the gate stays open', async () => {
    // Each fan spends at most 4 actions (the hold limit's burst): refused holds count too.
    const { concert, fans } = await admittedFans(3);
    const scheduleId = concert.scheduleIds[0];
    const [a, b, c] = fans;
    const waitingUser = (await createUsers(stores(stack.db), 1, 'waiting'))[0];
    const waiting = await room.join(concert.concertId, waitingUser);
    const waitingFan = { fan: { userId: waitingUser, accessToken: await issueAccessToken(waitingUser, stack.config.AUTH_SECRET, 3600) }, queueToken: waiting.token };

    const codes = async (c: Contender, seatNumber = 2) => {
      const answer = await hold(c, scheduleId, seatNumber);
      return `${answer.status} ${answer.body.code}`;
    };
    expect(await codes({ fan: a.fan, queueToken: b.queueToken })).toBe('403 FORBIDDEN');
    expect(await codes({ fan: b.fan, queueToken: `${concert.concertId}.${'A'.repeat(32)}` })).toBe('401 QUEUE_TOKEN_INVALID');
    expect(await codes({ fan: b.fan, queueToken: 'nonsense' })).toBe('401 QUEUE_TOKEN_INVALID');
    expect(await codes(waitingFan)).toBe('403 QUEUE_TOKEN_NOT_ACTIVE');
    // A seat number beyond the schedule: still the token's refusal first, then the seat's.
    expect(await codes(waitingFan, 11)).toBe('403 QUEUE_TOKEN_NOT_ACTIVE');
    expect(await codes(c, 11)).toBe('404 NOT_FOUND');
    expect(await stack.redis.exists(queueKeys(concert.concertId).seatGate(scheduleId, 2))).toBe(0);
    expect(await codes(a)).toBe('201 undefined');
  });

  it('a retried key whose first outcome was lost answers its own hold, even after the seat passed to another fan', async () => {
    const { concert, fans } = await admittedFans(2);
    const scheduleId = concert.scheduleIds[0];
    const [first, second] = fans;
    const key = randomUUID();
    const held = await hold(first, scheduleId, 3, { 'idempotency-key': key });
    expect(held.status).toBe(201);
    // The hold happened but its answer was never recorded (the client saw a 5xx): the key is in doubt.
    // Meanwhile the fan released the seat (seen in the reservation list) and another fan held it.
    await stack.db.query(
      `UPDATE idempotency_records SET status_code = NULL, response_body = NULL, in_doubt = true WHERE user_id = $1 AND endpoint = 'POST /reservations' AND key = $2`,
      [first.fan.userId, key],
    );
    const cancelled = await stack.api.call('DELETE', `/reservations/${held.body.reservationId}`, { fan: first.fan });
    expect(cancelled.body.status).toBe('CANCELLED');
    expect((await hold(second, scheduleId, 3)).status).toBe(201);

    const retried = await hold(first, scheduleId, 3, { 'idempotency-key': key });
    expect(retried.status).toBe(201);
    expect(retried.body).toMatchObject({ reservationId: held.body.reservationId, status: 'CANCELLED' });
    // A fresh key of the same fan is a new request: the seat is someone else's.
    const fresh = await hold(first, scheduleId, 3, { 'idempotency-key': randomUUID() });
    expect(`${fresh.status} ${fresh.body.code}`).toBe('409 SEAT_UNAVAILABLE');
  });
});
