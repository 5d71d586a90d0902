/**
 * A concert's refund policy: how much of a ticket's price a fan gets back when they cancel, by how
 * long before the show they do it. Pure, so the API, the store and the tests share one reading of it.
 *
 * - Within `cutoffHours` of the show no cancellation is taken (CANCELLATION_CLOSED).
 * - Otherwise the tier with the greatest `hoursBefore` that the fan is still at or above applies:
 *   `{ hoursBefore: 72, feePercent: 0 }` is "a full refund until 72 hours before".
 * A show cancelled by the operator is always refunded in full, whatever the policy.
 */
export interface RefundTier {
  hoursBefore: number;
  feePercent: number;
}

export interface RefundPolicy {
  cutoffHours: number;
  tiers: RefundTier[];
}

/** Full refund until a week before, 10 % fee until 3 days before, 30 % until the day before; closed after. */
export const DEFAULT_REFUND_POLICY: RefundPolicy = {
  cutoffHours: 24,
  tiers: [
    { hoursBefore: 168, feePercent: 0 },
    { hoursBefore: 72, feePercent: 10 },
    { hoursBefore: 24, feePercent: 30 },
  ],
};

export type RefundQuote = { open: false } | { open: true; feePercent: number; fee: number; refund: number };

const HOUR_MS = 3_600_000;

/** What a fan who cancels at `at` gets back of `price` for a show starting at `startsAt`. */
export function quoteRefund(policy: RefundPolicy, price: number, startsAt: Date, at: Date): RefundQuote {
  const hoursLeft = (startsAt.getTime() - at.getTime()) / HOUR_MS;
  if (hoursLeft < policy.cutoffHours) return { open: false };
  const tier = [...policy.tiers].sort((a, b) => b.hoursBefore - a.hoursBefore).find((t) => hoursLeft >= t.hoursBefore);
  // A valid policy has a tier at or below the cut-off, so `tier` exists; the last tier is the safe reading.
  const feePercent = tier?.feePercent ?? policy.tiers[policy.tiers.length - 1]?.feePercent ?? 0;
  // The fee rounds down: the fan never pays more than the stated percentage.
  const fee = Math.floor((price * feePercent) / 100);
  return { open: true, feePercent, fee, refund: price - fee };
}

/** Why a policy an operator sent cannot be used, or undefined when it is sound. */
export function policyProblem(policy: RefundPolicy): string | undefined {
  if (!policy.tiers.length) return 'refundPolicy.tiers: at least one tier is needed';
  const hours = policy.tiers.map((t) => t.hoursBefore);
  if (new Set(hours).size !== hours.length) return 'refundPolicy.tiers: each hoursBefore may appear once';
  if (Math.min(...hours) > policy.cutoffHours) {
    return 'refundPolicy.tiers: the lowest hoursBefore must not exceed cutoffHours (every open moment needs a fee)';
  }
  return undefined;
}
