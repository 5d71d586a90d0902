import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import workerThreads from 'node:worker_threads';
import pino from 'pino';
import { STUCK_AFTER_SECONDS, watchWorkflowThreads } from '../../worker/workflow-threads';

/**
 * A stand-in for the SDK's workflow thread (the same file name): it enters a V8 context the way the
 * SDK does, with `timeout`, running the script its parent sends, and answers how that went.
 */
const sdkThread = join(mkdtempSync(join(tmpdir(), 'ovation-threads-')), 'workflow-worker-thread.js');
writeFileSync(
  sdkThread,
  `const { parentPort } = require('node:worker_threads');
   const vm = require('node:vm');
   const context = vm.createContext({});
   parentPort.on('message', (code) => {
     try {
       parentPort.postMessage({ result: vm.runInContext(code, context, { timeout: 20 }) });
     } catch (err) {
       parentPort.postMessage({ error: String(err) });
     }
   });`,
);

const answer = (thread: workerThreads.Worker, code: string) =>
  new Promise<{ result?: unknown; error?: string }>((resolve) => {
    thread.once('message', resolve);
    thread.postMessage(code);
  });

const logger = pino({ level: 'silent' });
const busyFor = (ms: number) => `const until = Date.now() + ${ms}; let n = 0; while (Date.now() < until) n++; 'done'`;

describe('workflow threads without a watchdog per call', () => {
  it('the SDK’s thread, as started by default, interrupts a call past its timeout', async () => {
    const thread = new workerThreads.Worker(sdkThread);
    try {
      expect(await answer(thread, busyFor(200))).toEqual({ error: expect.stringMatching(/timed out/) });
    } finally {
      await thread.terminate();
    }
  });

  it('started through the watch, the same call runs to its end, and other threads are started as asked', async () => {
    const watch = watchWorkflowThreads(logger, () => undefined);
    const thread = new workerThreads.Worker(sdkThread);
    try {
      expect(await answer(thread, busyFor(200))).toEqual({ result: 'done' });
      expect(await answer(thread, '6 * 7')).toEqual({ result: 42 });
      const other = new workerThreads.Worker('require("node:worker_threads").parentPort.postMessage("plain")', { eval: true });
      expect(await new Promise((resolve) => other.once('message', resolve))).toBe('plain');
      expect(watch.threads()).toBe(1); // the SDK's, not the other
      await other.terminate();
    } finally {
      watch.stop();
      await thread.terminate();
    }
  });

  it(`a call that never yields is noticed after ${STUCK_AFTER_SECONDS} s, and the worker is told`, async () => {
    let stuckFor = 0;
    const noticed = new Promise<void>((resolve) => {
      const watch = watchWorkflowThreads(logger, (seconds) => {
        stuckFor = seconds;
        watch.stop();
        resolve();
      });
    });
    const thread = new workerThreads.Worker(sdkThread);
    try {
      thread.postMessage('for (;;) {}');
      await noticed;
      expect(stuckFor).toBeGreaterThan(STUCK_AFTER_SECONDS);
    } finally {
      await thread.terminate();
    }
  }, 30_000);
});
