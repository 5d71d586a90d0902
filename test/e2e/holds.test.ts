import { randomUUID } from 'node:crypto';
import { findViolations } from '../../db/invariants';
import { eventually } from '../support/eventually';
import { journeyStory } from '../support/history';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  // Short holds so that expiry happens within the test; the grace stays the product's kind of value.
  stack = await startStack({ HOLD_TTL_SECONDS: '5', HOLD_GRACE_SECONDS: '1' });
});
afterAll(async () => {
  expect(await findViolations(stack.db)).toEqual([]);
  await stack?.stop();
});

describe('seat holds through the API', () => {
  it('30 admitted fans race for one seat: one 201, 29 SEAT_UNAVAILABLE', async () => {
    const { api } = stack;
    // As many seats as fans: admission lets in no more fans than seats left (issue 21).
    const { concertId, scheduleIds } = await api.createConcert(30);
    const fans = await Promise.all(Array.from({ length: 30 }, (_, i) => api.admittedFan(concertId, `racer-${i}`)));
    const answers = await Promise.all(fans.map(({ fan, queueToken }) => api.hold(fan, queueToken, scheduleIds[0], 5)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    const losers = answers.filter((a) => a.status !== 201);
    expect(losers).toHaveLength(29);
    expect(losers.every((a) => a.status === 409 && a.body.code === 'SEAT_UNAVAILABLE')).toBe(true);
    const rows = await stack.db.query(`SELECT count(*)::int AS n FROM reservations WHERE schedule_id = $1`, [scheduleIds[0]]);
    expect(rows[0].n).toBe(1); // no row left behind for a loser
  });

  it('a hold expires by itself: the seat is AVAILABLE again and the reservation EXPIRED', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(3);
    const { fan, queueToken } = await api.admittedFan(concertId);
    const held = await api.hold(fan, queueToken, scheduleIds[0], 2);
    expect(held.status).toBe(201);
    const counts = async () => (await api.call('GET', `/concerts/${concertId}/schedules`, { fan, queueToken })).body.items[0].availableSeats;
    expect(await counts()).toBe(2);
    const seat = async () => (await api.call('GET', `/schedules/${scheduleIds[0]}/seats`, { fan, queueToken })).body.items[1].status;
    expect(await seat()).toBe('HELD');
    await eventually(async () => expect((await api.call('GET', `/reservations/${held.body.reservationId}`, { fan })).body.status).toBe('EXPIRED'));
    expect(await seat()).toBe('AVAILABLE');
    expect(await counts()).toBe(3);
    // The journey's history tells the story: the hold update, then the release by the timer. The
    // release commits in Postgres before the workflow task that records it completes, so the test
    // waits for the recorded event itself, not for the row.
    const [row] = await stack.db.query('SELECT journey_id FROM reservations WHERE id = $1', [held.body.reservationId]);
    await eventually(async () => expect(await journeyStory(stack.temporal, row.journey_id)).toEqual(['update:hold', 'holdSeat', 'releaseHolds']));
    // And the seat can be held again.
    expect((await api.hold(fan, queueToken, scheduleIds[0], 2)).status).toBe(201);
  });

  it('cancel releases at once; only the owner may read or cancel; a fifth live hold is refused', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(10);
    const { fan, queueToken } = await api.admittedFan(concertId, 'owner');
    const { fan: other } = await api.admittedFan(concertId, 'other');
    const holds: Array<{ reservationId: string }> = [];
    for (const seat of [1, 2, 3, 4]) holds.push((await api.hold(fan, queueToken, scheduleIds[0], seat)).body);
    const fifth = await api.hold(fan, queueToken, scheduleIds[0], 5);
    expect(fifth.status).toBe(409);
    expect(fifth.body.code).toBe('HOLD_LIMIT_REACHED');

    expect((await api.call('GET', `/reservations/${holds[0].reservationId}`, { fan: other })).body.code).toBe('FORBIDDEN');
    expect((await api.call('DELETE', `/reservations/${holds[0].reservationId}`, { fan: other })).body.code).toBe('FORBIDDEN');
    expect((await api.call('GET', `/reservations/${randomUUID()}`, { fan })).body.code).toBe('NOT_FOUND');

    const cancelled = await api.call('DELETE', `/reservations/${holds[0].reservationId}`, { fan });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('CANCELLED');
    expect((await api.call('DELETE', `/reservations/${holds[0].reservationId}`, { fan })).body.code).toBe('RESERVATION_NOT_HELD');
    const seats = await api.call('GET', `/schedules/${scheduleIds[0]}/seats?limit=2`, { fan, queueToken });
    expect(seats.body.items[0]).toMatchObject({ seatNumber: 1, status: 'AVAILABLE' });
    expect(seats.body.nextCursor).toBe('2');

    const mine = await api.call('GET', '/reservations?status=CANCELLED', { fan });
    expect(mine.body.items.map((r: { reservationId: string }) => r.reservationId)).toEqual([holds[0].reservationId]);
    const listed = await api.call('GET', '/reservations?limit=2', { fan });
    expect(listed.body.items).toHaveLength(2);
    const rest = await api.call('GET', `/reservations?limit=2&cursor=${listed.body.nextCursor}`, { fan });
    expect(rest.body.items).toHaveLength(2);
    expect(rest.body.nextCursor).toBeUndefined();
  });

  it('a retried hold with the same Idempotency-Key replays the first answer', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(5);
    const { fan, queueToken } = await api.admittedFan(concertId);
    const key = { 'idempotency-key': randomUUID() };
    const first = await api.hold(fan, queueToken, scheduleIds[0], 1, key);
    const again = await api.hold(fan, queueToken, scheduleIds[0], 1, key);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const other = await api.hold(fan, queueToken, scheduleIds[0], 2, key);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });
});
