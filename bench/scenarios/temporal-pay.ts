import type { Scenario } from '../lib/scenario';
import { rawPay } from '../raw/workflows';
import { rawUpdateLoad } from './temporal-update';

/** The journey's payment with the business work taken out: an update running two normal activities in sequence. */
export const temporalPay: Scenario = {
  name: 'temporal-pay',
  kind: 'ceiling',
  what: 'update running two no-op normal activities in sequence on a live workflow (the pay shape: debit, confirm), 10 clients over 200 workflows',
  reference: { rate: 73, label: '≈ 73' },
  usesRawWorker: true,
  run: (ctx) => rawUpdateLoad(ctx, 'temporal-pay', rawPay),
};
