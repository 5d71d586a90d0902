import { DEFAULT_REFUND_POLICY, policyProblem, quoteRefund, type RefundPolicy } from '../../lib/refund-policy';

const HOUR = 3_600_000;
const show = new Date('2027-03-01T19:00:00Z');
const hoursBefore = (h: number) => new Date(show.getTime() - h * HOUR);

describe('refund policy', () => {
  it('the default: full refund until a week before, then 10 %, then 30 %, closed within a day', () => {
    expect(quoteRefund(DEFAULT_REFUND_POLICY, 50_000, show, hoursBefore(200))).toEqual({ open: true, feePercent: 0, fee: 0, refund: 50_000 });
    expect(quoteRefund(DEFAULT_REFUND_POLICY, 50_000, show, hoursBefore(168))).toMatchObject({ feePercent: 0, refund: 50_000 });
    expect(quoteRefund(DEFAULT_REFUND_POLICY, 50_000, show, hoursBefore(167.9))).toMatchObject({ feePercent: 10, fee: 5_000, refund: 45_000 });
    expect(quoteRefund(DEFAULT_REFUND_POLICY, 50_000, show, hoursBefore(72))).toMatchObject({ feePercent: 10 });
    expect(quoteRefund(DEFAULT_REFUND_POLICY, 50_000, show, hoursBefore(30))).toMatchObject({ feePercent: 30, fee: 15_000, refund: 35_000 });
    expect(quoteRefund(DEFAULT_REFUND_POLICY, 50_000, show, hoursBefore(24))).toMatchObject({ open: true, feePercent: 30 });
    expect(quoteRefund(DEFAULT_REFUND_POLICY, 50_000, show, hoursBefore(23.99))).toEqual({ open: false });
    expect(quoteRefund(DEFAULT_REFUND_POLICY, 50_000, show, hoursBefore(-1))).toEqual({ open: false });
  });

  it('rounds the fee down, so the fan never pays more than the stated percentage', () => {
    const policy: RefundPolicy = { cutoffHours: 0, tiers: [{ hoursBefore: 0, feePercent: 33 }] };
    expect(quoteRefund(policy, 1_001, show, hoursBefore(5))).toEqual({ open: true, feePercent: 33, fee: 330, refund: 671 });
    expect(quoteRefund(policy, 0, show, hoursBefore(5))).toMatchObject({ fee: 0, refund: 0 });
  });

  it('refuses a policy that leaves an open moment without a fee, or repeats a tier', () => {
    expect(policyProblem(DEFAULT_REFUND_POLICY)).toBeUndefined();
    expect(policyProblem({ cutoffHours: 24, tiers: [{ hoursBefore: 48, feePercent: 0 }] })).toMatch(/lowest hoursBefore/);
    expect(policyProblem({ cutoffHours: 24, tiers: [{ hoursBefore: 24, feePercent: 0 }, { hoursBefore: 24, feePercent: 5 }] })).toMatch(/once/);
    expect(policyProblem({ cutoffHours: 24, tiers: [] })).toMatch(/at least one/);
  });
});
