import { httpLoad } from '../lib/load';
import type { Scenario } from '../lib/scenario';

const CONNECTIONS = 16;

/** Charges serialized on ONE wallet row (+ a ledger row each): compared with pgbench on one hot row. */
export const walletCharge: Scenario = {
  name: 'wallet-charge',
  kind: 'product',
  what: `POST /wallet/charges {amount: 1} on one wallet, ${CONNECTIONS} connections`,
  ceilings: ['pg-hot-row'],
  targets: [{ label: 'hot wallet ≥ 40 % of pg-hot-row', minShareOf: { ceiling: 'pg-hot-row', share: 0.4 } }],
  async run(ctx) {
    await ctx.stack.product();
    const user = await ctx.api.createUser('bench-charger');
    const measured = await httpLoad({
      name: 'wallet-charge',
      url: ctx.stack.apiUrl,
      connections: CONNECTIONS,
      durationS: ctx.durationS,
      request: { method: 'POST', path: '/wallet/charges', headers: ctx.api.headers({ user, json: true }), body: JSON.stringify({ amount: 1 }) },
      ok: (s) => s === 201,
    });
    // Every 201 is in the balance; so are the charges still in flight when the window closed (≤ one per connection).
    const { balance } = await ctx.api.must(200, 'GET', '/wallet', { user });
    const charged = measured.statuses[201] ?? 0;
    const consistent = balance >= charged && balance <= charged + CONNECTIONS;
    measured.notes.push(`balance afterwards ${balance} for ${charged} answered charges of 1 (+ ≤ ${CONNECTIONS} in flight at the end): ${consistent ? 'consistent' : 'MISMATCH'}`);
    if (!consistent) measured.errors++;
    return [measured];
  },
};
