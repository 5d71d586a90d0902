import { httpLoad } from '../lib/load';
import type { Scenario } from '../lib/scenario';

const CONNECTIONS = 50;

/** A primary-key read of one wallet through the whole API (auth, Postgres pool, JSON). */
export const walletRead: Scenario = {
  name: 'wallet-read',
  kind: 'product',
  what: `GET /wallet of one user, ${CONNECTIONS} connections`,
  ceilings: ['http'],
  async run(ctx) {
    await ctx.stack.product();
    const user = await ctx.api.createUser('bench-reader');
    return [
      await httpLoad({
        name: 'wallet-read',
        url: ctx.stack.apiUrl,
        connections: CONNECTIONS,
        durationS: ctx.durationS,
        warmupS: ctx.sizes.warmupS,
        request: { method: 'GET', path: '/wallet', headers: ctx.api.headers({ user }) },
        ok: (s) => s === 200,
      }),
    ];
  },
};
