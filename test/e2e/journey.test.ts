import { findViolations } from '../../db/invariants';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('a fan’s whole journey through the API, the dev server, the worker and Postgres', () => {
  it('join → admitted → seats → hold → charge → pay leaves the seat SOLD and the books balanced', async () => {
    const { api, db } = stack;
    const { concertId, scheduleIds } = await api.createConcert(10, 70_000);
    const { fan, queueToken } = await api.admittedFan(concertId, 'Kim');

    const schedules = await api.call('GET', `/concerts/${concertId}/schedules`, { fan, queueToken });
    expect(schedules.status).toBe(200);
    expect(schedules.body.items).toEqual([expect.objectContaining({ scheduleId: scheduleIds[0], totalSeats: 10, availableSeats: 10 })]);

    const held = await api.hold(fan, queueToken, scheduleIds[0], 3);
    expect(held.status).toBe(201);
    expect(held.body).toMatchObject({ scheduleId: scheduleIds[0], seatNumber: 3, price: 70_000, status: 'HELD' });
    const [row] = await db.query('SELECT status, user_id FROM reservations WHERE id = $1', [held.body.reservationId]);
    expect(row).toEqual({ status: 'HELD', user_id: fan.userId });

    await api.charge(fan, 100_000);
    const paid = await api.pay(fan, queueToken, held.body.reservationId);
    expect(paid.status).toBe(201);
    expect(paid.body).toMatchObject({ reservationId: held.body.reservationId, amount: 70_000, status: 'COMPLETED', balance: 30_000 });

    // The session is COMPLETED now, so the booking endpoints refuse the token: the seat map once its
    // API process's check of the token (as old as the snapshot may be, ≤ 250 ms) has lapsed.
    await eventually(async () => {
      const seats = await api.call('GET', `/schedules/${scheduleIds[0]}/seats?status=SOLD`, { fan, queueToken: queueToken });
      expect(`${seats.status} ${seats.body.code}`).toBe('403 QUEUE_TOKEN_NOT_ACTIVE');
    });
    const reservation = await api.call('GET', `/reservations/${held.body.reservationId}`, { fan });
    expect(reservation.body).toMatchObject({ status: 'CONFIRMED', paymentId: paid.body.paymentId });
    const token = await api.tokenStatus(fan, queueToken);
    expect(token.body.status).toBe('COMPLETED');
    const ledger = await api.call('GET', '/wallet/transactions', { fan });
    expect(ledger.body.items.map((t: { type: string }) => t.type)).toEqual(['PAYMENT', 'CHARGE']);
    const [seat] = await db.query('SELECT status FROM seats WHERE schedule_id = $1 AND number = 3', [scheduleIds[0]]);
    expect(seat.status).toBe('SOLD');
    expect(await findViolations(db)).toEqual([]);
  });
});
