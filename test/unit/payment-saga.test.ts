import type { RefundOutcome } from '../../db/stores/wallets';
import { runPaymentSaga, type PaymentSteps } from '../../workflows/payment-saga';

const refusal = (code: string) => Object.assign(new Error(code), { code });

/** Steps that record their order and fail as told. */
function steps(fail: { debit?: Error; confirm?: Error; refund?: RefundOutcome } = {}) {
  const calls: string[] = [];
  const saga: PaymentSteps = {
    debit: async () => {
      calls.push('debit');
      if (fail.debit) throw fail.debit;
      return { amount: 100, balance: 900 };
    },
    confirm: async () => {
      calls.push('confirm');
      if (fail.confirm) throw fail.confirm;
    },
    refund: async () => {
      calls.push('refund');
      return fail.refund ?? 'REFUNDED';
    },
  };
  return { calls, saga };
}

const runToEnd = <T>(work: () => Promise<T>) => work();

describe('the payment saga', () => {
  it('debit then confirm: sold, nothing compensated', async () => {
    const { calls, saga } = steps();
    expect(await runPaymentSaga(saga, runToEnd)).toEqual({ sold: true, amount: 100, balance: 900 });
    expect(calls).toEqual(['debit', 'confirm']);
  });

  it('a failed confirm refunds the debit and reports the confirm’s failure', async () => {
    const failure = refusal('RESERVATION_NOT_PAYABLE');
    const { calls, saga } = steps({ confirm: failure });
    expect(await runPaymentSaga(saga, runToEnd)).toEqual({ sold: false, error: failure });
    expect(calls).toEqual(['debit', 'confirm', 'refund']);
  });

  it('a failed debit still runs the refund (its answer may have been lost after the money moved)', async () => {
    const failure = refusal('INSUFFICIENT_BALANCE');
    const { calls, saga } = steps({ debit: failure, refund: 'NOTHING_DEBITED' });
    expect(await runPaymentSaga(saga, runToEnd)).toEqual({ sold: false, error: failure });
    expect(calls).toEqual(['debit', 'refund']);
  });

  it('a confirm whose answer was lost but which committed: the refund says so and the sale stands', async () => {
    const { calls, saga } = steps({ confirm: new Error('timeout'), refund: 'ALREADY_COMPLETED' });
    expect(await runPaymentSaga(saga, runToEnd)).toEqual({ sold: true, amount: 100, balance: 900 });
    expect(calls).toEqual(['debit', 'confirm', 'refund']);
  });

  it('a purchase (debit and confirm in one step) whose commit went unseen: the give-up finds it completed and the receipt answers', async () => {
    const { calls, saga } = steps({ debit: new Error('timeout'), refund: 'ALREADY_COMPLETED' });
    saga.receipt = async () => {
      calls.push('receipt');
      return { amount: 100, balance: 900 };
    };
    expect(await runPaymentSaga(saga, runToEnd)).toEqual({ sold: true, amount: 100, balance: 900 });
    expect(calls).toEqual(['debit', 'refund', 'receipt']);
  });

  it('a debit whose answer never came, without a receipt step: not sold, as before purchases', async () => {
    const failure = new Error('timeout');
    const { calls, saga } = steps({ debit: failure, refund: 'ALREADY_COMPLETED' });
    expect(await runPaymentSaga(saga, runToEnd)).toEqual({ sold: false, error: failure });
    expect(calls).toEqual(['debit', 'refund']);
  });

  it('compensations run inside the caller’s run-to-the-end scope', async () => {
    const { saga } = steps({ confirm: new Error('down') });
    const scoped: string[] = [];
    await runPaymentSaga(saga, async (work) => {
      scoped.push('entered');
      return work();
    });
    expect(scoped).toEqual(['entered']);
  });
});
