import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { loadConfig } from '../../lib/config';
import { journeySettings, journeyStartOptions } from '../../lib/journeys';
import { holdUpdate, journeyInput, journeyWorkflowId, payUpdate, type JourneyInput } from '../../workflows/definitions';
import { QUIET_TIMEOUT_MS, quietTemporal } from '../lib/cpu';
import { describeShape, historyShape } from '../lib/history-shape';
import { interleavedLoops, mapLimit } from '../lib/load';
import type { BenchContext, Scenario } from '../lib/scenario';
import { BENCH, productEnv } from '../lib/stack';
import { rawHold, rawPay } from '../raw/workflows';
import { rawSessions } from './temporal-update';

const CONCURRENCY = 10;
/**
 * Each floor row runs in turns with its raw shape (a second row): this many windows each, so the two
 * rates compare on the same minutes. The ceilings of the product rows stay the raw shapes' own rows.
 */
const SLICES = 4;
/** As the `hold` row: round-robin over the journeys, at most this many holds each. */
const MAX_HOLDS_PER_JOURNEY = 3;

// The journey floor: the product's own journey workflow (workflows/fan-journey.ts, its commands,
// timers, search attributes and close) run by the raw worker on no-op activities
// (bench/raw/activities.ts) and driven by a bare Temporal client, as the API drives it. What the
// `hold` and `pay` rows spend beyond these rows is the business work (HTTP, tokens, gates, limits,
// PostgreSQL, Redis); what these rows spend beyond temporal-update and temporal-pay is the journey's
// own Temporal and worker work (Update-with-Start, the deadline timer, search attributes, the
// session's end and the workflow's close).

/**
 * Journeys started as admission starts them, with the settings the bench gives the product (a window
 * as long as ACTIVE_TOKEN_TTL_SECONDS), their first tasks done before anything is measured.
 */
async function startJourneys(client: Client, count: number): Promise<JourneyInput[]> {
  const config = loadConfig(productEnv());
  const run = Date.now().toString(36);
  const activeUntil = Date.now() + config.ACTIVE_TOKEN_TTL_SECONDS * 1000;
  const inputs = Array.from({ length: count }, (_, i) =>
    journeyInput({ concertId: `floor-${run}`, userId: `floor-${run}-${i}`, arrival: i + 1, activeUntil }, journeySettings(config)),
  );
  await mapLimit(inputs, CONCURRENCY, (input) => client.workflow.start('fanJourney', journeyStartOptions(input, BENCH.rawTaskQueue)));
  await settled(count);
  return inputs;
}

/** The note that puts a floor next to its raw shape measured in turns with it. */
const inTurns = (floor: number, raw: number, shape: string) =>
  `in turns with ${shape} (same minutes): floor ${Math.round(floor)}/s ÷ raw ${Math.round(raw)}/s = ${Math.round((floor / raw) * 100)} %`;

/** Waits for the after-effects of `tasks` journey tasks to end (a smoke run's few not for long). */
const settled = (tasks: number) => quietTemporal(10, Math.min(QUIET_TIMEOUT_MS, 1_000 + tasks * 25));

/** A hold as the API sends it: Update-with-Start on the fan's journey, a fresh reservation id. */
function hold(client: Client, input: JourneyInput, seatNumber: number): Promise<unknown> {
  return client.workflow.executeUpdateWithStart(holdUpdate, {
    args: [{ scheduleId: `${input.concertId}-s`, seatNumber, reservationId: randomUUID() }],
    startWorkflowOperation: new WithStartWorkflowOperation('fanJourney', journeyStartOptions(input, BENCH.rawTaskQueue)),
  });
}

/**
 * Ends the floor's journeys still running, so none of their timers (a journey never held checks
 * for a no-show 120 s after its start) fires on a later row's window with no worker to take it.
 */
async function endJourneys(client: Client, inputs: JourneyInput[]): Promise<void> {
  await mapLimit(workflowIds(inputs), CONCURRENCY, (id) => client.workflow.getHandle(id).terminate('the bench floor row is done').catch(() => undefined));
  await settled(inputs.length);
}

const workflowIds = (inputs: JourneyInput[]) => inputs.map((input) => journeyWorkflowId(input.concertId, input.userId, input.arrival));

export const temporalJourneyHold: Scenario = {
  name: 'temporal-journey-hold',
  kind: 'ceiling',
  what: `the journey floor of a hold: the product's journey workflow on no-op activities, Update-with-Start of a hold from a bare client (round-robin, ≤ ${MAX_HOLDS_PER_JOURNEY} holds each), ${CONCURRENCY} clients`,
  usesRawWorker: true,
  async run(ctx: BenchContext) {
    await ctx.stack.rawWorker();
    const client = await ctx.stack.temporal();
    const journeys = await startJourneys(client, ctx.sizes.poolFans);
    const raw = await rawSessions(ctx, 'temporal-update', rawHold);
    const held = new Map<JourneyInput, number>();
    let k = 0;
    let seat = 0;
    const [measured, beside] = await interleavedLoops(
      [
        {
          name: 'temporal-journey-hold',
          next: () => {
            for (let tries = 0; tries < journeys.length; tries++) {
              const journey = journeys[k++ % journeys.length];
              const n = held.get(journey) ?? 0;
              if (n < 0 || n >= MAX_HOLDS_PER_JOURNEY) continue; // one in flight (-1), or full
              held.set(journey, -1);
              return async () => {
                await hold(client, journey, ++seat);
                held.set(journey, n + 1);
                return 'ok';
              };
            }
            return undefined;
          },
          ok: (o) => o === 'ok',
        },
        raw.calls('temporal-update in turns with the floor'),
      ],
      { concurrency: CONCURRENCY, durationS: ctx.durationS, slices: SLICES },
    );
    beside.notes.push(await raw.stop('temporal-update in turns (raw)'));
    measured.notes.push(inTurns(measured.rate, beside.rate, 'temporal-update'));
    const touched = journeys.filter((j) => (held.get(j) ?? 0) > 0);
    measured.notes.push(describeShape('temporal-journey-hold (floor)', await historyShape(client, workflowIds(touched), 'hold')));
    await endJourneys(client, journeys);
    return [measured, beside];
  },
};

/** Journeys wanted per second of window: above the floor's pay rates (the loop stops early if they run out). */
const PAYERS_PER_SECOND = 80;

export const temporalJourneyPay: Scenario = {
  name: 'temporal-journey-pay',
  kind: 'ceiling',
  what: `the journey floor of a payment: the product's journey workflow on no-op activities, a pay update of a journey holding one seat (its saga, the session's end, the close) from a bare client, ${CONCURRENCY} clients`,
  usesRawWorker: true,
  async run(ctx: BenchContext) {
    await ctx.stack.rawWorker();
    const client = await ctx.stack.temporal();
    const journeys = await startJourneys(client, Math.min(ctx.sizes.poolFans, PAYERS_PER_SECOND * ctx.durationS));
    const holds = await mapLimit(journeys, CONCURRENCY, async (journey, i) => ((await hold(client, journey, i + 1)) as { reservationId: string }).reservationId);
    await settled(journeys.length);
    const raw = await rawSessions(ctx, 'temporal-pay', rawPay);
    let i = 0;
    const paid: JourneyInput[] = [];
    const [measured, beside] = await interleavedLoops(
      [
        {
          name: 'temporal-journey-pay',
          next: () => {
            const n = i++;
            if (n >= journeys.length) return undefined;
            return async () => {
              const [workflowId] = workflowIds([journeys[n]]);
              await client.workflow.getHandle(workflowId).executeUpdate(payUpdate, { args: [{ reservationId: holds[n], paymentId: randomUUID() }] });
              paid.push(journeys[n]);
              return 'ok';
            };
          },
          ok: (o) => o === 'ok',
        },
        raw.calls('temporal-pay in turns with the floor'),
      ],
      { concurrency: CONCURRENCY, durationS: ctx.durationS, slices: SLICES },
    );
    beside.notes.push(await raw.stop('temporal-pay in turns (raw)'));
    measured.notes.push(inTurns(measured.rate, beside.rate, 'temporal-pay'));
    if (i > journeys.length) measured.notes.push(`ran out of journeys after ${measured.durationS.toFixed(1)} s`);
    measured.notes.push(describeShape('temporal-journey-pay (floor)', await historyShape(client, workflowIds(paid), 'pay')));
    const paidSet = new Set(paid);
    await endJourneys(client, journeys.filter((j) => !paidSet.has(j)));
    return [measured, beside];
  },
};
