import { queueKeys } from '../../queue/keys';
import { LatencyWindow } from '../../queue/latency-window';
import type { Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ QUEUE_ADJUST_EVERY_MS: '300' });
});
afterAll(async () => {
  await stack?.stop();
});

describe('the waiting queue through the API, with the admission controller running', () => {
  it('admits fans in arrival order, never more than maxActive, and the next one when a fan leaves', async () => {
    const { api } = stack;
    const { concertId } = await api.createConcert(5);
    const paused = await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: true, maxActive: 3 } });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ paused: true, maxActive: 3 });

    const fans: Array<{ fan: Fan; token: string }> = [];
    for (let i = 0; i < 6; i++) {
      const fan = await api.newFan(`fan-${i}`);
      fans.push({ fan, token: await api.join(fan, concertId) });
    }
    const waiting = await api.tokenStatus(fans[5].fan, fans[5].token);
    expect(waiting.body).toMatchObject({ status: 'WAITING', position: 6 });
    expect(Number(waiting.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: false } });
    await eventually(async () => expect((await api.tokenStatus(fans[2].fan, fans[2].token)).body.status).toBe('ACTIVE'));
    const statuses = async () => Promise.all(fans.map(async ({ fan, token }) => (await api.tokenStatus(fan, token)).body));
    const afterAdmission = await statuses();
    expect(afterAdmission.map((s) => s.status)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE', 'WAITING', 'WAITING', 'WAITING']);
    expect(afterAdmission.slice(3).map((s) => s.position)).toEqual([1, 2, 3]);
    const queue = await api.call('GET', `/admin/concerts/${concertId}/queue`, { admin: true });
    expect(queue.body).toMatchObject({ active: 3, waiting: 3, maxActive: 3, paused: false });

    // An active fan leaves: the session ends and the head of the queue takes the place.
    const left = await api.call('DELETE', '/queue-tokens/current', { fan: fans[0].fan, queueToken: fans[0].token });
    expect(left.body.status).toBe('LEFT');
    await eventually(async () => expect((await api.tokenStatus(fans[3].fan, fans[3].token)).body.status).toBe('ACTIVE'));
    expect((await statuses()).map((s) => s.status)).toEqual(['LEFT', 'ACTIVE', 'ACTIVE', 'ACTIVE', 'WAITING', 'WAITING']);

    // A waiting fan leaves: the one behind moves up.
    await api.call('DELETE', '/queue-tokens/current', { fan: fans[4].fan, queueToken: fans[4].token });
    expect((await api.tokenStatus(fans[5].fan, fans[5].token)).body).toMatchObject({ status: 'WAITING', position: 1 });
  });

  it('joining twice returns the same live token', async () => {
    const { api } = stack;
    const { concertId } = await api.createConcert(5);
    await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: true } });
    const fan = await api.newFan();
    const first = await api.call('POST', `/concerts/${concertId}/queue-tokens`, { fan });
    const again = await api.call('POST', `/concerts/${concertId}/queue-tokens`, { fan });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body.token).toBe(first.body.token);
    expect(again.body.position).toBe(first.body.position);
    expect((await api.call('POST', `/concerts/00000000-0000-4000-8000-000000000000/queue-tokens`, { fan })).body.code).toBe('NOT_FOUND');
  });

  it('the booking endpoints take an ACTIVE token of the caller for that concert, and nothing else', async () => {
    const { api } = stack;
    const { concertId } = await api.createConcert(5);
    const other = await api.createConcert(5);
    const { fan, queueToken } = await api.admittedFan(concertId, 'admitted');
    const { fan: stranger, queueToken: strangersToken } = await api.admittedFan(concertId, 'stranger');
    const schedules = (token: string, who = fan, concert = concertId) => api.call('GET', `/concerts/${concert}/schedules`, { fan: who, queueToken: token });

    expect((await schedules(queueToken)).status).toBe(200);
    expect((await schedules(strangersToken)).body.code).toBe('FORBIDDEN');
    expect((await schedules(`${concertId}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`)).body.code).toBe('QUEUE_TOKEN_INVALID');
    expect((await schedules('*')).body.code).toBe('QUEUE_TOKEN_INVALID');
    expect((await api.call('GET', `/concerts/${concertId}/schedules`, { fan })).body.code).toBe('QUEUE_TOKEN_INVALID');
    // The stranger's own token used for another concert's schedules.
    expect((await schedules(strangersToken, stranger, other.concertId)).body.code).toBe('FORBIDDEN');

    await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: true } });
    const late = await api.newFan('late');
    const lateToken = await api.join(late, concertId);
    const refused = await schedules(lateToken, late);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('QUEUE_TOKEN_NOT_ACTIVE');
  });

  it('access ends at the window’s end even before the journey’s timer fires', async () => {
    const { api, redis } = stack;
    const { concertId } = await api.createConcert(5);
    const { fan, queueToken } = await api.admittedFan(concertId);
    // The window's end is data in Redis: move it into the past, as a late timer would leave it.
    const secret = queueToken.split('.')[1];
    expect(await redis.hget(queueKeys(concertId).session(fan.userId), 'secret')).toBe(secret);
    await redis.hset(queueKeys(concertId).session(fan.userId), 'activeUntil', String(Date.now() - 1));
    const res = await api.call('GET', `/concerts/${concertId}/schedules`, { fan, queueToken });
    expect(res.body.code).toBe('QUEUE_TOKEN_NOT_ACTIVE');
    expect((await api.tokenStatus(fan, queueToken)).body.status).toBe('EXPIRED');
  });

  it('operator endpoints refuse without the key and validate settings', async () => {
    const { api } = stack;
    const { concertId } = await api.createConcert(5);
    expect((await api.call('GET', `/admin/concerts/${concertId}/queue`)).body.code).toBe('UNAUTHENTICATED');
    expect((await api.call('GET', `/admin/concerts/${concertId}/queue`, { headers: { 'x-admin-key': 'wrong-key!' } })).status).toBe(401);
    expect((await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { admitPerSecond: -1 } })).body.code).toBe('VALIDATION_FAILED');
    const steered = await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { admitPerSecond: 12.5 } });
    expect(steered.body.admitPerSecond).toBe(12.5);
    expect((await api.call('GET', `/admin/concerts/00000000-0000-4000-8000-000000000000/queue`, { admin: true })).body.code).toBe('NOT_FOUND');
  });

  it('the adaptive valve: operators turn it on with bounds, and it backs off when holds turn slow, saying why', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(5);
    const queue = `/admin/concerts/${concertId}/queue`;
    const before = await api.call('GET', queue, { admin: true });
    expect(before.body).toMatchObject({ adaptive: false, minAdmitPerSecond: expect.any(Number), maxAdmitPerSecond: expect.any(Number) });
    expect(before.body.lastAdjustment).toBeUndefined();

    const crossed = await api.call('PUT', queue, { admin: true, body: { minAdmitPerSecond: 50, maxAdmitPerSecond: 10 } });
    expect(crossed).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    const below = await api.call('PUT', queue, { admin: true, body: { minAdmitPerSecond: 1e6 } }); // above the current max
    expect(below).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });

    // A real hold goes into the shared latency window the valve reads. The API records it as it
    // answers (not before), so the record is awaited; and only the seconds since the hold began are
    // read: a longer window slides past earlier holds meanwhile, and its count can fall.
    const window = new LatencyWindow(stack.redis);
    const holdBegan = Math.floor(Date.now() / 1000);
    const { fan, queueToken } = await api.admittedFan(concertId);
    expect((await api.hold(fan, queueToken, scheduleIds[0], 1)).status).toBe(201);
    const sinceTheHold = () => Math.floor(Date.now() / 1000) - holdBegan + 1;
    await eventually(async () => expect((await window.p95('hold', sinceTheHold())).samples).toBeGreaterThan(0));

    const on = await api.call('PUT', queue, { admin: true, body: { adaptive: true, admitPerSecond: 20, minAdmitPerSecond: 2, maxAdmitPerSecond: 40 } });
    expect(on).toMatchObject({ status: 200, body: { adaptive: true, admitPerSecond: 20, minAdmitPerSecond: 2, maxAdmitPerSecond: 40 } });
    // Then holds turn slow (as an overloaded Temporal would make them), as every API instance reports.
    await Promise.all(Array.from({ length: 200 }, () => window.record('hold', 900)));
    const backedOff = await eventually(async () => {
      const { body } = await api.call('GET', queue, { admin: true });
      expect(body.admitPerSecond).toBeLessThan(20);
      return body;
    });
    expect(backedOff.admitPerSecond).toBeGreaterThanOrEqual(2);
    expect(backedOff.lastAdjustment).toMatchObject({ from: 20, to: 14, reason: expect.stringMatching(/^backed off: hold p95 1000 ms > target 500 ms/) });
  });
});
