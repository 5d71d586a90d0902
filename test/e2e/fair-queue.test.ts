import { queueKeys } from '../../queue/keys';
import { preQueueOrder } from '../../queue/fair-start';
import { journeyWorkflowId } from '../../workflows/definitions';
import type { Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

/**
 * Issue 21 through the API, with the admission controller and the journeys running: a leaver loses
 * the place (410), a no-show's slot goes to the next fan, and a pre-queue is ordered by the seed the
 * admin API publishes after the opening.
 */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ NO_SHOW_SECONDS: '2' });
});
afterAll(async () => {
  await stack?.stop();
});

const steer = (concertId: string, body: Record<string, unknown>) => stack.api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body });

async function joined(concertId: string, names: string[]): Promise<Array<{ fan: Fan; token: string }>> {
  const fans = [];
  for (const name of names) {
    const fan = await stack.api.newFan(name);
    fans.push({ fan, token: await stack.api.join(fan, concertId) });
  }
  return fans;
}

describe('leavers lose their place', () => {
  it('a waiting fan silent for longer than QUEUE_POSITION_TTL_SECONDS is passed over at the head; their poll answers 410 QUEUE_POSITION_EXPIRED', async () => {
    const { api, redis } = stack;
    const { concertId } = await api.createConcert(5);
    expect((await steer(concertId, { paused: true, maxActive: 1 })).status).toBe(200);
    const [leaver, stayer] = await joined(concertId, ['leaver', 'stayer']);
    // The leaver's last request, as Redis records it, is older than the TTL (300 s): set, not slept for.
    await redis.hset(queueKeys(concertId).session(leaver.fan.userId), 'seenAt', String(Date.now() - 301_000));

    await steer(concertId, { paused: false });
    await eventually(async () => expect((await api.tokenStatus(stayer.fan, stayer.token)).body.status).toBe('ACTIVE'));
    const gone = await api.tokenStatus(leaver.fan, leaver.token);
    expect(gone.status).toBe(410);
    expect(gone.headers.get('content-type')).toContain('application/problem+json');
    expect(gone.body.code).toBe('QUEUE_POSITION_EXPIRED');
    // Joining again is a new place at the back.
    const again = await api.call('POST', `/concerts/${concertId}/queue-tokens`, { fan: leaver.fan });
    expect(again.status).toBe(201);
    expect(again.body.token).not.toBe(leaver.token);
  });
});

describe('no-shows give their window back', () => {
  it('an admitted fan who makes no request within NO_SHOW_SECONDS: the journey ends NO_SHOW and the only active slot goes to the next fan', async () => {
    const { api, temporal } = stack;
    const { concertId } = await api.createConcert(5);
    expect((await steer(concertId, { paused: true, maxActive: 1 })).status).toBe(200);
    const [absent, present] = await joined(concertId, ['absent', 'present']);
    await steer(concertId, { paused: false });

    // The absent fan is admitted (arrival 1) and never asks anything: their journey ends by itself.
    const journey = temporal.workflow.getHandle(journeyWorkflowId(concertId, absent.fan.userId, 1));
    const result = await eventually(() => journey.result(), { timeoutMs: 30_000 });
    expect(result.status).toBe('NO_SHOW');
    // The one active place is reused: the fan behind is admitted.
    await eventually(async () => expect((await api.tokenStatus(present.fan, present.token)).body.status).toBe('ACTIVE'));
    expect((await api.tokenStatus(absent.fan, absent.token)).body).toMatchObject({ status: 'NO_SHOW', position: 0 });
    // Too late for anything that needs an active token.
    expect((await api.call('GET', `/concerts/${concertId}/schedules`, { fan: absent.fan, queueToken: absent.token })).body.code).toBe('QUEUE_TOKEN_NOT_ACTIVE');
  });

  it('an admitted fan who polls keeps the window past NO_SHOW_SECONDS', async () => {
    const { api, temporal } = stack;
    const { concertId } = await api.createConcert(5);
    const { fan, queueToken } = await api.admittedFan(concertId, 'present'); // its polls are requests
    const journey = temporal.workflow.getHandle(journeyWorkflowId(concertId, fan.userId, 1));
    // The check ran (its local activity is in the history) and found the fan had come.
    await eventually(async () => {
      const markers = (await journey.fetchHistory()).events?.flatMap((e) => e.markerRecordedEventAttributes?.details?.data?.payloads ?? []) ?? [];
      expect(markers.map((p) => Buffer.from(p.data ?? []).toString())).toContainEqual(expect.stringContaining('"activity_type":"endIfNoShow"'));
    }, { timeoutMs: 30_000 });
    expect((await journey.describe()).status.name).toBe('RUNNING');
    expect((await api.tokenStatus(fan, queueToken)).body.status).toBe('ACTIVE');
  });
});

describe('a fair start', () => {
  it('pre-queues fans who join before salesOpenAt and orders them by the seed published after the opening, ahead of later fans', async () => {
    const { api } = stack;
    const salesOpenAt = new Date(Date.now() + 4_000);
    const created = await api.call('POST', '/admin/concerts', {
      admin: true,
      body: { title: 'Fair start', salesOpenAt: salesOpenAt.toISOString(), schedules: [{ startsAt: new Date(Date.now() + 7 * 86_400_000).toISOString(), seatCount: 5, price: 1_000 }] },
    });
    expect(created.status).toBe(201);
    expect(created.body.salesOpenAt).toBe(salesOpenAt.toISOString());
    const concertId: string = created.body.concertId;
    expect((await steer(concertId, { paused: true })).status).toBe(200);

    const early = await joined(concertId, ['e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
    const status = await api.tokenStatus(early[0].fan, early[0].token);
    expect(status.body).toMatchObject({ status: 'PRE_QUEUE', position: 0, salesOpenAt: salesOpenAt.toISOString() });
    expect(Number(status.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const secret = await api.call('GET', `/admin/concerts/${concertId}/queue/seed`, { admin: true });
    expect(secret.status).toBe(409);
    expect(secret.body.code).toBe('SALES_NOT_OPEN');

    // The opening: the seed is published.
    const published = await eventually(async () => {
      const res = await api.call('GET', `/admin/concerts/${concertId}/queue/seed`, { admin: true });
      expect(res.status).toBe(200);
      return res.body;
    }, { timeoutMs: 30_000 });
    expect(published.seed).toMatch(/^[0-9a-f]{64}$/);
    const [late] = await joined(concertId, ['late']);

    const order = preQueueOrder(published.seed, early.map((f) => f.fan.userId));
    const positions = new Map<string, number>();
    for (const { fan, token } of [...early, late]) {
      const res = await api.tokenStatus(fan, token);
      expect(res.body.status).toBe('WAITING');
      positions.set(fan.userId, res.body.position);
    }
    expect(order.map((userId) => positions.get(userId))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(positions.get(late.fan.userId)).toBe(7);
  });
});
