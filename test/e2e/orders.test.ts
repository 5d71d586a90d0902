import type { Fan } from '../support/api-client';
import { eventually } from '../support/eventually';
import { journeyStory } from '../support/history';
import { fanWithMoney, holdSeats, ledgerOf, saleStack } from '../support/sale';

/**
 * Orders of several seats and the purchase limit, through the API, the fan's journey, Temporal,
 * PostgreSQL and Redis: one order debits its total once and sells every seat or none; the limit on a
 * fan's seats in a concert holds across their journeys.
 */

const stack = saleStack();

const PRICE = 30_000;

const order = (fan: Fan, queueToken: string, reservationIds: string[], headers?: Record<string, string>) =>
  stack.api.call('POST', '/payments', { fan, queueToken, body: { reservationIds }, headers });

const statusOf = async (fan: Fan, reservationId: string) => (await stack.api.call('GET', `/reservations/${reservationId}`, { fan })).body.status;

describe('orders of several seats', () => {
  it('an order of three: one debit naming them, every seat sold in one saga, the fourth hold released, and a retry answers the same receipt after the session ended', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(10, PRICE);
    const { fan, queueToken } = await fanWithMoney(api, concertId, 100_000, 'orderer');
    const [a, b, c, spare] = await holdSeats(api, fan, queueToken, scheduleIds[0], [5, 6, 7, 8]);

    const paid = await order(fan, queueToken, [a, b, c], { 'idempotency-key': 'order-1' });
    expect(paid.status).toBe(201);
    expect(paid.body).toMatchObject({ reservationId: a, reservationIds: [a, b, c], amount: 3 * PRICE, status: 'COMPLETED', balance: 100_000 - 3 * PRICE });
    expect(await ledgerOf(stack.db, fan.userId, { seats: true })).toEqual([
      { type: 'CHARGE', amount: 100_000, reservation_ids: null },
      { type: 'PAYMENT', amount: 3 * PRICE, reservation_ids: [a, b, c] },
    ]);
    for (const id of [a, b, c]) expect(await statusOf(fan, id)).toBe('CONFIRMED');
    const seats = await stack.db.query(`SELECT number, status FROM seats WHERE schedule_id = $1 AND number BETWEEN 5 AND 8 ORDER BY number`, [scheduleIds[0]]);
    expect(seats.map((s: { status: string }) => s.status).slice(0, 3)).toEqual(['SOLD', 'SOLD', 'SOLD']);

    const [row] = await stack.db.query('SELECT journey_id FROM reservations WHERE id = $1', [a]);
    // The session ends after the receipt, as for one seat: the spare hold is released with it.
    await eventually(async () => expect(await statusOf(fan, spare)).toBe('CANCELLED'));
    const result = await stack.temporal.workflow.getHandle(row.journey_id).result();
    expect(result.status).toBe('COMPLETED');
    // One purchase for the three seats.
    const story = await journeyStory(stack.temporal, row.journey_id);
    expect(story.filter((step) => ['purchase', 'debitWallet', 'confirmPayment'].includes(step))).toEqual(['purchase']);

    const retried = await order(fan, queueToken, [a, b, c], { 'idempotency-key': 'order-1' });
    expect(retried.status).toBe(201);
    expect(retried.body).toEqual(paid.body);
    expect((await api.call('GET', '/wallet', { fan })).body.balance).toBe(100_000 - 3 * PRICE);
  });

  it('two tabs ordering overlapping seats at once: one order, the others refused cleanly, the money taken once', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(10, PRICE);
    const { fan, queueToken } = await fanWithMoney(api, concertId, 200_000, 'two-tabs');
    const [a, b, c] = await holdSeats(api, fan, queueToken, scheduleIds[0], [1, 2, 3]);
    const answers = await Promise.all([
      order(fan, queueToken, [a, b], { 'idempotency-key': 'tab-1' }),
      order(fan, queueToken, [a, b], { 'idempotency-key': 'tab-2' }),
      order(fan, queueToken, [b, c], { 'idempotency-key': 'tab-3' }),
    ]);
    const paid = answers.filter((x) => x.status === 201);
    expect(paid).toHaveLength(1);
    for (const refused of answers.filter((x) => x.status !== 201)) {
      expect(refused.status).toBe(409);
      expect(['PAYMENT_IN_PROGRESS', 'RESERVATION_NOT_PAYABLE', 'QUEUE_TOKEN_NOT_ACTIVE', 'HOLD_EXPIRED']).toContain(refused.body.code);
    }
    const payments = (await ledgerOf(stack.db, fan.userId, { seats: true })).filter((e: { type: string }) => e.type !== 'CHARGE');
    expect(payments).toEqual([{ type: 'PAYMENT', amount: 2 * PRICE, reservation_ids: paid[0].body.reservationIds }]);
    for (const id of paid[0].body.reservationIds) expect(await statusOf(fan, id)).toBe('CONFIRMED');
    expect((await api.call('GET', '/wallet', { fan })).body.balance).toBe(200_000 - 2 * PRICE);
  });

  it('an order the wallet does not cover: nothing debited, nothing sold, every hold kept; after a charge the same order goes through', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(10, PRICE);
    const { fan, queueToken } = await fanWithMoney(api, concertId, 2 * PRICE, 'short'); // covers two of three
    const ids = await holdSeats(api, fan, queueToken, scheduleIds[0], [1, 2, 3]);
    const refused = await order(fan, queueToken, ids);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('INSUFFICIENT_BALANCE');
    for (const id of ids) expect(await statusOf(fan, id)).toBe('HELD');
    expect((await api.call('GET', '/wallet', { fan })).body.balance).toBe(2 * PRICE);
    await api.charge(fan, PRICE);
    const paid = await order(fan, queueToken, ids);
    expect(paid.status).toBe(201);
    expect(paid.body.balance).toBe(0);
    for (const id of ids) expect(await statusOf(fan, id)).toBe('CONFIRMED');
  });

  it('refuses malformed orders with problem+json and touches nothing; the one-seat body answers as before, with the seat listed', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(10, PRICE);
    const { fan, queueToken } = await fanWithMoney(api, concertId, 500_000, 'careful');
    const other = await api.admittedFan(concertId, 'other');
    const [a, b] = await holdSeats(api, fan, queueToken, scheduleIds[0], [1, 2]);
    const [theirs] = await holdSeats(api, other.fan, other.queueToken, scheduleIds[0], [3]);

    const bad = [
      { body: { reservationIds: [a, a] }, status: 400, code: 'VALIDATION_FAILED' },
      { body: { reservationId: a, reservationIds: [a, b] }, status: 400, code: 'VALIDATION_FAILED' },
      { body: {}, status: 400, code: 'VALIDATION_FAILED' },
      { body: { reservationIds: [] }, status: 400, code: 'VALIDATION_FAILED' },
      { body: { reservationIds: [a, b, a, b, a] }, status: 400, code: 'VALIDATION_FAILED' },
      { body: { reservationIds: [a, theirs] }, status: 403, code: 'FORBIDDEN' },
    ];
    for (const { body, status, code } of bad) {
      const res = await api.call('POST', '/payments', { fan, queueToken, body });
      expect([res.status, res.body.code]).toEqual([status, code]);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    expect((await api.call('GET', '/wallet', { fan })).body.balance).toBe(500_000);

    const one = await api.pay(fan, queueToken, b);
    expect(one.status).toBe(201);
    expect(one.body).toEqual({ paymentId: one.body.paymentId, reservationId: b, reservationIds: [b], amount: PRICE, status: 'COMPLETED', balance: 500_000 - PRICE });
  });
});

describe('purchase limit per fan per concert', () => {
  it('holds across a re-queue: 3 bought in the first journey, 3 holds at once in the next with a limit of 4 → one held, two PURCHASE_LIMIT_REACHED', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(20, PRICE);
    const limit = await api.call('PUT', `/admin/concerts/${concertId}/purchase-limit`, { admin: true, body: { maxSeatsPerFan: 4 } });
    expect(limit.status).toBe(200);
    expect(limit.body).toEqual({ concertId, maxSeatsPerFan: 4 });
    const { fan, queueToken } = await fanWithMoney(api, concertId, 500_000, 'collector');
    const bought = await holdSeats(api, fan, queueToken, scheduleIds[0], [1, 2, 3]);
    expect((await order(fan, queueToken, bought)).status).toBe(201);

    // The session is over (COMPLETED); the fan queues again and is admitted into a new journey.
    await eventually(async () => expect((await api.tokenStatus(fan, queueToken)).body.status).toBe('COMPLETED'));
    const again = await api.join(fan, concertId);
    expect(again).not.toBe(queueToken);
    await eventually(async () => expect((await api.tokenStatus(fan, again)).body.status).toBe('ACTIVE'));
    const answers = await Promise.all([4, 5, 6].map((seat) => api.hold(fan, again, scheduleIds[0], seat)));
    expect(answers.map((x) => x.status).sort()).toEqual([201, 409, 409]);
    for (const refused of answers.filter((x) => x.status === 409)) {
      expect(refused.body.code).toBe('PURCHASE_LIMIT_REACHED');
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
    }
    const [{ live }] = await stack.db.query(
      `SELECT count(*)::int AS live FROM reservations WHERE user_id = $1 AND concert_id = $2 AND status IN ('HELD', 'CONFIRMED')`,
      [fan.userId, concertId],
    );
    expect(live).toBe(4);
    // Giving a hold back frees its place in the allowance.
    const kept = answers.find((x) => x.status === 201)!;
    expect((await api.call('DELETE', `/reservations/${kept.body.reservationId}`, { fan })).status).toBe(200);
    expect((await api.hold(fan, again, scheduleIds[0], 7)).status).toBe(201);
    expect((await api.call('GET', `/admin/concerts/${concertId}/purchase-limit`, { admin: true })).body.maxSeatsPerFan).toBe(4);
  });
});
