import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { devServerEnv } from '../support/dev-server';
import { go, spinsAfterSignal, spinsAtStart } from './stuck/workflows';

// The SDK guarded each call into a workflow with a vm timeout: a thread started and joined per call,
// and when it fired, Node aborted the whole process ("async hook stack has become corrupted"). Our
// patch (patches/@temporalio+worker*, threaded-vm.js `watchForStalls`) watches the workflow thread from
// the main thread instead. A workflow that never yields must stop the worker with an error that names
// it, within the guard's 5 s, rather than leave every workflow on that thread waiting forever.
let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundle;
const spinning: WorkflowHandle[] = [];

beforeAll(async () => {
  env = await devServerEnv();
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./stuck/workflows') });
}, 60_000);

afterAll(async () => {
  await Promise.all(spinning.map((handle) => handle.terminate('test over').catch(() => undefined)));
  await env?.teardown();
});

/** A worker of its own (one workflow thread, as the product's) and the promise of its run. */
async function startWorker() {
  const taskQueue = `isolate-guard-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, workflowThreadPoolSize: 1 });
  const running = worker.run();
  return { taskQueue, running };
}

async function expectStopsNaming(running: Promise<void>, handle: WorkflowHandle, startedAt: number) {
  const { runId } = await handle.describe();
  await expect(running).rejects.toThrow(new RegExp(`stuck: no answer for \\d+ s, the oldest request waiting being activate-workflow of run ${runId}`));
  // The guard's 5 s, checked every second, from the moment the thread last answered.
  expect(Date.now() - startedAt).toBeLessThan(15_000);
}

test('a workflow that spins in its first activation stops the worker with an error naming its run', async () => {
  const { taskQueue, running } = await startWorker();
  const startedAt = Date.now();
  const stuck = await env.client.workflow.start(spinsAtStart, { taskQueue, workflowId: `spin-start-${randomUUID()}` });
  spinning.push(stuck);
  await expectStopsNaming(running, stuck, startedAt);
});

test('a workflow that spins where a condition resumes it stops the worker with an error naming its run', async () => {
  const { taskQueue, running } = await startWorker();
  const stuck = await env.client.workflow.start(spinsAfterSignal, { taskQueue, workflowId: `spin-signal-${randomUUID()}` });
  spinning.push(stuck);
  const startedAt = Date.now();
  await stuck.signal(go);
  await expectStopsNaming(running, stuck, startedAt);
});
