/**
 * The Temporal ceilings' workflows: the product's shapes with the business work taken out.
 * - `rawSession`: a live workflow taking `hold` (one local activity, like the journey's hold) and
 *   `pay` (two normal activities in sequence, like the journey's saga: debit, confirm) updates.
 * - `rawEmpty`: returns at once (a workflow start with its first and only task).
 * - `rawTimer`: one durable timer to an instant shared with many others, then `releases` no-op local
 *   activities side by side and one more, and done: a journey's expiry (its window's timer, a release
 *   per hold, the end of the session) with the business work taken out.
 * - `fanJourney`: the product's own journey (workflows/fan-journey.ts), which this worker runs on
 *   no-op activities (bench/raw/activities.ts): the journey floor rows.
 */
import { condition, defineSignal, defineUpdate, proxyActivities, proxyLocalActivities, setHandler, sleep } from '@temporalio/workflow';
import type { rawActivities } from './activities';

const local = proxyLocalActivities<typeof rawActivities>({ startToCloseTimeout: '5s' });
const normal = proxyActivities<typeof rawActivities>({ startToCloseTimeout: '5s' });

export const rawHold = defineUpdate<number, [number]>('hold');
export const rawPay = defineUpdate<number, [number]>('pay');
export const rawStop = defineSignal('stop');

export async function rawSession(): Promise<void> {
  let stopped = false;
  setHandler(rawHold, async (n) => local.noop(n));
  setHandler(rawPay, async (n) => normal.noop(await normal.noop(n)));
  setHandler(rawStop, () => void (stopped = true));
  await condition(() => stopped);
}

export async function rawEmpty(): Promise<void> {
  // nothing: the cost measured is the start and the one workflow task
}

export async function rawTimer(dueAtMs: number, releases: number): Promise<void> {
  await sleep(Math.max(dueAtMs - Date.now(), 1));
  await Promise.all(Array.from({ length: releases }, (_, i) => local.noop(i)));
  await local.noop(releases);
}

export { fanJourney } from '../../workflows/fan-journey';
