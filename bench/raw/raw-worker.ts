import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { rawActivities } from './activities';

/** A raw worker, and the connection it polls on (the eager starter starts its workflows on it too). */
export interface RawWorker {
  worker: Worker;
  connection: NativeConnection;
  taskQueue: string;
}

/**
 * A worker of the Temporal ceilings, like the product's but with nothing of the product: the raw
 * workflows (bench/raw/workflows.ts) bundled with `bundleWorkflowCode`, no-op local activities and
 * default worker options, on TEMPORAL_ADDRESS (default: the bench's server) and BENCH_TASK_QUEUE
 * (default: `defaultTaskQueue`). The SDK logs warnings and errors only.
 */
export async function createRawWorker(defaultTaskQueue: string): Promise<RawWorker> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7433';
  const taskQueue = process.env.BENCH_TASK_QUEUE ?? defaultTaskQueue;
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({ connection, namespace: 'default', taskQueue, workflowBundle: { code }, activities: rawActivities });
  return { worker, connection, taskQueue };
}
