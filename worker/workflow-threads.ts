import workerThreads from 'node:worker_threads';
import type { Logger } from 'pino';

/** How long one call into a workflow may run before the worker counts it as stuck (the SDK's isolate timeout). */
export const STUCK_AFTER_SECONDS = 5;

/**
 * Workflow threads without a watchdog thread per call into a workflow.
 *
 * The SDK runs workflow code in worker threads and enters a workflow's V8 context several times per
 * activation (activate, unblock conditions, conclude), each time with `vm`'s `timeout` option: its
 * deadlock detector. Node enforces every such timeout with a watchdog thread it creates and joins
 * for that one call (nodejs/node#47739): ~40 µs of CPU a call, and on a busy box the workflow thread
 * waits ~200 µs more each time for that thread to be scheduled (bench/README.md has the figures).
 * Every journey's hold, payment and expiry queues behind those waits on the one workflow thread.
 *
 * So each workflow thread here starts through a bootstrap that drops the option and instead marks
 * when the current call began, in memory the main thread shares; the main thread looks once a
 * second, and a call running longer than STUCK_AFTER_SECONDS (workflow code that never yields: a
 * bug) is logged and ends the process, which its supervisor restarts. The SDK's detector failed just
 * that workflow task; this one stops the worker, loudly. Tests create their workers in-process
 * without this (worker/main.ts alone installs it), so a workflow that loops still fails a test with
 * the SDK's deadlock error. WORKFLOW_DEADLOCK_CHECK=per-call keeps the SDK's detector.
 */
export function watchWorkflowThreads(logger: Logger, onStuck: (seconds: number) => void = () => process.exit(1)): { threads(): number; stop(): void } {
  const SdkWorker = workerThreads.Worker;
  const callsStarted: Int32Array[] = [];
  // Call starts are tenths of a second since this moment: small enough for an Int32Array that Atomics can share.
  const baseMs = Date.now();

  class WorkflowThread extends SdkWorker {
    constructor(filename: string | URL, options: workerThreads.WorkerOptions = {}) {
      if (typeof filename !== 'string' || !/workflow-worker-thread\.js$/.test(filename) || options.eval) {
        super(filename, options);
        return;
      }
      const started = new Int32Array(new SharedArrayBuffer(4));
      callsStarted.push(started);
      super(BOOTSTRAP, { ...options, eval: true, workerData: { sdkThread: filename, callStarted: started, baseMs } });
    }
  }
  workerThreads.Worker = WorkflowThread;

  const check = setInterval(() => {
    const now = (Date.now() - baseMs) / 100;
    for (const started of callsStarted) {
      const at = Atomics.load(started, 0);
      const seconds = (now - at) / 10;
      if (at > 0 && seconds > STUCK_AFTER_SECONDS) {
        logger.fatal({ seconds: Math.round(seconds) }, 'a workflow thread is stuck in one call into a workflow (workflow code that never yields); stopping the worker');
        onStuck(seconds);
        return;
      }
    }
  }, 1000);
  check.unref();
  return {
    /** Workflow threads started through the watch (none: the SDK's thread was not recognised, and keeps its watchdog). */
    threads: () => callsStarted.length,
    stop() {
      clearInterval(check);
      workerThreads.Worker = SdkWorker;
    },
  };
}

/**
 * The workflow thread's first code (plain JavaScript: it runs as the thread's script, before the
 * SDK's): calls into a workflow's context run without `timeout`, each marking its start (tenths of
 * a second after `baseMs`, at least 1; 0 = no call running) for the main thread's check; then the SDK's thread.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const vm = require('node:vm');
const { sdkThread, callStarted, baseMs } = workerData;
const runInContext = vm.Script.prototype.runInContext;
let depth = 0;
vm.Script.prototype.runInContext = function (context, options) {
  let untimed = options;
  if (options && options.timeout !== undefined) {
    untimed = Object.assign({}, options);
    delete untimed.timeout;
  }
  if (depth++ === 0) Atomics.store(callStarted, 0, Math.max(1, Math.floor((Date.now() - baseMs) / 100)));
  try {
    return runInContext.call(this, context, untimed);
  } finally {
    if (--depth === 0) Atomics.store(callStarted, 0, 0);
  }
};
require(sdkThread);
`;
