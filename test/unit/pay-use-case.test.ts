import type { ReservationStore, ReservationView } from '../../db/stores/reservations';
import type { WalletStore } from '../../db/stores/wallets';
import { DomainError } from '../../lib/domain-error';
import type { Journeys } from '../../lib/journeys';
import type { QueueTicket } from '../../queue/waiting-room';
import { createMetrics } from '../../api/metrics';
import { payUseCase } from '../../api/use-cases/pay';

const ticket: QueueTicket = { token: 't', concertId: 'c1', userId: 'u1', status: 'ACTIVE', position: 0, arrival: 1, activeUntil: Date.now() + 60_000, waiting: 0 };
const held: ReservationView = {
  reservationId: 'r1', concertId: 'c1', scheduleId: 's1', seatId: '1', seatNumber: 1, price: 100, status: 'HELD',
  heldUntil: new Date(Date.now() + 60_000).toISOString(), createdAt: new Date().toISOString(), userId: 'u1', journeyId: 'j1',
};

/** The use case over stand-ins: the journey refuses with `refusal`; the database has `outcome` for any payment id. */
function payWith(refusal: DomainError, outcome: Awaited<ReturnType<WalletStore['paymentOutcome']>>) {
  const reservations = { get: async () => held } as unknown as ReservationStore;
  const wallets = { paymentOutcome: async () => outcome } as unknown as WalletStore;
  const journeys = {
    pay: async () => {
      throw refusal;
    },
  } as unknown as Journeys;
  return payUseCase({ metrics: createMetrics(), reservations, wallets, journeys, maxSeatsPerOrder: 4 });
}

describe('a payment the journey refuses', () => {
  const completed = { status: 'COMPLETED' as const, paymentId: 'p1', reservationId: 'r1', reservationIds: ['r1'], amount: 100, balance: 0 };

  it.each(['PAYMENT_IN_PROGRESS', 'RESERVATION_NOT_PAYABLE', 'HOLD_EXPIRED'] as const)(
    'answers the receipt when the database has this payment completed (its purchase committed unseen): %s',
    async (code) => {
      expect(await payWith(new DomainError(code, 'refused'), completed)(ticket, 'r1')).toEqual(completed);
    },
  );

  it('keeps the refusal when the payment did not complete, or completed for other seats', async () => {
    await expect(payWith(new DomainError('PAYMENT_IN_PROGRESS', 'refused'), null)(ticket, 'r1')).rejects.toMatchObject({ code: 'PAYMENT_IN_PROGRESS' });
    await expect(payWith(new DomainError('RESERVATION_NOT_PAYABLE', 'refused'), { ...completed, reservationIds: ['r2'] })(ticket, 'r1')).rejects.toMatchObject({ code: 'RESERVATION_NOT_PAYABLE' });
  });
});
