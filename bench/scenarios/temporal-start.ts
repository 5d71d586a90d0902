import { closedLoop, mapLimit } from '../lib/load';
import type { Scenario } from '../lib/scenario';
import { BENCH } from '../lib/stack';
import { rawEmpty } from '../raw/workflows';

const CONCURRENCY = 10;

/** What admission costs per fan: one workflow start, with its first task (awaited through the result). */
export const temporalStart: Scenario = {
  name: 'temporal-start',
  kind: 'ceiling',
  what: `workflow start + its one workflow task (execute of an empty workflow), ${CONCURRENCY} clients`,
  reference: { rate: 212, label: '≈ 212' },
  usesRawWorker: true,
  async run(ctx) {
    await ctx.stack.rawWorker();
    const client = await ctx.stack.temporal();
    const run = Date.now().toString(36);
    const execute = (id: string) => client.workflow.execute(rawEmpty, { taskQueue: BENCH.rawTaskQueue, workflowId: id });
    await mapLimit(Array.from({ length: 50 }), CONCURRENCY, (_, i) => execute(`raw-empty-warm-${run}-${i}`));
    let i = 0;
    return [
      await closedLoop({
        name: 'temporal-start',
        concurrency: CONCURRENCY,
        durationS: ctx.durationS,
        next: () => {
          const id = `raw-empty-${run}-${i++}`;
          return async () => (await execute(id), 'ok');
        },
        ok: (o) => o === 'ok',
      }),
    ];
  },
};
