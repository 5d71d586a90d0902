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
  /**
   * The amount and balance of an order that completed though its debit's answer never came (a
   * purchase, debit and confirm in one step, whose commit's answer was lost): asked only then.
   */
  receipt?(): Promise<{ amount: number; balance: number }>;
}

export type SagaOutcome = { sold: true; amount: number; balance: number } | { sold: false; error: unknown };

/**
 * Runs the saga to its end. The refund is registered before the debit (a debit whose answer was
 * lost may have taken the money), and compensations run to completion even if the caller is
 * cancelled (`runToEnd`: the journey passes `CancellationScope.nonCancellable`). A confirm whose
 * answer was lost may still have committed: the refund then answers ALREADY_COMPLETED and the sale
 * stands. A step that both debits and confirms (a purchase: `debit`, with a `confirm` that does
 * nothing) is one transaction: the refund then gives nothing back, it marks the order given up unless
 * the purchase committed, and a purchase that committed unseen is answered by `receipt`.
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
    if (outcomes.includes('ALREADY_COMPLETED')) {
      if (debited) return { sold: true, ...debited };
      if (steps.receipt) return { sold: true, ...(await runToEnd(steps.receipt)) };
    }
    return { sold: false, error };
  }
}
