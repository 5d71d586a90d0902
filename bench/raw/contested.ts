/**
 * The contested seat's raw shape: the least a hold refusal can cost on this machine. As many processes
 * as the API runs (node `cluster`, sharing the port), each a bare Hono app whose `POST /reservations`
 * does only what any correct refusal must: verify the bearer token (the API's `verifiedSubject`),
 * parse the JSON body, and run the product's own claim script (queue token, limit buckets and gate in
 * one Redis round trip), then answer. No validation schemas, middleware, metrics or logging.
 *
 * The gate it claims is a schedule of its own (RAW_SCHEDULE_ID, no row anywhere): the product's seat
 * stays free for the product's burst. The limit buckets are keys of its own, with limits nobody reaches.
 */
import cluster from 'node:cluster';
import { createSecretKey } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { verifiedSubject } from '../../api/auth';
import { createRedis } from '../../lib/redis';
import { defineQueueScripts } from '../../queue/scripts';
import { SeatGate } from '../../queue/seat-gate';

const processes = Number(process.env.API_PROCESSES ?? availableParallelism());

if (cluster.isPrimary && processes > 1) {
  for (let i = 0; i < processes; i++) cluster.fork();
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const secret = createSecretKey(Buffer.from(process.env.AUTH_SECRET ?? '', 'utf8'));
  const scheduleId = process.env.RAW_SCHEDULE_ID ?? '';
  const gate = new SeatGate(defineQueueScripts(createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0')));
  // The API's own verification (api/auth.ts, the key imported once as there), without its cache of
  // verified tokens: each contender's token is new to the process.
  const userOf = (authorization: string | undefined): string | null => verifiedSubject((authorization ?? '').slice('Bearer '.length), secret);

  const app = new Hono();
  app.post('/reservations', async (c) => {
    const userId = userOf(c.req.header('authorization'));
    if (!userId) return c.json({ code: 'UNAUTHORIZED' }, 401);
    const { seatNumber } = (await c.req.json()) as { seatNumber: number };
    const claim = await gate.claimWithToken(
      c.req.header('x-queue-token'),
      { userId, scheduleId, seatNumber, reservationId: crypto.randomUUID(), holdTtlMs: 300_000, graceMs: 1_000 },
      Date.now(),
      { keys: [`bench-raw:hold:user:${userId}`, 'bench-raw:hold:ip'], windowMs: 60_000, limits: [1e9, 1e9], bursts: [1e9, 1e9] },
    );
    if (claim.kind === 'claimed') return c.json({ status: 'HELD' }, 201);
    return c.json({ type: 'about:blank', title: 'Seat unavailable', status: 409, code: 'SEAT_UNAVAILABLE', detail: claim.kind }, 409);
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3198), hostname: '127.0.0.1' });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
