/**
 * The `temporal-start-eager` ceiling's process: the raw empty workflow started with eager workflow
 * start, the way the product's worker starts admitted fans' journeys (activities/admission.ts). An
 * eager start needs the starter and a worker in one process on one NativeConnection, so the loop
 * runs here, not in the bench process: a worker of its own on its own task queue (so every first
 * task is this worker's to take), a client on the worker's connection, and the same closed loop as
 * `temporal-start` (start, then await the result). The bench sends `{ run }` over IPC and gets the
 * measurement back; SIGINT/SIGTERM stop it.
 */
import { Client } from '@temporalio/client';
import { Recorder, type Measurement } from '../lib/stats';
import { createRawWorker } from './raw-worker';
import { rawEmpty } from './workflows';

export interface EagerRun {
  name: string;
  concurrency: number;
  durationS: number;
  /** Executions before the measured window (bundle, caches, JIT), not recorded. */
  warmup: number;
}
export type ToEagerStarter = { run: EagerRun };
export type FromEagerStarter = { ready: true } | { measured: Measurement } | { failed: string };

const send = (message: FromEagerStarter) => process.send!(message);

async function main(): Promise<void> {
  const { worker, connection, taskQueue } = await createRawWorker('bench-raw-eager');
  const client = new Client({ connection, namespace: 'default' });
  const prefix = `raw-eager-${Date.now().toString(36)}`;
  let next = 0;
  let eagerly = 0;

  /** One start with its one task, awaited through the result, as `temporal-start` does. */
  const execute = async (): Promise<void> => {
    const handle = await client.workflow.start(rawEmpty, { taskQueue, workflowId: `${prefix}-${next++}`, requestEagerStart: true });
    if (handle.eagerlyStarted) eagerly++;
    await handle.result();
  };

  const measure = async ({ name, concurrency, durationS, warmup }: EagerRun): Promise<Measurement> => {
    let left = warmup;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await execute();
    }));
    eagerly = 0;
    const recorder = new Recorder();
    const started = performance.now();
    const deadline = started + durationS * 1000;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await execute();
          recorder.record(performance.now() - t0, 'ok', true);
        } catch (err) {
          recorder.record(performance.now() - t0, (err as Error)?.name ?? 'Error', false);
        }
      }
    }));
    const measured = recorder.summary(name, concurrency, (performance.now() - started) / 1000);
    // A start the SDK could not make eager (no free workflow-task slot) is an ordinary one: say how many were.
    measured.notes.push(`${eagerly} of ${recorder.total} starts eager`);
    return measured;
  };

  process.on('message', (message: ToEagerStarter) => {
    measure(message.run).then(
      (measured) => send({ measured }),
      (err) => send({ failed: err instanceof Error ? err.message : String(err) }),
    );
  });
  const running = worker.run();
  send({ ready: true });
  await running;
  await connection.close();
  // The IPC channel would keep the process alive after its worker stopped (SIGTERM).
  process.disconnect();
}

main().catch((err) => {
  console.error('raw eager starter failed:', err);
  process.exit(1);
});
