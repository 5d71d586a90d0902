import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { noopJourneyActivities, rawActivities } from './activities';

/** A raw worker, and the connection it polls on (the eager starter starts its workflows on it too). */
export interface RawWorker {
  worker: Worker;
  connection: NativeConnection;
  taskQueue: string;
}

/**
 * A worker of the Temporal ceilings, like the product's but with nothing of the product: the raw
 * workflows (bench/raw/workflows.ts, the product's journey among them) bundled with
 * `bundleWorkflowCode`, no-op activities and default worker options (no interceptors), on
 * TEMPORAL_ADDRESS (default: the bench's server) and BENCH_TASK_QUEUE (default: `defaultTaskQueue`).
 * The SDK logs warnings and errors only.
 */
export async function createRawWorker(defaultTaskQueue: string): Promise<RawWorker> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7433';
  const taskQueue = process.env.BENCH_TASK_QUEUE ?? defaultTaskQueue;
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  // As the product's worker runs (WORKFLOW_STACK_TRACES off, worker/create-worker.ts): no stack
  // captured per workflow promise (patches/@temporalio+worker+1.24.0.patch). With them, the journey
  // floor cost this worker more than the product's worker with its SQL (bench/README.md).
  process.env.OVATION_WORKFLOW_STACK_TRACES = 'off';
  const worker = await Worker.create({ connection, namespace: 'default', taskQueue, workflowBundle: { code }, activities: { ...rawActivities, ...noopJourneyActivities } });
  return { worker, connection, taskQueue };
}
