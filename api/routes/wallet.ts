import { createRoute, z } from '@hono/zod-openapi';
import { DomainError } from '../../lib/domain-error';
import type { RouteDeps } from '../deps';
import { ActionLimit, actionLimits } from '../rate-limit';
import { limited, router, secured } from '../router';
import { requireUser } from '../auth';
import { idempotent } from '../idempotency';
import { bearer, idempotencyHeader, limitQuery, problems, rateLimited } from '../schemas';

const Wallet = z.object({ userId: z.string(), balance: z.number().int() }).openapi('Wallet');
const Charge = z.object({ amount: z.number().int().min(1).max(10_000_000).openapi({ example: 50_000 }) }).openapi('Charge');
const Charged = z.object({ transactionId: z.string(), amount: z.number().int(), balance: z.number().int() }).openapi('Charged');
const LedgerEntry = z
  .object({
    transactionId: z.string(),
    type: z.enum(['CHARGE', 'PAYMENT', 'REFUND']),
    amount: z.number().int(),
    balanceAfter: z.number().int(),
    createdAt: z.string(),
    paymentId: z.string().optional(),
  })
  .openapi('LedgerEntry');
const LedgerPage = z.object({ items: z.array(LedgerEntry), nextCursor: z.string().optional() }).openapi('LedgerPage');

const getWallet = createRoute({
  method: 'get',
  path: '/wallet',
  tags: ['Wallet'],
  summary: 'The balance of my wallet',
  security: bearer,
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: Wallet } } }, ...problems(401, 404, 503) },
});

const chargeRoute = createRoute({
  method: 'post',
  path: '/wallet/charges',
  tags: ['Wallet'],
  summary: 'Charge my wallet',
  security: bearer,
  request: { headers: idempotencyHeader, body: { required: true, content: { 'application/json': { schema: Charge } } } },
  responses: { 201: { description: 'Charged', content: { 'application/json': { schema: Charged } } }, ...problems(400, 401, 404, 413, 422, 503), ...rateLimited },
});

const listTransactions = createRoute({
  method: 'get',
  path: '/wallet/transactions',
  tags: ['Wallet'],
  summary: 'My ledger, newest first',
  security: bearer,
  request: { query: z.object({ limit: limitQuery(50, 100), cursor: z.string().regex(/^\d{1,18}$/).optional() }) },
  responses: { 200: { description: 'OK', content: { 'application/json': { schema: LedgerPage } } }, ...problems(400, 401, 503) },
});

export function walletRoutes(deps: RouteDeps) {
  const app = router();
  const guards = { Bearer: requireUser(deps.config.AUTH_SECRET) };
  const { wallets, idempotency, chargeWallet } = deps.useCases;
  const chargeLimit = new ActionLimit(deps.redis, 'charge', actionLimits(deps.config, 'charge'));
  return app
    .openapi(secured(getWallet, guards), async (c) => {
      const userId = c.get('userId');
      const balance = await wallets.balance(userId);
      if (balance === null) throw new DomainError('NOT_FOUND', 'no wallet for this user');
      return c.json({ userId, balance }, 200);
    })
    .openapi(secured(limited(chargeRoute, chargeLimit), guards), async (c) => {
      const body = c.req.valid('json');
      return idempotent(c, idempotency, 'POST /wallet/charges', body, async (key) => ({
        status: 201,
        body: await chargeWallet(c.get('userId'), body.amount, key),
      })) as never;
    })
    .openapi(secured(listTransactions, guards), async (c) => {
      const { limit, cursor } = c.req.valid('query');
      return c.json(await wallets.transactions(c.get('userId'), limit, cursor), 200);
    });
}
