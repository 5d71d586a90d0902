import type { Client, WorkflowHandle } from '@temporalio/client';
import { describeShape, historyShape } from '../lib/history-shape';
import type { UpdateDefinition } from '@temporalio/common';
import { closedLoop, mapLimit } from '../lib/load';
import type { BenchContext, Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import type { Measurement } from '../lib/stats';
import { rawHold, rawSession, rawStop } from '../raw/workflows';

const CONCURRENCY = 10;

/** The journey's hold with the business work taken out: an update running one no-op local activity. */
export const temporalUpdate: Scenario = {
  name: 'temporal-update',
  kind: 'ceiling',
  what: `update running one no-op local activity on a live workflow (the hold shape), ${CONCURRENCY} clients over 200 workflows`,
  reference: { rate: 215, label: '≈ 215' },
  usesRawWorker: true,
  run: (ctx) => rawUpdateLoad(ctx, 'temporal-update', rawHold),
};

/** Starts the live workflows, warms each once, then runs the closed loop of updates. */
export async function rawUpdateLoad(ctx: BenchContext, name: string, update: UpdateDefinition<number, [number]>): Promise<Measurement[]> {
  await ctx.stack.rawWorker();
  const client: Client = await ctx.stack.temporal();
  const run = Date.now().toString(36);
  // Live workflows the updates are spread over, round-robin (like holds over many fans' journeys).
  const SESSIONS = ctx.sizes.rawSessions;
  const sessions: WorkflowHandle[] = await mapLimit(Array.from({ length: SESSIONS }), CONCURRENCY, (_, i) =>
    client.workflow.start(rawSession, { taskQueue: BENCH.rawTaskQueue, workflowId: `raw-${name}-${run}-${i}` }),
  );
  await mapLimit(sessions, CONCURRENCY, (h, i) => h.executeUpdate(update, { args: [i] })); // first task + cache
  let i = 0;
  const measured = await closedLoop({
    name,
    concurrency: CONCURRENCY,
    durationS: ctx.durationS,
    next: () => {
      const n = i++;
      return async () => ((await sessions[n % SESSIONS].executeUpdate(update, { args: [n] })) === n ? 'ok' : 'wrong answer');
    },
    ok: (o) => o === 'ok',
  });
  await mapLimit(sessions, CONCURRENCY, (h) => h.signal(rawStop));
  measured.notes.push(describeShape(`${name} (raw)`, await historyShape(client, sessions.map((h) => h.workflowId), '*')));
  return [measured];
}
