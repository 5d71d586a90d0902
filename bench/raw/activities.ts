import type { JourneyActivities } from '../../activities/journey';

/** No-op activities: the ceilings measure Temporal's own cost of the shape, not any I/O. */
export const rawActivities = {
  async noop(n: number): Promise<number> {
    return n;
  },
};

/**
 * The fan journey's activities (activities/journey.ts) with the business work taken out: no
 * PostgreSQL, no Redis, answers shaped like the real ones. The journey floor rows
 * (bench/scenarios/temporal-journey.ts) run the product's own workflow on them.
 */
export const noopJourneyActivities: JourneyActivities = {
  async holdSeat(r) {
    return { reservationId: r.reservationId, seatId: String(r.seatNumber), price: 100, status: 'HELD', heldUntil: r.heldUntil };
  },
  async releaseHold() {
    return true;
  },
  async releaseHolds(r) {
    return r.holds.map((h) => h.reservationId);
  },
  async debitWallet() {
    return { amount: 100, balance: 0 };
  },
  async confirmPayment() {},
  async purchase() {
    return { amount: 100, balance: 0 };
  },
  async saleOf() {
    return null;
  },
  async refundPayment() {
    return 'REFUNDED';
  },
  async endIfNoShow() {
    return false;
  },
  async endSession() {},
};
