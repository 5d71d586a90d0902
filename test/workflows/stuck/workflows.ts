/**
 * Workflows that never yield, for test/workflows/isolate-guard.test.ts: the worker's deadlock guard
 * must stop the worker with an error that names them instead of leaving their thread stuck.
 */
import { condition, defineSignal, setHandler } from '@temporalio/workflow';

export const go = defineSignal('go');

function spin(): void {
  // Deterministic time stands still inside one activation: this never ends by itself.
  const start = Date.now();
  while (Date.now() === start) {
    /* no yield */
  }
}

/** Spins in its first activation (the SDK's `activate` call). */
export async function spinsAtStart(): Promise<void> {
  spin();
}

/** Spins in the continuation that `go` unblocks: it runs when the SDK's `tryUnblockConditions` call drains its microtasks. */
export async function spinsAfterSignal(): Promise<void> {
  let started = false;
  setHandler(go, () => {
    started = true;
  });
  await condition(() => started);
  spin();
}
