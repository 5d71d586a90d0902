import { Api, outcome, type User } from '../lib/api';
import { withCpu } from '../lib/cpu';
import { mapLimit } from '../lib/load';
import { sleep, stopChild } from '../lib/proc';
import type { BenchContext, Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import { fmtMs, Recorder, type Measurement } from '../lib/stats';

/** The product's default per-user limit of costly actions (lib/config.ts ACTION_LIMIT_PER_USER), which this scenario measures. */
const ACTION_LIMIT_PER_USER = 12;
/** The product's default burst of it (ACTION_LIMIT_BURST_PER_USER). */
const ACTION_LIMIT_BURST_PER_USER = 4;
/**
 * An honest fan holds a seat, looks, lets it go, and tries again this often: 2 actions per period,
 * 12 a minute, the limit's own rate (ACTION_LIMIT_PER_USER = 12), so an honest fan is never refused.
 */
const HONEST_PERIOD_MS = 10_000;
const SETUP_CONCURRENCY = 20;
/** How long the loop runs before the honest fans are measured beside it. */
const LOOP_WARM_UP_MS = 10_000;

interface Booker extends User {
  queueToken: string;
  seatNumber: number;
}

/**
 * Issue 23's abuse loop: scripted fans loop hold/cancel on a free seat as fast as the API answers
 * (ignoring Retry-After, as a script would), while honest fans hold (and release) a seat every few
 * seconds. The honest holds' p95 is measured alone first, then under the loop. The API runs with the
 * product's default per-user action limit (the bench raises every other limit, and the per-address one
 * stays raised: all the bench's fans share one address), so the loopers are refused 429 in memory once
 * over it and the journeys' own budget is never reached.
 */
export const abuseLoop: Scenario = {
  name: 'abuse-loop',
  kind: 'product',
  what: 'honest fans POST /reservations (and release) every 10 s each, alone and then beside scripted fans looping hold/cancel; honest hold p95 alone vs under the loop',
  ceilings: ['temporal-update'],
  targets: [{ label: 'honest hold p95 under the loop ≤ 2 × alone (see the notes), no 5xx', noServerErrors: true }],
  async run(ctx) {
    const { url, child } = await ctx.stack.expiryApi(3600, { ACTION_LIMIT_PER_USER: String(ACTION_LIMIT_PER_USER), ACTION_LIMIT_BURST_PER_USER: String(ACTION_LIMIT_BURST_PER_USER) });
    try {
      const api = new Api(url, BENCH.adminKey);
      const honest = ctx.sizes.abuseHonestFans;
      const loopers = ctx.sizes.abuseLoopers;
      const { concertId, scheduleIds } = await api.createConcert('Bench: abuse loop', [{ seatCount: honest + loopers, price: 1_000 }]);
      const scheduleId = scheduleIds[0];
      const users = await ctx.fixtures.mintFans(honest + loopers, 'bench-abuse-', 0);
      const fans: Booker[] = await mapLimit(users, SETUP_CONCURRENCY, async (user, i) => ({
        ...user,
        queueToken: (await api.join(user, concertId)).token,
        seatNumber: i + 1,
      }));
      await ctx.fixtures.waitActive(fans);
      await ctx.stack.analyze();
      const honestFans = fans.slice(0, honest);
      const loopingFans = fans.slice(honest);

      const alone = await honestHolds(ctx, api, scheduleId, honestFans, 'abuse-loop alone');
      // The honest fans are measured beside a loop that runs steadily: each looping account's first
      // moments (its burst, ACTION_LIMIT_BURST_PER_USER actions at once) are spent before the window.
      const warmUpMs = Math.min(LOOP_WARM_UP_MS, (ctx.durationS * 1000) / 2);
      const stop = { at: performance.now() + warmUpMs + ctx.durationS * 1000 };
      const abusers = new Recorder();
      const [underLoop, loopSeconds] = await Promise.all([
        sleep(warmUpMs).then(() => honestHolds(ctx, api, scheduleId, honestFans, 'abuse-loop')),
        (async () => {
          const started = performance.now();
          await Promise.all(loopingFans.map((fan) => loop(api, scheduleId, fan, stop.at, abusers)));
          return (performance.now() - started) / 1000;
        })(),
      ]);
      const looped = abusers.summary('abuse-loop loopers', loopers, loopSeconds);
      const ratio = underLoop.p95 / alone.p95;
      underLoop.notes.push(
        `honest hold p95 ${fmtMs(underLoop.p95)} ms under the loop vs ${fmtMs(alone.p95)} ms alone: ${ratio.toFixed(2)}× ${ratio <= 2 ? '✓' : '✗'} (target ≤ 2×)`,
        `${loopers} loopers sent ${looped.requests} requests: ${Object.entries(looped.statuses).map(([s, n]) => `${n} × ${s}`).join(', ')}`,
      );
      return [underLoop, alone, looped];
    } finally {
      await stopChild(child);
    }
  },
};

/** Each honest fan holds its seat every `HONEST_PERIOD_MS` (timed) and releases it (untimed), for the measured window. */
async function honestHolds(ctx: BenchContext, api: Api, scheduleId: string, fans: Booker[], name: string): Promise<Measurement> {
  const recorder = new Recorder();
  const { result: seconds, cpu, window } = await withCpu(async () => {
    const started = performance.now();
    const deadline = started + ctx.durationS * 1000;
    // At least one hold per fan per window, however short the window (--smoke): within the burst.
    const period = Math.min(HONEST_PERIOD_MS, ctx.durationS * 1000);
    await Promise.all(
      fans.map(async (fan, i) => {
        await sleep((period * i) / fans.length); // spread evenly over the period
        while (performance.now() < deadline) {
          const t0 = performance.now();
          const held = await api.call('POST', '/reservations', { user: fan, queueToken: fan.queueToken, body: { scheduleId, seatNumber: fan.seatNumber } });
          recorder.record(performance.now() - t0, outcome(held), held.status === 201);
          if (held.status === 201) await api.call('DELETE', `/reservations/${held.body.reservationId}`, { user: fan });
          await sleep(Math.max(0, t0 + period - performance.now()));
        }
      }),
    );
    return (performance.now() - started) / 1000;
  });
  return { ...recorder.summary(name, fans.length, seconds), cpu, window };
}

/** A scripted fan: hold, cancel, hold, cancel… as fast as answers come, refusals included. */
async function loop(api: Api, scheduleId: string, fan: Booker, until: number, recorder: Recorder): Promise<void> {
  while (performance.now() < until) {
    const t0 = performance.now();
    const held = await api.call('POST', '/reservations', { user: fan, queueToken: fan.queueToken, body: { scheduleId, seatNumber: fan.seatNumber } });
    recorder.record(performance.now() - t0, `hold ${outcome(held)}`, held.status < 500);
    if (held.status !== 201) continue;
    const t1 = performance.now();
    const cancelled = await api.call('DELETE', `/reservations/${held.body.reservationId}`, { user: fan });
    recorder.record(performance.now() - t1, `cancel ${outcome(cancelled)}`, cancelled.status < 500);
  }
}
