import { HoldBook, view } from '../../workflows/hold-book';

const request = (reservationId: string, seatNumber = 1, scheduleId = 'schedule-1') => ({ reservationId, scheduleId, seatNumber });

describe('the hold book: a journey’s seats and where each one is', () => {
  it('a hold is live from its step on, answers with its seat once held, and is due at its deadline only when idle', () => {
    const book = new HoldBook();
    const hold = book.add(request('r1', 7), 1_000);
    expect(book.live()).toEqual([hold]);
    expect(book.due(5_000)).toEqual([]); // its step runs: nothing else touches it
    expect(book.nextDeadline()).toBeUndefined();
    book.held('r1', { seatId: '70', price: 50_000 });
    expect(view(hold)).toEqual({ reservationId: 'r1', scheduleId: 'schedule-1', seatId: '70', seatNumber: 7, price: 50_000, status: 'HELD', heldUntil: new Date(1_000).toISOString() });
    expect(book.due(999)).toEqual([]);
    expect(book.due(1_000)).toEqual([hold]);
    expect(book.nextDeadline()).toBe(1_000);
  });

  it('a refused hold is forgotten; one whose step failed without an answer stays live and comes due', () => {
    const book = new HoldBook();
    book.add(request('refused'), 1_000);
    book.refused('refused');
    expect(book.get('refused')).toBeUndefined();
    book.add(request('timed-out', 2), 2_000);
    const unknown = book.unknown('timed-out');
    expect(unknown.unknown).toBe(true);
    expect(book.live()).toEqual([unknown]);
    expect(book.due(2_000)).toEqual([unknown]);
    // Not shown to operators as a seat the journey holds until Postgres confirms it.
    expect(book.lookup().reservationIds).toEqual([]);
    book.retry('timed-out');
    book.held('timed-out', { seatId: '2', price: 10 });
    expect(book.get('timed-out')!.unknown).toBe(false);
    expect(book.lookup().reservationIds).toEqual(['timed-out']);
  });

  it('one step at a time on a hold: paying keeps the deadline off it; a failed payment gives it back', () => {
    const book = new HoldBook();
    book.add(request('r1'), 1_000);
    book.held('r1', { seatId: '1', price: 1 });
    book.begin('r1', 'paying');
    expect(() => book.begin('r1', 'releasing')).toThrow(/paying/);
    expect(book.due(10_000)).toEqual([]);
    expect(book.nextDeadline()).toBeUndefined();
    book.abandon('r1');
    expect(book.due(10_000).map((h) => h.reservationId)).toEqual(['r1']);
    book.begin('r1', 'paying');
    book.settle('r1', 'CONFIRMED');
    expect(book.live()).toEqual([]);
    expect(() => book.begin('r1', 'releasing')).toThrow(/CONFIRMED/);
  });

  it('the next deadline is the earliest idle one; ended holds drop out of it', () => {
    const book = new HoldBook();
    for (const [id, at] of [['a', 3_000], ['b', 1_000], ['c', 2_000]] as const) {
      book.add(request(id), at);
      book.held(id, { seatId: id, price: 1 });
    }
    expect(book.nextDeadline()).toBe(1_000);
    book.begin('b', 'releasing');
    expect(book.nextDeadline()).toBe(2_000);
    book.settle('b', 'EXPIRED');
    expect(book.due(2_500).map((h) => h.reservationId)).toEqual(['c']);
  });

  it('what operators look up is bounded by the live holds, however many came and went', () => {
    const book = new HoldBook();
    for (let i = 0; i < 60; i++) {
      book.add(request(`r${i}`, i), 1_000);
      book.held(`r${i}`, { seatId: String(i), price: 1 });
      if (i < 59) {
        book.begin(`r${i}`, 'releasing');
        book.settle(`r${i}`, 'CANCELLED');
      }
    }
    expect(book.lookup()).toEqual({ scheduleIds: ['schedule-1'], seats: ['schedule-1:59'], reservationIds: ['r59'] });
  });

  it('refuses to add a hold twice', () => {
    const book = new HoldBook();
    book.add(request('r1'), 1);
    expect(() => book.add(request('r1'), 1)).toThrow(/already/);
  });
});
