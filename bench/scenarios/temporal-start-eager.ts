import { withCpu } from '../lib/cpu';
import { launch, logOf, stopChild, type Child } from '../lib/proc';
import type { Scenario } from '../lib/scenario';
import { BENCH, TEMPORAL_ADDRESS } from '../lib/stack';
import type { FromEagerStarter, ToEagerStarter } from '../raw/eager-starter';

const CONCURRENCY = 10;

/** The starter's next message of the kind `accept` takes; rejects if it fails, exits or stays silent too long. */
function reply<T>(child: Child, accept: (m: FromEagerStarter) => T | undefined, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (settle: () => void) => {
      clearTimeout(timer);
      child.proc.off('message', onMessage);
      settle();
    };
    const onMessage = (m: FromEagerStarter) => {
      if ('failed' in m) return done(() => reject(new Error(`eager starter: ${m.failed}`)));
      const value = accept(m);
      if (value !== undefined) done(() => resolve(value));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`eager starter: no answer in ${timeoutMs / 1000} s (${logOf('raw-eager-starter')})`))), timeoutMs);
    child.proc.on('message', onMessage);
    void child.exited.then((code) => done(() => reject(new Error(`eager starter exited (${code}); see ${logOf('raw-eager-starter')}`))));
  });
}

/**
 * `temporal-start` with eager workflow start: what admission's journey starts cost now that the
 * product's worker starts them on its own connection (activities/admission.ts), so admission compares
 * like with like. The starter and its worker share one process (bench/raw/eager-starter.ts: the
 * column `aux` holds both), as they do in the product's worker.
 */
export const temporalStartEager: Scenario = {
  name: 'temporal-start-eager',
  kind: 'ceiling',
  what: `temporal-start with requestEagerStart, started from the raw worker's own process and connection (first task handed back in the start's answer), ${CONCURRENCY} clients`,
  async run(ctx) {
    await ctx.stack.temporal();
    const child = launch('raw-eager-starter', 'aux', process.execPath, ['--import', 'tsx', 'bench/raw/eager-starter.ts'], {
      ...process.env,
      TEMPORAL_ADDRESS,
      BENCH_TASK_QUEUE: `${BENCH.rawTaskQueue}-eager`,
    }, { ipc: true });
    try {
      await reply(child, (m) => ('ready' in m ? true : undefined), 180_000);
      const run: ToEagerStarter = { run: { name: 'temporal-start-eager', concurrency: CONCURRENCY, durationS: ctx.durationS, warmup: 50 } };
      const { result, cpu, window } = await withCpu(() => {
        const measured = reply(child, (m) => ('measured' in m ? m.measured : undefined), (ctx.durationS + 120) * 1000);
        child.proc.send(run);
        return measured;
      });
      return [{ ...result, cpu, window }];
    } finally {
      await stopChild(child);
    }
  },
};
