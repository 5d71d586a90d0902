/**
 * The ticket-open rush, end to end, as an open arrival model (bench/rush/generator.ts): fans arrive
 * at a fixed rate whatever the API does, join, poll as `Retry-After` says, and once admitted list
 * the seats, hold one and pay, with the adaptive admission valve on. Users are minted in SQL and their
 * tokens signed here (bench/lib/users.ts); every join, poll, hold and payment goes through the API.
 */
import { queueKeys } from '../../queue/keys';
import { admissionWorkflowId, queueStateQuery } from '../../workflows/definitions';
import { CpuMeter, type CpuUsage } from '../lib/cpu';
import { SEAT_PRICE } from '../lib/fixtures';
import { linePlot } from '../lib/plots';
import type { Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import { fmtMs, fmtRate, maxOf, minOf, type Measurement } from '../lib/stats';
import { assertSameTokens, mintUsers } from '../lib/users';
import { launchFleet, runFleet, rushTask, RUSH_CONNECTIONS, RUSH_VALVE } from '../rush/fleet';
import type { GeneratorResult } from '../rush/protocol';
import { merge, OK, opMeasurement, peak, percentileOver, perSecond, series, served, type Merged } from '../rush/timeline';

const LATENCY_WINDOW_S = 5;
const HOLD_TARGET_MS = 500;

interface QueueSample {
  t: number;
  admitted: number;
  waiting: number;
  active: number;
  admitPerSecond?: number;
  lastAdjustment?: { at: string; from: number; to: number; reason: string };
  cpu: CpuUsage;
}

export const rush: Scenario = {
  name: 'rush',
  kind: 'product',
  what: 'open model: fans arrive at a fixed rate (--rush-users over --rush-seconds), join, poll as Retry-After says; admitted fans list seats, hold and pay; adaptive admission on',
  ceilings: ['http'],
  targets: [
    { row: 'rush join', label: 'every arrival’s join answered (none refused, failed or left unsent), no 5xx', maxErrors: 0, noServerErrors: true },
    { row: 'rush poll', label: 'no 5xx', noServerErrors: true },
    { row: 'rush hold', label: 'p95 ≤ 500 ms (the valve’s target), no 5xx', maxP95: HOLD_TARGET_MS, noServerErrors: true },
  ],
  async run(ctx) {
    const size = ctx.sizes.rush;
    await ctx.stack.product();
    const { api } = ctx;
    const { concertId, scheduleIds } = await api.createConcert('Bench: rush', [{ seatCount: size.seats, price: SEAT_PRICE }]);
    await ctx.stack.analyze();
    const steered = await api.must(200, 'PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { adaptive: true, ...RUSH_VALVE } });
    // The valve is another change's; a build without it ignores the fields and runs at the fixed rate.
    const adaptive = steered.adaptive === true;

    const db = await ctx.stack.db();
    await assertSameTokens('00000000-0000-4000-8000-000000000000', BENCH.authSecret);
    const minted = Date.now();
    const userIds = await mintUsers(db, size.users, 'rush-', 2 * SEAT_PRICE);
    console.log(`[bench]   ${size.users.toLocaleString('en-US')} users minted in ${((Date.now() - minted) / 1000).toFixed(1)} s`);

    const task = rushTask(size, { apiUrl: ctx.stack.apiUrl, concertId, scheduleId: scheduleIds[0] });
    const { stopAfterSeconds } = task;
    const fleet = await launchFleet('rush', size.generators, userIds, task);

    // Every second of the run: admissions (Redis: arrivals so far − still waiting), the valve, the CPU.
    const k = queueKeys(concertId);
    const controller = (await ctx.stack.temporal()).workflow.getHandle(admissionWorkflowId(concertId));
    const startSampling = () => {
      const meter = new CpuMeter();
      return async (tick: number): Promise<QueueSample> => {
        const [[, seq], [, waiting], [, active]] = (await ctx.stack.redis.multi().get(k.seq).zcard(k.waiting).zcount(k.active, `(${Date.now()}`, '+inf').exec())!;
        // The controller's own view, asked of Temporal directly: the API may be saturated by the rush.
        const state: Pick<QueueSample, 'admitPerSecond' | 'lastAdjustment'> = await controller.query(queueStateQuery).catch(() => ({}));
        return {
          t: tick,
          admitted: Number(seq ?? 0) - Number(waiting),
          waiting: Number(waiting),
          active: Number(active),
          admitPerSecond: state.admitPerSecond,
          lastAdjustment: state.lastAdjustment,
          cpu: meter.read(),
        };
      };
    };
    const { results, samples, window } = await runFleet(fleet, startSampling, (s) =>
      `[bench]   t=${s.t}s waiting ${s.waiting.toLocaleString('en-US')} · admitted ${s.admitted} · rate ${s.admitPerSecond ?? '?'}/s · api ${s.cpu.api}% · generators+bench ${s.cpu.bench}%`);
    // Later scenarios run on a quiet stack: nobody more is admitted to the rush.
    await api.setQueue(concertId, { paused: true });

    const merged = merge(results);
    const rows = measurements(merged, results, samples, { size, stopAfterSeconds, adaptive, budget: task.pollBudgetPerSecond });
    rows[0].window = window;
    const checked = Date.now();
    const violations = await ctx.stack.checkInvariants().catch((err: Error) => [{ invariant: `the check itself failed: ${err.message}`, rows: [] }]);
    rows[0].notes.push(
      violations.length
        ? `invariants VIOLATED: ${violations.map((v) => `${v.invariant} (${v.rows.length} rows)`).join('; ')}`
        : `invariants (db/invariants.ts) hold after the rush ✓ (checked in ${((Date.now() - checked) / 1000).toFixed(0)} s)`,
    );
    const fiveHundreds = Object.values(merged.outcomes).reduce((n, o) => n + Object.entries(o).filter(([k]) => /^5\d\d/.test(k)).reduce((a, [, v]) => a + v, 0), 0);
    rows[0].notes.push(fiveHundreds ? `${fiveHundreds} answers were 5xx ✗` : 'no 5xx ✓');
    const failures = [violations.length ? 'an invariant does not hold after the rush' : '', fiveHundreds ? `${fiveHundreds} answers were 5xx` : ''].filter(Boolean);
    if (failures.length) rows[0].failure = failures.join('; ');
    return rows;
  },
};

function measurements(
  m: Merged,
  results: GeneratorResult[],
  queue: QueueSample[],
  run: { size: { users: number; seconds: number; generators: number }; stopAfterSeconds: number; adaptive: boolean; budget: number },
): Measurement[] {
  const { size, stopAfterSeconds: window } = run;
  // The plots end with the last answer (the drain after the window is usually short).
  let lastAnswer = window;
  for (const op of Object.values(m.samples)) for (const t of op.done) if (t > lastAnswer) lastAnswer = t;
  const horizon = Math.ceil(lastAnswer) + 1;
  const offeredRate = size.users / size.seconds;
  const connections = size.generators * (RUSH_CONNECTIONS.waiting + RUSH_CONNECTIONS.booking);

  // Joins: the rate achieved is the served joins over the time they took (arrivals ran for `seconds`).
  const joins = served(m.samples.join, OK.join);
  const lastJoin = maxOf(joins.at, size.seconds);
  const join = opMeasurement('rush join', 'join', m, lastJoin, connections);
  join.concurrency = 'open';
  const rows = [
    join,
    opMeasurement('rush poll', 'poll', m, window, connections),
    opMeasurement('rush seats', 'seats', m, window, connections),
    opMeasurement('rush hold', 'hold', m, window, connections),
    opMeasurement('rush pay', 'pay', m, window, connections),
  ];
  for (const row of rows.slice(1)) row.concurrency = 'open';
  const admitted = queue.length ? queue[queue.length - 1].admitted : m.admittedAt.length;
  rows.push({
    name: 'rush admissions',
    concurrency: 'open',
    requests: admitted,
    durationS: window,
    rate: admitted / window,
    p50: NaN,
    p95: NaN,
    p99: NaN,
    errors: 0,
    statuses: {},
    notes: [],
  });

  // Over time.
  const due = perSecond(m.samples.join.due, horizon);
  const sent = perSecond(m.samples.join.sent, horizon);
  const joinsServed = perSecond(joins.at, horizon);
  const polls = served(m.samples.poll, OK.poll);
  const pollsServed = perSecond(polls.at, horizon);
  const holds = served(m.samples.hold, OK.hold);
  const pays = served(m.samples.pay, OK.pay);
  const admissions: Array<[number, number]> = queue.map((s, i) => [s.t - 1, s.admitted - (i ? queue[i - 1].admitted : 0)]);
  const p = (s: { at: number[]; ms: number[] }, q: number) => percentileOver(s.at, s.ms, horizon, LATENCY_WINDOW_S, q);
  const generatorCpu: Array<[number, number]> = [];
  for (let t = 0; t < maxOf(results.map((r) => r.seconds.length), 0); t++) generatorCpu.push([t, results.reduce((n, r) => n + (r.seconds[t]?.cpu ?? 0), 0)]);
  const plots = [
    linePlot('rush-throughput', 'Rush: arrivals and polls per second', {
      yTitle: 'per second',
      series: [series('arrivals offered', due), series('joins sent', sent), series('joins answered', joinsServed), series('polls answered', pollsServed)],
      marker: { y: run.budget, label: `poll budget ${run.budget.toLocaleString('en-US')}/s` },
    }),
    linePlot('rush-latency', `Rush: join and poll latency (p50 / p95 per ${LATENCY_WINDOW_S} s, from when due)`, {
      yTitle: 'ms (log)',
      log: true,
      series: [series('join p50', p(joins, 50)), series('join p95', p(joins, 95)), series('poll p50', p(polls, 50)), series('poll p95', p(polls, 95))],
    }),
    linePlot('rush-admission', 'Rush: admissions, holds and payments per second, and the valve’s rate', {
      yTitle: 'per second',
      series: [
        series('admitted (Redis)', admissions),
        ...(queue.some((s) => s.admitPerSecond !== undefined) ? [series(`admitPerSecond (${run.adaptive ? 'adaptive' : 'fixed'})`, queue.map((s) => [s.t - 1, s.admitPerSecond ?? NaN] as [number, number]))] : []),
        series('holds (201)', perSecond(holds.at, horizon)),
        series('payments (201)', perSecond(pays.at, horizon)),
      ],
    }),
    linePlot('rush-booking-latency', `Rush: seat list, hold and payment p95 per ${LATENCY_WINDOW_S} s`, {
      yTitle: 'ms',
      series: [series('seats p95', p(served(m.samples.seats, OK.seats), 95)), series('hold p95', p(holds, 95)), series('pay p95', p(pays, 95))],
      marker: { y: HOLD_TARGET_MS, label: `hold p95 target ${HOLD_TARGET_MS} ms` },
    }),
    linePlot('rush-cpu', 'Rush: CPU by process (% of one core; the box has 200 %)', {
      yTitle: '% of one core',
      series: [
        ...(['api', 'worker', 'temporal', 'postgres', 'redis', 'others'] as const).map((role) => series(role, queue.map((s) => [s.t - 1, s.cpu[role]] as [number, number]))),
        series('load generators', generatorCpu),
      ],
    }),
  ];
  rows[0].plots = plots;

  // In words.
  const cpuMean = (role: keyof CpuUsage) => Math.round(queue.reduce((n, s) => n + s.cpu[role], 0) / Math.max(queue.length, 1));
  const genSeconds = results.flatMap((r) => r.seconds);
  const gen = {
    cpu: Math.round(generatorCpu.reduce((n, [, c]) => n + c, 0) / Math.max(generatorCpu.length, 1)),
    cpuPeak: peak(generatorCpu),
    loop: maxOf(genSeconds.map((s) => s.loopDelayP99), 0),
    queued: maxOf(genSeconds.map((s) => s.queued), 0),
    rss: maxOf(genSeconds.map((s) => s.rssMb), 0),
  };
  const sentOnTime = m.samples.join.sent.filter((s, i) => s - m.samples.join.due[i] < 0.1).length;
  // Issue 19 asks that none is left unsent when the arrivals end: those sent after the last arrival.
  const sentAfterArrivals = m.samples.join.sent.filter((s) => s >= size.seconds);
  const rates = queue.map((s) => s.admitPerSecond).filter((r): r is number => r !== undefined);
  const kept = admittedOfAllowed(queue);
  const adjustments = [...new Map(queue.filter((s) => s.lastAdjustment).map((s) => [s.lastAdjustment!.at, s.lastAdjustment!])).values()];
  const words = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v.toLocaleString('en-US')}`).join(', ');
  rows[0].notes.push(
    `offered ${size.users.toLocaleString('en-US')} arrivals over ${size.seconds} s = ${fmtRate(offeredRate)}/s (open model, ${size.generators} generator process${size.generators > 1 ? 'es' : ''}); ` +
      `joins sent within 100 ms of their arrival: ${sentOnTime.toLocaleString('en-US')}; sent after the arrivals ended (${size.seconds} s): ` +
      `${sentAfterArrivals.length.toLocaleString('en-US')}${sentAfterArrivals.length ? `, the last at ${maxOf(sentAfterArrivals, 0).toFixed(1)} s` : ' ✓'}; ` +
      `peak sent ${fmtRate(peak(sent))}/s; answered ${joins.at.length.toLocaleString('en-US')} ` +
      `(${fmtRate(join.rate)}/s until the last answer at ${lastJoin.toFixed(0)} s, peak ${fmtRate(peak(joinsServed))}/s)`,
    `polls: ${fmtRate(rows[1].rate)}/s on average over the ${window} s run, peak ${fmtRate(peak(pollsServed))}/s, budget ${run.budget.toLocaleString('en-US')}/s (QUEUE_POLL_BUDGET_PER_SECOND)`,
    `admission: ${admitted.toLocaleString('en-US')} fans admitted (${fmtRate(admitted / window)}/s, peak ${fmtRate(peak(admissions))}/s); valve ${run.adaptive ? `adaptive in [${RUSH_VALVE.minAdmitPerSecond}, ${RUSH_VALVE.maxAdmitPerSecond}], started at ${RUSH_VALVE.admitPerSecond}/s` : `NOT available in this build: fixed ${RUSH_VALVE.admitPerSecond}/s`}` +
      (rates.length ? `; admitPerSecond min ${minOf(rates)}, max ${maxOf(rates)}, at the end ${rates[rates.length - 1]}` : '') +
      (kept.allowed > 0 ? `; while fans waited ${kept.admitted.toLocaleString('en-US')} admitted of the ${Math.round(kept.allowed).toLocaleString('en-US')} the valve's rate allowed (${Math.round((100 * kept.admitted) / kept.allowed)} %)` : '') +
      (adjustments.length ? `; ${adjustments.length} adjustments seen, the last: ${adjustments[adjustments.length - 1].from} → ${adjustments[adjustments.length - 1].to} (${adjustments[adjustments.length - 1].reason})` : ''),
    `hold p95 per ${LATENCY_WINDOW_S} s: worst ${fmtMs(peak(p(holds, 95)))} ms (target ≤ ${HOLD_TARGET_MS} ms); pay p95 worst ${fmtMs(peak(p(pays, 95)))} ms`,
    ...(['join', 'poll', 'seats', 'hold', 'pay'] as const).map((op) => `${op} answers: ${words(m.outcomes[op]) || 'none'}`),
    `fans' endings: ${words(m.endings)}`,
    `load generators: ${gen.cpu}% of a core on average (peak ${gen.cpuPeak}%), event-loop delay p99 up to ${gen.loop} ms, memory up to ${gen.rss} MiB, up to ${gen.queued.toLocaleString('en-US')} requests waiting for one of their ${connections} connections; ` +
      `mean CPU during the run: api ${cpuMean('api')}%, worker ${cpuMean('worker')}%, temporal ${cpuMean('temporal')}%, postgres ${cpuMean('postgres')}%, redis ${cpuMean('redis')}%, bench ${cpuMean('bench')}%, others ${cpuMean('others')}%, idle ${cpuMean('idle')}%`,
  );
  rows[0].cpu = averageCpu(queue.map((s) => s.cpu));
  return rows;
}

/**
 * Fans admitted while fans waited, against what the valve's rate allowed meanwhile (its rate at each
 * sample times the seconds to the next): a controller that keeps its rate admits ~100 % of it, unless
 * maxActive or the seats left hold admission back.
 */
export function admittedOfAllowed(queue: Pick<QueueSample, 't' | 'admitted' | 'waiting' | 'admitPerSecond'>[]): { admitted: number; allowed: number } {
  let admitted = 0;
  let allowed = 0;
  for (let i = 1; i < queue.length; i++) {
    const [from, to] = [queue[i - 1], queue[i]];
    if (from.waiting === 0 || from.admitPerSecond === undefined) continue;
    admitted += to.admitted - from.admitted;
    allowed += from.admitPerSecond * (to.t - from.t);
  }
  return { admitted, allowed };
}

function averageCpu(readings: CpuUsage[]): CpuUsage | undefined {
  if (!readings.length) return undefined;
  const out = { ...readings[0] };
  for (const key of Object.keys(out) as Array<keyof CpuUsage>) out[key] = Math.round(readings.reduce((n, r) => n + r[key], 0) / readings.length);
  return out;
}
