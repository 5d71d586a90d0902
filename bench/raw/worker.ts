/**
 * The ceilings' worker, in its own process like the product's: bench/raw/workflows.ts bundled with
 * `bundleWorkflowCode`, no-op local activities, default worker options. Stops on SIGINT/SIGTERM.
 */
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { rawActivities } from './activities';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7433';
  const taskQueue = process.env.BENCH_TASK_QUEUE ?? 'bench-raw';
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({ connection, namespace: 'default', taskQueue, workflowBundle: { code }, activities: rawActivities });
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  console.error('raw worker failed:', err);
  process.exit(1);
});
