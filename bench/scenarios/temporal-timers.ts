import { mapLimit } from '../lib/load';
import { sleep } from '../lib/proc';
import type { Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import { percentile } from '../lib/stats';
import { withCpu } from '../lib/cpu';
import { rawTimer } from '../raw/workflows';

/** Holds per fan in mass-expiry (MAX_HOLDS_PER_FAN): each raw timer's workflow releases as many. */
export const HOLDS_PER_FAN = 4;
const START_CONCURRENCY = 16;

/**
 * The raw drain of many timers due at one instant: one workflow per mass-expiry fan, each sleeping
 * until the same instant, then 4 + 1 no-op local activities (a release per hold, the session's end).
 * The rate is timers done per second from the instant; latencies are how late each one finished.
 */
export const temporalTimers: Scenario = {
  name: 'temporal-timers',
  kind: 'ceiling',
  what: `one workflow per mass-expiry fan (--expiry-holds ÷ ${HOLDS_PER_FAN}), all sleeping until one instant, then ${HOLDS_PER_FAN} + 1 no-op local activities; rate = timers done per second after the instant`,
  usesRawWorker: true,
  async run(ctx) {
    await ctx.stack.rawWorker();
    const client = await ctx.stack.temporal();
    const timers = Math.ceil(ctx.sizes.expiryHolds / HOLDS_PER_FAN);
    const run = Date.now().toString(36);
    // Due once every workflow has surely started: a start alone is quicker than temporal-start's
    // (which awaits the workflow's task), so its rate, when measured, is a safe pace.
    const startRate = Math.max(20, ctx.results.get('temporal-start')?.[0]?.rate ?? 50);
    const dueAt = Date.now() + 2_000 + Math.ceil((timers / startRate) * 1000);
    const started = Date.now();
    await mapLimit(Array.from({ length: timers }), START_CONCURRENCY, (_, i) =>
      client.workflow.start(rawTimer, { taskQueue: BENCH.rawTaskQueue, workflowId: `raw-timer-${run}-${i}`, args: [dueAt, HOLDS_PER_FAN] }),
    );
    const startSeconds = (Date.now() - started) / 1000;
    const query = `WorkflowType = 'rawTimer'`; // one batch per run: the dev server lives as long as the run
    const { cpu, window } = await withCpu(async () => {
      await sleep(dueAt - Date.now());
      const deadline = Date.now() + 60_000 + timers * 100;
      while ((await client.workflow.count(`${query} AND ExecutionStatus = 'Completed'`)).count < timers) {
        if (Date.now() > deadline) throw new Error(`raw timers not all done ${((Date.now() - dueAt) / 1000).toFixed(0)} s after their instant`);
        await sleep(200);
      }
    });
    const late: number[] = [];
    for await (const w of client.workflow.list({ query })) late.push((w.closeTime?.getTime() ?? NaN) - dueAt);
    late.sort((a, b) => a - b);
    const drainSeconds = Math.max(late[late.length - 1], 1) / 1000;
    const remaining: Array<[number, number]> = late.map((ms, i) => [ms / 1000, 100 * (1 - (i + 1) / late.length)]);
    return [
      {
        name: 'temporal-timers',
        concurrency: timers,
        requests: timers,
        durationS: drainSeconds,
        rate: timers / drainSeconds,
        p50: percentile(late, 50),
        p95: percentile(late, 95),
        p99: percentile(late, 99),
        errors: late.filter((ms) => !Number.isFinite(ms)).length,
        statuses: {},
        notes: [
          `${timers} workflows started in ${startSeconds.toFixed(1)} s, all due at one instant; the last finished ${drainSeconds.toFixed(2)} s after it ` +
            `(${Math.round((timers * (HOLDS_PER_FAN + 1)) / drainSeconds)} local activities/s); latencies are ms after the instant`,
        ],
        cpu,
        window,
        series: { remaining: [[0, 100], ...remaining] },
      },
    ];
  },
};
