/**
 * The payment saga of one hold, apart from the journey that runs it: debit the wallet, confirm the
 * sale, and if anything fails after the refund is registered, give the money back. The steps come in
 * as functions (the journey passes its activities; unit tests pass fakes), so the saga's rules are
 * tested on their own (test/unit/payment-saga.test.ts).
 */
import type { RefundOutcome } from '../db/stores/wallets';

export interface PaymentSteps {
  debit(): Promise<{ amount: number; balance: number }>;
  confirm(): Promise<void>;
  refund(): Promise<RefundOutcome>;
}

export type SagaOutcome = { sold: true; amount: number; balance: number } | { sold: false; error: unknown };

/**
 * Runs the saga to its end. The refund is registered before the debit (a debit whose answer was
 * lost may have taken the money), and compensations run to completion even if the caller is
 * cancelled (`runToEnd`: the journey passes `CancellationScope.nonCancellable`). A confirm whose
 * answer was lost may still have committed: the refund then answers ALREADY_COMPLETED and the sale
 * stands.
 */
export async function runPaymentSaga(steps: PaymentSteps, runToEnd: <T>(work: () => Promise<T>) => Promise<T>): Promise<SagaOutcome> {
  const compensations: Array<() => Promise<RefundOutcome>> = [];
  let debited: { amount: number; balance: number } | undefined;
  try {
    compensations.unshift(() => steps.refund());
    debited = await steps.debit();
    await steps.confirm();
    return { sold: true, ...debited };
  } catch (error) {
    const outcomes = await runToEnd(async () => {
      const done: RefundOutcome[] = [];
      for (const compensate of compensations) done.push(await compensate());
      return done;
    });
    if (debited && outcomes.includes('ALREADY_COMPLETED')) return { sold: true, ...debited };
    return { sold: false, error };
  }
}
