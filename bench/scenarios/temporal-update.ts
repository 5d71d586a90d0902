import type { Client, WorkflowHandle } from '@temporalio/client';
import { describeShape, historyShape } from '../lib/history-shape';
import type { UpdateDefinition } from '@temporalio/common';
import { closedLoop, mapLimit, type LoopCalls } from '../lib/load';
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
  const sessions = await rawSessions(ctx, name, update);
  const measured = await closedLoop({ ...sessions.calls(name), concurrency: CONCURRENCY, durationS: ctx.durationS });
  measured.notes.push(await sessions.stop(`${name} (raw)`));
  return [measured];
}

/**
 * The live raw workflows the updates are spread over, round-robin (like holds over many fans'
 * journeys), each warmed by one `update` (its first task, the worker's cache): their calls for a loop,
 * and `stop`, which ends them and describes their histories' shape.
 */
export async function rawSessions(ctx: BenchContext, name: string, update: UpdateDefinition<number, [number]>) {
  await ctx.stack.rawWorker();
  const client: Client = await ctx.stack.temporal();
  const run = Date.now().toString(36);
  const SESSIONS = ctx.sizes.rawSessions;
  const sessions: WorkflowHandle[] = await mapLimit(Array.from({ length: SESSIONS }), CONCURRENCY, (_, i) =>
    client.workflow.start(rawSession, { taskQueue: BENCH.rawTaskQueue, workflowId: `raw-${name}-${run}-${i}` }),
  );
  await mapLimit(sessions, CONCURRENCY, (h, i) => h.executeUpdate(update, { args: [i] }));
  let i = 0;
  return {
    calls: (label: string): LoopCalls => ({
      name: label,
      next: () => {
        const n = i++;
        return async () => ((await sessions[n % SESSIONS].executeUpdate(update, { args: [n] })) === n ? 'ok' : 'wrong answer');
      },
      ok: (o) => o === 'ok',
    }),
    async stop(label: string): Promise<string> {
      await mapLimit(sessions, CONCURRENCY, (h) => h.signal(rawStop));
      return describeShape(label, await historyShape(client, sessions.map((h) => h.workflowId), '*'));
    },
  };
}
