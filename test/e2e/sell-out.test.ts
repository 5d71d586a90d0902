import { queueKeys } from '../../queue/keys';
import { admissionWorkflowId, queueStateQuery } from '../../workflows/definitions';
import type { Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

/**
 * Issue 21, item 3: admission knows the inventory. The controller admits no more fans than the seats
 * left allow, admits nobody while every seat left is held, resumes when a seat comes back, and when
 * the last seat is sold closes the queue as SOLD_OUT for every waiting fan and ends.
 */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const PRICE = 10_000;

type Queued = { fan: Fan; token: string };

/** Fans join a paused queue one after the other (so their order is known), then it opens. */
async function queueOf(concertId: string, n: number, settings: Record<string, unknown> = {}): Promise<Queued[]> {
  const { api } = stack;
  expect((await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: true, ...settings } })).status).toBe(200);
  const fans: Queued[] = [];
  for (let i = 0; i < n; i++) {
    const fan = await api.newFan(`fan-${i}`);
    fans.push({ fan, token: await api.join(fan, concertId) });
  }
  expect((await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: false } })).status).toBe(200);
  return fans;
}

const status = async ({ fan, token }: Queued, on: Stack = stack) => (await on.api.tokenStatus(fan, token)).body;
const statuses = async (fans: Queued[]) => Promise.all(fans.map((f) => status(f)));

async function holdSeat({ fan, token }: Queued, scheduleId: string, seatNumber: number): Promise<string> {
  const held = await stack.api.hold(fan, token, scheduleId, seatNumber);
  expect(held.status).toBe(201);
  return held.body.reservationId;
}

describe('admission by inventory', () => {
  it('admits no more fans than seats left, pauses while every seat is held (fans keep their places), resumes when a hold is released', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(3, PRICE);
    const fans = await queueOf(concertId, 7);

    // Three seats, one fan per seat (the default): three admitted, and a later tick that admits
    // nobody more says why to those who wait.
    await eventually(async () => expect((await status(fans[3])).reason).toBe('ADMITTED_UP_TO_SEATS_LEFT'));
    expect((await statuses(fans)).map((s) => s.status)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE', 'WAITING', 'WAITING', 'WAITING', 'WAITING']);
    const capped = await api.call('GET', `/admin/concerts/${concertId}/queue`, { admin: true });
    expect(capped.body).toMatchObject({ active: 3, waiting: 4, admitPerSeat: 1, seatsLeft: { bookable: 3, held: 0 }, admissionHeld: 'ADMITTED_UP_TO_SEATS_LEFT' });

    // Every seat held: admission pauses, the waiting fans keep their places and read why.
    await Promise.all(fans.slice(0, 3).map((f, i) => holdSeat(f, scheduleIds[0], i + 1)));
    await eventually(async () => expect((await status(fans[3])).reason).toBe('ALL_SEATS_HELD'));
    expect((await statuses(fans.slice(3))).map((s) => [s.status, s.position])).toEqual([['WAITING', 1], ['WAITING', 2], ['WAITING', 3], ['WAITING', 4]]);
    const paused = await api.call('GET', `/admin/concerts/${concertId}/queue`, { admin: true });
    expect(paused.body).toMatchObject({ paused: false, active: 3, waiting: 4, seatsLeft: { bookable: 0, held: 3 }, admissionHeld: 'ALL_SEATS_HELD' });

    // A fan leaves: the hold is released, the seat is back, and the head of the queue is admitted.
    expect((await api.call('DELETE', '/queue-tokens/current', { fan: fans[0].fan, queueToken: fans[0].token })).status).toBe(200);
    await eventually(async () => expect((await status(fans[3])).status).toBe('ACTIVE'));
    await eventually(async () => expect((await status(fans[4])).reason).toBe('ADMITTED_UP_TO_SEATS_LEFT'));
    expect((await statuses(fans)).map((s) => s.status)).toEqual(['LEFT', 'ACTIVE', 'ACTIVE', 'ACTIVE', 'WAITING', 'WAITING', 'WAITING']);
  });

  it('thirty fans joining at once for four seats: exactly four are admitted', async () => {
    const { api } = stack;
    const { concertId } = await api.createConcert(4, PRICE);
    const fans = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const fan = await api.newFan(`rush-${i}`);
      return { fan, token: await api.join(fan, concertId) };
    }));
    await eventually(async () => expect((await api.call('GET', `/admin/concerts/${concertId}/queue`, { admin: true })).body.admissionHeld).toBe('ADMITTED_UP_TO_SEATS_LEFT'));
    const after = await statuses(fans);
    expect(after.filter((s) => s.status === 'ACTIVE')).toHaveLength(4);
    expect(after.filter((s) => s.status === 'WAITING').map((s) => s.position).sort((a, b) => a - b)).toEqual(Array.from({ length: 26 }, (_, i) => i + 1));
  });

  it('an operator pause reads PAUSED_BY_OPERATOR; admitPerSeat is set per concert and validated', async () => {
    const { api } = stack;
    const { concertId } = await api.createConcert(2, PRICE);
    const fans = await queueOf(concertId, 5, { admitPerSeat: 1.5 });
    // ceil(2 seats × 1.5) = 3 active at most.
    await eventually(async () => expect((await status(fans[3])).reason).toBe('ADMITTED_UP_TO_SEATS_LEFT'));
    expect((await statuses(fans)).map((s) => s.status)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE', 'WAITING', 'WAITING']);
    expect((await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: true } })).body).toMatchObject({ admitPerSeat: 1.5, paused: true });
    await eventually(async () => expect((await status(fans[4])).reason).toBe('PAUSED_BY_OPERATOR'));
    for (const admitPerSeat of [0, -1, 101, 'two']) {
      const refused = await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { admitPerSeat } });
      expect({ admitPerSeat, status: refused.status, code: refused.body.code }).toEqual({ admitPerSeat, status: 400, code: 'VALIDATION_FAILED' });
    }
  });
});

describe('sold out', () => {
  it('the last sale closes the queue: every waiting fan reads SOLD_OUT (place released), joins answer 409 SOLD_OUT, live journeys end, the controller ends', async () => {
    const { api, redis, temporal } = stack;
    const { concertId, scheduleIds } = await api.createConcert(2, PRICE);
    // Two fans per seat: four admitted, two of whom will find nothing left to buy.
    const fans = await queueOf(concertId, 9, { admitPerSeat: 2 });
    await eventually(async () => expect((await status(fans[4])).reason).toBe('ADMITTED_UP_TO_SEATS_LEFT'));
    expect((await statuses(fans)).filter((s) => s.status === 'ACTIVE')).toHaveLength(4);

    await Promise.all(fans.slice(0, 2).map(async (f, i) => {
      await api.charge(f.fan, PRICE);
      const reservationId = await holdSeat(f, scheduleIds[0], i + 1);
      expect((await api.pay(f.fan, f.token, reservationId)).status).toBe(201);
    }));

    const controller = temporal.workflow.getHandle(admissionWorkflowId(concertId));
    await controller.result();
    expect(await redis.get(queueKeys(concertId).closed)).toBe('SOLD_OUT');
    const state = await controller.query(queueStateQuery);
    expect(state).toMatchObject({ soldOut: true, seatsLeft: { bookable: 0, held: 0 } });

    // Every fan still waiting reads SOLD_OUT, and reading it released the place.
    const waiting = fans.slice(4);
    expect((await statuses(waiting)).map((s) => [s.status, s.position])).toEqual(waiting.map(() => ['SOLD_OUT', 0]));
    expect(await redis.zcard(queueKeys(concertId).waiting)).toBe(0);
    // The buyers' sessions completed with their payments; the two who bought nothing were ended.
    expect((await statuses(fans.slice(0, 4))).map((s) => s.status)).toEqual(['COMPLETED', 'COMPLETED', 'LEFT', 'LEFT']);

    const late = await api.call('POST', `/concerts/${concertId}/queue-tokens`, { fan: await api.newFan('late') });
    expect(late.status).toBe(409);
    expect(late.headers.get('content-type')).toContain('application/problem+json');
    expect(late.body.code).toBe('SOLD_OUT');
    const view = await api.call('GET', `/admin/concerts/${concertId}/queue`, { admin: true });
    expect(view.body).toMatchObject({ soldOut: true, seatsLeft: { bookable: 0, held: 0 } });
  });

  it('a concert that sells out while its controller sleeps (nobody waiting) still closes', async () => {
    const { api, redis, temporal } = stack;
    const { concertId, scheduleIds } = await api.createConcert(1, PRICE);
    const { fan, queueToken } = await api.admittedFan(concertId, 'only-buyer');
    // Nobody waits: the controller has marked itself asleep (it looks again only now and then while a fan is active).
    await eventually(async () => expect(await redis.exists(queueKeys(concertId).controllerAsleep)).toBe(1));
    await api.charge(fan, PRICE);
    const held = await api.hold(fan, queueToken, scheduleIds[0], 1);
    expect((await api.pay(fan, queueToken, held.body.reservationId)).status).toBe(201);

    await temporal.workflow.getHandle(admissionWorkflowId(concertId)).result();
    expect(await redis.get(queueKeys(concertId).closed)).toBe('SOLD_OUT');
    expect((await api.call('POST', `/concerts/${concertId}/queue-tokens`, { fan: await api.newFan('late') })).body.code).toBe('SOLD_OUT');
  });

  it('seats still held keep the queue open: admission pauses instead, and the show is not sold out', async () => {
    const { api, redis } = stack;
    const { concertId, scheduleIds } = await api.createConcert(1, PRICE);
    const fans = await queueOf(concertId, 3);
    await eventually(async () => expect((await status(fans[0])).status).toBe('ACTIVE'));
    await holdSeat(fans[0], scheduleIds[0], 1);
    await eventually(async () => expect((await status(fans[1])).reason).toBe('ALL_SEATS_HELD'));
    expect(await redis.get(queueKeys(concertId).closed)).toBeNull();
    // The holder walks away: the seat is for sale again and the next fan is admitted.
    expect((await api.call('DELETE', '/queue-tokens/current', { fan: fans[0].fan, queueToken: fans[0].token })).status).toBe(200);
    await eventually(async () => expect((await status(fans[1])).status).toBe('ACTIVE'));
  });
});

describe('a hold that lapses puts its seat back', () => {
  // Holds of 4 s (+ 1 s grace): the lapse comes by itself within the test.
  let short: Stack;
  beforeAll(async () => {
    short = await startStack({ HOLD_TTL_SECONDS: '4', HOLD_GRACE_SECONDS: '1' });
  });
  afterAll(async () => {
    await short?.stop();
  });

  it('admission paused while the only seat is held resumes once the hold has lapsed', async () => {
    const { api } = short;
    const { concertId, scheduleIds } = await api.createConcert(1, PRICE);
    // One active place at first, so the second fan waits until the first one holds the seat.
    await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { maxActive: 1, admitPerSeat: 2 } });
    const first = await api.admittedFan(concertId, 'holder');
    const next: Queued = { fan: await api.newFan('next'), token: '' };
    next.token = await api.join(next.fan, concertId);
    expect((await api.hold(first.fan, first.queueToken, scheduleIds[0], 1)).status).toBe(201);
    // Places for ten: the seats left are what holds the second fan back now.
    await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { maxActive: 10 } });
    await eventually(async () => expect((await status(next, short)).reason).toBe('ALL_SEATS_HELD'));
    expect((await status(next, short)).status).toBe('WAITING');
    // Nobody cancels: the hold's deadline + grace pass, the seat is bookable again, the fan is admitted.
    await eventually(async () => expect((await status(next, short)).status).toBe('ACTIVE'), { timeoutMs: 30_000 });
  });
});
