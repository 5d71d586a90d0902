import { eventually } from '../support/eventually';
import { journeyStory } from '../support/history';
import { ledgerOf, saleStack } from '../support/sale';

const stack = saleStack();

const ledger = (userId: string) => ledgerOf(stack.db, userId);

describe('payment through the fan’s journey', () => {
  it('20 concurrent pay requests for one reservation: one payment, one debit', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(5, 40_000);
    const { fan, queueToken } = await api.admittedFan(concertId);
    await api.charge(fan, 100_000);
    const held = await api.hold(fan, queueToken, scheduleIds[0], 1);
    const answers = await Promise.all(Array.from({ length: 20 }, () => api.pay(fan, queueToken, held.body.reservationId)));
    const outcomes = answers.map((a) => (a.status === 201 ? 'PAID' : `${a.status} ${a.body.code}: ${a.body.detail}`));
    expect(outcomes.filter((o) => o === 'PAID')).toEqual(['PAID']);
    const refusals = answers.filter((a) => a.status !== 201).map((a) => a.body.code);
    // While the one saga runs, the others hear PAYMENT_IN_PROGRESS; after it, the hold is sold or the session over.
    expect(refusals.every((code) => code === 'PAYMENT_IN_PROGRESS' || code === 'RESERVATION_NOT_PAYABLE' || code === 'QUEUE_TOKEN_NOT_ACTIVE')).toBe(true);
    expect(await ledger(fan.userId)).toEqual([
      { type: 'CHARGE', amount: 100_000 },
      { type: 'PAYMENT', amount: 40_000 },
    ]);
    const [row] = await stack.db.query('SELECT journey_id FROM reservations WHERE id = $1', [held.body.reservationId]);
    const story = await journeyStory(stack.temporal, row.journey_id);
    expect(story.slice(0, 4)).toEqual(['update:hold', 'holdSeat', 'update:pay', 'purchase']);
    // The session ends after the receipt went back, in the journey's main loop.
    await eventually(async () => expect(await journeyStory(stack.temporal, row.journey_id)).toContain('releaseHolds'));
  });

  it('a balance too low refuses the payment, debits nothing and keeps the hold; after a charge it goes through', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(5, 60_000);
    const { fan, queueToken } = await api.admittedFan(concertId);
    await api.charge(fan, 10_000);
    const held = await api.hold(fan, queueToken, scheduleIds[0], 2);
    const refused = await api.pay(fan, queueToken, held.body.reservationId);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('INSUFFICIENT_BALANCE');
    expect((await api.call('GET', `/reservations/${held.body.reservationId}`, { fan })).body.status).toBe('HELD');
    expect((await api.call('GET', '/wallet', { fan })).body.balance).toBe(10_000);
    await api.charge(fan, 50_000);
    const paid = await api.pay(fan, queueToken, held.body.reservationId);
    expect(paid.status).toBe(201);
    expect(paid.body.balance).toBe(0);
    const again = await api.pay(fan, queueToken, held.body.reservationId);
    expect(again.status).toBe(403); // the session is COMPLETED: the token no longer books
  });

  it('two journeys of one fan in two concerts, paid at once from a wallet that covers one: exactly one succeeds', async () => {
    const { api } = stack;
    const first = await api.createConcert(3, 70_000);
    const second = await api.createConcert(3, 70_000);
    const fan = await api.newFan('two-concerts');
    const tokens = [await api.join(fan, first.concertId), await api.join(fan, second.concertId)];
    const { eventually } = await import('../support/eventually');
    await eventually(async () => {
      for (const token of tokens) expect((await api.tokenStatus(fan, token)).body.status).toBe('ACTIVE');
    });
    await api.charge(fan, 100_000);
    const holds = await Promise.all([
      api.hold(fan, tokens[0], first.scheduleIds[0], 1),
      api.hold(fan, tokens[1], second.scheduleIds[0], 1),
    ]);
    const answers = await Promise.all(holds.map((h, i) => api.pay(fan, tokens[i], h.body.reservationId)));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    expect(answers.find((a) => a.status === 409)!.body.code).toBe('INSUFFICIENT_BALANCE');
    expect((await api.call('GET', '/wallet', { fan })).body.balance).toBe(30_000);
  });

  it('someone else’s reservation cannot be paid', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(3);
    const owner = await api.admittedFan(concertId, 'owner');
    const thief = await api.admittedFan(concertId, 'thief');
    const held = await api.hold(owner.fan, owner.queueToken, scheduleIds[0], 1);
    await api.charge(thief.fan, 100_000);
    const res = await api.pay(thief.fan, thief.queueToken, held.body.reservationId);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('FORBIDDEN');
    expect((await api.call('GET', '/wallet', { fan: thief.fan })).body.balance).toBe(100_000);
  });
});
